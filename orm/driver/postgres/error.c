/* liborm — the PostgreSQL driver's one table from SQLSTATE to ORM_E... codes.
 *
 * Keeps true: every failed libpq call the driver sees becomes exactly one orm__error_set_db
 * with the SQLSTATE (when the server sent one), a one-line message naming what failed and,
 * for constraint violations, the constraint and table. A connection that libpq reports as
 * bad is ORM_ECONN whatever the SQLSTATE, so the pool replaces it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orm/error_internal.h"
#include "orm/driver/postgres/pg.h"

/* Exact SQLSTATEs first, then classes (two characters followed by "***"). */
static const struct {
    const char *state;
    int code;
} table[] = {
    { "40001", ORM_ERETRY },     /* serialization_failure */
    { "40P01", ORM_ERETRY },     /* deadlock_detected */
    { "57014", ORM_ECANCELED },  /* query_canceled: ORM_ETIMEOUT for timeouts, see below */
    { "57P01", ORM_ECONN },      /* admin_shutdown (pg_terminate_backend, server stop) */
    { "57P02", ORM_ECONN },      /* crash_shutdown */
    { "57P03", ORM_ECONN },      /* cannot_connect_now (starting up, shutting down) */
    { "53300", ORM_ECONN },      /* too_many_connections */
    { "55P03", ORM_EBUSY },      /* lock_not_available (NOWAIT, lock_timeout) */
    { "22P02", ORM_ETYPE },      /* invalid_text_representation */
    { "22003", ORM_ETYPE },      /* numeric_value_out_of_range */
    { "22001", ORM_ETYPE },      /* string_data_right_truncation */
    { "22007", ORM_ETYPE },      /* invalid_datetime_format */
    { "22008", ORM_ETYPE },      /* datetime_field_overflow */
    { "42804", ORM_ETYPE },      /* datatype_mismatch */
    { "23***", ORM_ECONSTRAINT }, /* integrity_constraint_violation and all its kinds */
    { "08***", ORM_ECONN },      /* connection_exception */
    { "28***", ORM_ECONN },      /* invalid_authorization_specification */
};

static int code_for(const char *state)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const char *t = table[i].state;
        if (t[2] == '*' ? strncmp(t, state, 2) == 0 : strcmp(t, state) == 0)
            return table[i].code;
    }
    return ORM_EDB;
}

/* libpq's messages end with a newline and may span lines: keep the first line. */
static int first_line_len(const char *s)
{
    size_t n = strcspn(s, "\r\n");
    return n > 400 ? 400 : (int)n;
}

int orm__pg_error(PGconn *pg, const PGresult *res, const char *what, int timed_out)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg || !*msg)
        msg = res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res)
                                                 : (pg ? PQerrorMessage(pg) : "no connection");
    if (!*msg)
        msg = "unknown error";
    int code = state && *state ? code_for(state) : ORM_EDB;
    if (!pg || PQstatus(pg) == CONNECTION_BAD)
        code = ORM_ECONN;
    if (state && strcmp(state, "57014") == 0 && (timed_out || strstr(msg, "timeout")))
        code = ORM_ETIMEOUT;
    if (code == ORM_ECONSTRAINT) {
        const char *cons = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
        const char *tab = PQresultErrorField(res, PG_DIAG_TABLE_NAME);
        const char *col = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
        const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        /* NOT NULL has no constraint name: PostgreSQL reports the column instead */
        char where[512];
        if (cons)
            snprintf(where, sizeof where, "constraint \"%s\" on table \"%s\"%s%s%s", cons,
                     tab ? tab : "?", col ? ", column \"" : "", col ? col : "", col ? "\"" : "");
        else if (col)
            snprintf(where, sizeof where, "column \"%s\" of table \"%s\"", col, tab ? tab : "?");
        else
            snprintf(where, sizeof where, "table \"%s\"", tab ? tab : "?");
        orm__error_set_db(code, "postgres", state, 0, "%s: %.*s (%s) %.*s [SQLSTATE %s]",
                          what, first_line_len(msg), msg, where,
                          detail ? first_line_len(detail) : 0, detail ? detail : "", state);
        return code;
    }
    if (timed_out && code != ORM_ECONN)
        code = ORM_ETIMEOUT;
    orm__error_set_db(code, "postgres", state && *state ? state : NULL, 0,
                      "%s: %.*s%s%s%s", what, first_line_len(msg), msg,
                      state && *state ? " [SQLSTATE " : "", state && *state ? state : "",
                      state && *state ? "]" : "");
    const char *pos = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
    if (pos)
        orm__error_set_position(atoi(pos));
    return code;
}
