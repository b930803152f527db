/* End-to-end check of `ormctl generate`: this program is compiled (with -Werror) together
 * with models.c, which ormctl generated at build time from tests/codegen/migrations. That
 * it builds proves the output compiles against liborm's headers; running it checks the
 * descriptors with orm_model_validate and exercises the generated clear/copy helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models.h"

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, #cond, \
                    orm_error_last()->message);                                      \
            return 1;                                                                \
        }                                                                            \
    } while (0)

static char *dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int main(void)
{
    CHECK(MODELS_NMODELS == 3);
    for (size_t i = 0; i < MODELS_NMODELS; i++)
        CHECK(orm_model_validate(models_all[i]) == ORM_OK);

    /* the field enum names columns without strings */
    CHECK(orm_model_field_index(&user_model, "name") == USER_FIELD_NAME);
    CHECK(orm_model_field_index(&user_model, "email_address") == USER_FIELD_EMAIL_ADDRESS);
    CHECK(orm_model_field_index(&user_model, "picture") == USER_FIELD_PICTURE);
    CHECK(user_model.fields[USER_FIELD_ID].flags & ORM_FIELD_AUTOINCREMENT);
    CHECK(tags_model.npk == 2);

    user u;
    memset(&u, 0, sizeof u);
    u.id = 7;
    u.name = dup("ann");
    u.email_address = dup("ann@example.com");
    u.age = 30;
    u.has_age = true;
    u.score = 1.5;
    u.picture.data = dup("\x01\x02");
    u.picture.len = 2;
    CHECK(u.name && u.email_address && u.picture.data);

    user c;
    CHECK(user_copy(&c, &u) == ORM_OK);
    CHECK(c.id == 7 && c.has_age && c.age == 30 && c.score == 1.5);
    CHECK(c.name != u.name && strcmp(c.name, "ann") == 0);
    CHECK(c.picture.data != u.picture.data && c.picture.len == 2);
    user_clear(&u);
    CHECK(u.name == NULL && u.email_address == NULL && u.picture.data == NULL && !u.has_age);
    CHECK(strcmp(c.email_address, "ann@example.com") == 0); /* the copy owns its own bytes */
    user_clear(&c);
    user_clear(NULL);

    tags t;
    memset(&t, 0, sizeof t);
    t.article_id = 1;
    t.tag = dup("c");
    tags t2;
    CHECK(tags_copy(&t2, &t) == ORM_OK && strcmp(t2.tag, "c") == 0);
    tags_clear(&t);
    tags_clear(&t2);
    puts("codegen e2e: ok");
    return 0;
}
