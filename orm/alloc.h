/* liborm internal — allocation wrappers.
 *
 * Every allocation in the library goes through these, so the tests can fail the Nth one and
 * check that each caller reports ORM_ENOMEM and leaks nothing (as SQLite's test_malloc.c
 * and curl's runtests -t do).
 */
#ifndef ORM_ALLOC_H
#define ORM_ALLOC_H

#include <stddef.h>

void *orm__malloc(size_t n);
void *orm__calloc(size_t count, size_t size);
void *orm__realloc(void *p, size_t n);
char *orm__strdup(const char *s);
char *orm__strndup(const char *s, size_t n); /* copies n bytes (NULs included) and terminates */
void orm__free(void *p);

/* Test hook: make the allocation after the next n succeed-able ones fail (n = 0: the very
 * next one); -1 turns failing off. Returns how many allocations were attempted since the
 * last call (0 on the first: counting starts with it). Per process; not thread-safe to change
 * while other threads allocate. */
long orm__alloc_fail_after(long n);
/* 1 when a failure was injected since the last orm__alloc_fail_after call. */
int orm__alloc_failed(void);

#endif
