/* Hand-written models of the integration suite: the structs and their descriptors.
 * The tables they map are created by schema.c, per backend. */
#ifndef ORM_IT_MODELS_H
#define ORM_IT_MODELS_H

#include <stdbool.h>
#include <stdint.h>

#include "orm/orm.h"

/* users: the everyday model, one field of most kinds. age and created_at have database
 * defaults (18, now) so SET_ONLY inserts and RETURNING can be observed. */
typedef struct it_user {
    int64_t id;            /* pk, autoincrement */
    char *name;            /* not null, unique */
    char *email;           /* nullable */
    int32_t age;           /* nullable, default 18 */
    bool has_age;
    double score;          /* not null */
    bool active;           /* not null */
    orm_timestamp created_at; /* nullable, default now */
    bool has_created_at;
    orm_blob avatar;       /* nullable */
} it_user;

typedef struct it_post {
    int64_t id;
    int64_t user_id;       /* references users(id) */
    char *title;
    int64_t views;
} it_post;

/* Composite primary key (org_id, user_id). */
typedef struct it_membership {
    int32_t org_id;
    int64_t user_id;
    char *role;
} it_membership;

/* One nullable member of every type. */
typedef struct it_alltypes {
    int64_t id;
    int16_t i16;
    bool has_i16;
    int32_t i32;
    bool has_i32;
    int64_t i64;
    bool has_i64;
    double d;
    bool has_d;
    bool b;
    bool has_b;
    char *t;
    orm_blob bl;
    orm_timestamp ts;
    bool has_ts;
} it_alltypes;

/* The mismatch models are written through their "label" column only, so the table's default
 * fills the mismatching column.
 * Model mismatch: the column "lifespan" is nullable in the table (default NULL) while the
 * model holds it in a plain int32 without has_lifespan. */
typedef struct it_nn_mismatch {
    int64_t id;
    char *label;
    int32_t lifespan;
} it_nn_mismatch;

/* Type mismatch: the column "amount" is text in the table (default 'not a number') while the
 * model says int64. */
typedef struct it_type_mismatch {
    int64_t id;
    char *label;
    int64_t amount;
} it_type_mismatch;

extern const orm_model it_user_model;
extern const orm_model it_post_model;
extern const orm_model it_membership_model;
extern const orm_model it_alltypes_model;
extern const orm_model it_nn_mismatch_model;
extern const orm_model it_type_mismatch_model;

/* Register every model above with db (ORM_OK or the first error). */
int it_models_register(orm_db *db);

#endif
