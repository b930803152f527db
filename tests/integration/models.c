/* Hand-written descriptors for the integration suite's models (see models.h). They are what
 * `ormctl generate` would emit: plain const data built with the ORM_FIELD macros. */
#include <stddef.h>

#include "models.h"

static const orm_field user_fields[] = {
    ORM_FIELD(it_user, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD(it_user, name, ORM_FIELD_TEXT, ORM_FIELD_NOT_NULL | ORM_FIELD_UNIQUE),
    ORM_FIELD(it_user, email, ORM_FIELD_TEXT, 0),
    ORM_FIELD_NULLABLE(it_user, age, ORM_FIELD_INT32, ORM_FIELD_HAS_DEFAULT),
    ORM_FIELD(it_user, score, ORM_FIELD_DOUBLE, ORM_FIELD_NOT_NULL),
    ORM_FIELD(it_user, active, ORM_FIELD_BOOL, ORM_FIELD_NOT_NULL),
    ORM_FIELD_NULLABLE(it_user, created_at, ORM_FIELD_TIMESTAMP, ORM_FIELD_HAS_DEFAULT),
    ORM_FIELD(it_user, avatar, ORM_FIELD_BLOB, 0),
};
static const size_t user_pk[] = { 0 };
const orm_model it_user_model = ORM_MODEL(it_user, "users", user_fields, user_pk);

static const orm_field post_fields[] = {
    ORM_FIELD(it_post, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD(it_post, user_id, ORM_FIELD_INT64, ORM_FIELD_NOT_NULL),
    ORM_FIELD(it_post, title, ORM_FIELD_TEXT, ORM_FIELD_NOT_NULL),
    ORM_FIELD(it_post, views, ORM_FIELD_INT64, ORM_FIELD_NOT_NULL),
};
static const size_t post_pk[] = { 0 };
const orm_model it_post_model = ORM_MODEL(it_post, "posts", post_fields, post_pk);

static const orm_field membership_fields[] = {
    ORM_FIELD(it_membership, org_id, ORM_FIELD_INT32, ORM_FIELD_PK),
    ORM_FIELD(it_membership, user_id, ORM_FIELD_INT64, ORM_FIELD_PK),
    ORM_FIELD(it_membership, role, ORM_FIELD_TEXT, ORM_FIELD_NOT_NULL),
};
static const size_t membership_pk[] = { 0, 1 };
const orm_model it_membership_model =
    ORM_MODEL(it_membership, "memberships", membership_fields, membership_pk);

static const orm_field alltypes_fields[] = {
    ORM_FIELD(it_alltypes, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD_NULLABLE(it_alltypes, i16, ORM_FIELD_INT16, 0),
    ORM_FIELD_NULLABLE(it_alltypes, i32, ORM_FIELD_INT32, 0),
    ORM_FIELD_NULLABLE(it_alltypes, i64, ORM_FIELD_INT64, 0),
    ORM_FIELD_NULLABLE(it_alltypes, d, ORM_FIELD_DOUBLE, 0),
    ORM_FIELD_NULLABLE(it_alltypes, b, ORM_FIELD_BOOL, 0),
    ORM_FIELD(it_alltypes, t, ORM_FIELD_TEXT, 0),
    ORM_FIELD(it_alltypes, bl, ORM_FIELD_BLOB, 0),
    ORM_FIELD_NULLABLE(it_alltypes, ts, ORM_FIELD_TIMESTAMP, 0),
};
static const size_t alltypes_pk[] = { 0 };
const orm_model it_alltypes_model = ORM_MODEL(it_alltypes, "all_types", alltypes_fields, alltypes_pk);

static const orm_field nn_mismatch_fields[] = {
    ORM_FIELD(it_nn_mismatch, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD(it_nn_mismatch, label, ORM_FIELD_TEXT, 0),
    ORM_FIELD(it_nn_mismatch, lifespan, ORM_FIELD_INT32, ORM_FIELD_NOT_NULL),
};
static const size_t nn_mismatch_pk[] = { 0 };
const orm_model it_nn_mismatch_model =
    ORM_MODEL(it_nn_mismatch, "nn_mismatch", nn_mismatch_fields, nn_mismatch_pk);

static const orm_field type_mismatch_fields[] = {
    ORM_FIELD(it_type_mismatch, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD(it_type_mismatch, label, ORM_FIELD_TEXT, 0),
    ORM_FIELD(it_type_mismatch, amount, ORM_FIELD_INT64, ORM_FIELD_NOT_NULL),
};
static const size_t type_mismatch_pk[] = { 0 };
const orm_model it_type_mismatch_model =
    ORM_MODEL(it_type_mismatch, "type_mismatch", type_mismatch_fields, type_mismatch_pk);

int it_models_register(orm_db *db)
{
    const orm_model *all[] = { &it_user_model, &it_post_model, &it_membership_model,
                               &it_alltypes_model, &it_nn_mismatch_model,
                               &it_type_mismatch_model };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        int rc = orm_db_register(db, all[i]);
        if (rc != ORM_OK)
            return rc;
    }
    return ORM_OK;
}
