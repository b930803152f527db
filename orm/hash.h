/* liborm internal — uthash, configured for the library. Include this, never <uthash.h>.
 *
 * The library's general-purpose hash tables (the statement cache, the registry's index by
 * table name, the metrics middleware's series) are uthash tables (Debian's uthash-dev, header only). This
 * header makes uthash allocate through orm__malloc/orm__free, so the allocation-failure tests
 * reach it, and turns its out-of-memory exit(-1) into a recoverable failure: a HASH_ADD… whose
 * table or bucket allocation fails leaves the table as it was (the item is not added) and sets
 * `hash_oom` to 1. A function that adds must therefore declare `int hash_oom = 0;` before the
 * add and test it after (the macro expands in the caller's scope, as uthash documents for
 * uthash_nonfatal_oom).
 *
 * Two tables stay hand-written, each saying why where it is defined: the local cache's
 * (cache/ctable.h) and the registry's table by descriptor pointer (orm/db.c).
 */
#ifndef ORM_HASH_H
#define ORM_HASH_H

#include "orm/alloc.h"

#ifdef UTHASH_H
#error "orm/hash.h must be included before any other inclusion of uthash.h"
#endif

#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) ((void)(obj), hash_oom = 1)
#define uthash_malloc(sz) orm__malloc(sz)
#define uthash_free(p, sz) ((void)(sz), orm__free(p))

#include <uthash.h>

#endif
