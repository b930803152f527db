/* The recording driver: a third liborm backend, built only against the public driver
 * interface (orm/sys/driver.h), for tests. "record+<name>" wraps the driver registered under
 * <name>: every call is logged and counted, then answered by that driver, so the integration
 * suites run through it by changing only their DSN ("record+sqlite:PATH",
 * "record+postgres://..."). The dialect, the column introspection and the migrator's facts are
 * the wrapped driver's. The change feed (orm_driver_feed) is wrapped like the rest when the
 * wrapped driver has one: each call logged ("feed_start", "feed_install <table>", ...) and
 * counted, then made on the wrapped driver (its connection, its listener); the sink and the
 * db's cell pass through unchanged, so what the wrapped feed reports reaches the row cache
 * as it would without the recorder. A DSN "record+X" goes to the recorder whose wrapped
 * driver accepts X.
 */
#ifndef ORM_TEST_RECORD_H
#define ORM_TEST_RECORD_H

#include <stdint.h>
#include <stdio.h>

#include "orm/sys/driver.h"

/* The calls counted, one per driver entry point. */
typedef enum orm_record_call {
    ORM_RECORD_OPEN, ORM_RECORD_CLOSE, ORM_RECORD_EXEC, ORM_RECORD_QUERY, ORM_RECORD_SCRIPT,
    ORM_RECORD_NEXT, ORM_RECORD_NCOLS, ORM_RECORD_NAME, ORM_RECORD_VALUE, ORM_RECORD_CURSOR_CLOSE,
    ORM_RECORD_MAP_ROW, ORM_RECORD_BEGIN, ORM_RECORD_COMMIT, ORM_RECORD_ROLLBACK,
    ORM_RECORD_POOL_DEFAULTS, ORM_RECORD_ALIVE, ORM_RECORD_RESET,
    /* the change feed's calls */
    ORM_RECORD_FEED_INSTALL, ORM_RECORD_FEED_REMOVE, ORM_RECORD_FEED_START, ORM_RECORD_FEED_STOP,
    ORM_RECORD_FEED_CHECK, ORM_RECORD_FEED_WATCH_CONN, ORM_RECORD_FEED_ROWID_IS,
    ORM_RECORD_NCALLS
} orm_record_call;

/* Register "record+<inner>" for the driver named inner (orm_driver_find). ORM_OK, also when
 * it is registered already; ORM_EINVAL when inner is unknown, or orm_driver_register's error.
 * When the environment names a file in ORM_RECORD_LOG, every call is appended to it as one
 * line ("exec <sql>"). Thread-safe. */
int orm_record_register(const char *inner);

/* How many times call ran, in every recording driver of this process. */
uint64_t orm_record_count(orm_record_call call);

/* Also write every call, one line each, to f (NULL: stop); f is the caller's. */
void orm_record_log_to(FILE *f);

#endif
