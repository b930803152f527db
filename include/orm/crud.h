/* liborm — one struct at a time: get by key, and insert, update, delete of one struct.
 *
 *     user u = { .name = "ada", .age = 36 };
 *     orm_insert_one(s, NULL, &user_model, &u);        // u.id now holds the new key
 *     u.age = 37;
 *     orm_update_one(s, NULL, &user_model, &u);        // UPDATE ... WHERE id = u.id
 *     user v;
 *     orm_get(s, NULL, &user_model, &v, (orm_value[]){ orm_int(u.id) });
 *     orm_model_clear(&user_model, &v);
 *     orm_delete_one(s, NULL, &user_model, &u);
 *
 * These are the fast paths: their SQL is rendered once per db and model (and field set, for
 * orm_update_fields) and reused, and a row cache (row_cache.h) answers orm_get and
 * orm_get_many. The builders of select.h and write.h do the rest.
 *
 * Errors: ORM_OK or a negative ORM_E… code, the detail in orm_error_last(); a model must be
 * registered with the session's db (orm_db_register). Ownership: structs are the caller's;
 * text and blob members written into `out` are owned by it (orm_model_clear frees them).
 * Thread safety: a session's db is shared by threads; a transaction's session belongs to one
 * thread at a time.
 */
#ifndef ORM_CRUD_H
#define ORM_CRUD_H

#include <stdbool.h>
#include <stddef.h>

#include "orm/db.h"
#include "orm/export.h"
#include "orm/model.h"
#include "orm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Load the row whose primary key is key[0..npk-1] into out (zeroed or cleared first).
 * ORM_ENOTFOUND when there is none. */
ORM_API int orm_get(orm_session *s, orm_ctx *ctx, const orm_model *model, void *out,
                    const orm_value *key);
/* Read the rows of n keys (keys[i * npk ... ] is key i) into out[0..n-1] (an array of n
 * structs, each zeroed or cleared first), found[i] telling whether key i has a row: in key
 * order, duplicates allowed. With a row cache (row_cache.h): hits from the cache, all misses in one
 * `WHERE pk IN (...)` query per chunk of keys that fits the backend's parameter limit (no
 * singleflight: the misses of one call are one query already), filled into the cache as
 * orm_get's are. Without one: the same queries for every key. On error nothing is returned
 * (the structs are cleared). n 0 is ORM_OK. */
ORM_API int orm_get_many(orm_session *s, orm_ctx *ctx, const orm_model *model, void *out,
                         bool *found, const orm_value *keys, size_t n);

/* INSERT every column (ORM_INSERT_ALL); the assigned AUTOINCREMENT key is written back. */
ORM_API int orm_insert_one(orm_session *s, orm_ctx *ctx, const orm_model *model, void *obj);
/* UPDATE every non-key column by key. ORM_ENOTFOUND when no row has that key. */
ORM_API int orm_update_one(orm_session *s, orm_ctx *ctx, const orm_model *model, const void *obj);
/* Update the given fields of the row with obj's key: fields are field indexes (a generated
 * field enum's constants), in any order, no key column. Like orm_update_one its SQL is
 * rendered once per db, model and field set, then reused. ORM_ENOTFOUND when no row has
 * that key; ORM_EINVAL for a key field or no field; ORM_EUNKNOWN_FIELD for an index past
 * the model's fields. */
ORM_API int orm_update_fields(orm_session *s, orm_ctx *ctx, const orm_model *model, const void *obj,
                              const size_t *fields, size_t n);
/* DELETE by key. ORM_ENOTFOUND when no row has that key. */
ORM_API int orm_delete_one(orm_session *s, orm_ctx *ctx, const orm_model *model, const void *obj);

#ifdef __cplusplus
}
#endif
#endif
