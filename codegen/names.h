/* liborm codegen internal — name indexes (uthash), so lookups by name stay O(1) and
 * `ormctl generate` linear in tables and columns.
 *
 * An index maps a name, without case, to the positions holding it (in position order). It
 * follows an array lazily: orm__cg_index_find first adds the positions [indexed, n) it has not
 * seen; a change that moves or renames entries calls orm__cg_index_reset (the next find
 * rebuilds). Out of memory never fails a lookup: the index is dropped and the caller scans.
 */
#ifndef ORM_CODEGEN_NAMES_H
#define ORM_CODEGEN_NAMES_H

#include <stdbool.h>
#include <stddef.h>

typedef struct orm__cg_name_ent orm__cg_name_ent;

typedef struct orm__cg_index {
    orm__cg_name_ent *head; /* uthash head */
    size_t indexed;         /* positions [0, indexed) are in the index */
} orm__cg_index;

/* The name at position i of the array the index follows. */
typedef const char *(*orm__cg_name_at)(const void *arr, size_t i);

/* The position of name among n: the first exact match, else the only match without case;
 * -1 when none (or several without case and none exact). */
long orm__cg_index_find(orm__cg_index *ix, const void *arr, size_t n, orm__cg_name_at at,
                        const char *name);
/* Forget position n - 1 (the last), whose name is name: the array dropped it. */
void orm__cg_index_pop(orm__cg_index *ix, size_t n, const char *name);
void orm__cg_index_reset(orm__cg_index *ix);

/* A set of names without case (for clash checks). add returns 1 when name was new, 0 when
 * it is there already (*owner gets the owner given when it was added), -1 out of memory. */
typedef struct orm__cg_nameset {
    orm__cg_name_ent *head;
} orm__cg_nameset;
int orm__cg_nameset_add(orm__cg_nameset *set, const char *name, const void *owner, const void **prev);
void orm__cg_nameset_free(orm__cg_nameset *set);

#endif
