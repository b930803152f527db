/* The slow-query middleware: the log middleware with a duration threshold and the arguments
 * shown, so a slow statement can be replayed as it ran.
 *
 * What it keeps true: statements under the threshold produce no output (the duration of a
 * cursor statement runs from its open to its free, as in the log).
 */
#include "orm/error_internal.h"
#include "orm/middleware_internal.h"

#define DEFAULT_THRESHOLD_NS (100u * 1000u * 1000u) /* 100 ms */

int orm_slow_middleware(orm_middleware *out, const orm_slow_options *opts)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "middleware", "orm_slow_middleware: out is NULL");
    orm_slow_options defaults = ORM_SLOW_OPTIONS_INIT;
    if (!opts)
        opts = &defaults;
    if (opts->version != ORM_SLOW_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "middleware", "orm_slow_options: unknown version %u",
                              opts->version);
    orm_log_options lo = ORM_LOG_OPTIONS_INIT;
    lo.sink = opts->sink;
    lo.sink_userdata = opts->sink_userdata;
    lo.args = ORM_LOG_ARGS_SHOW;
    lo.min_duration_ns = opts->threshold_ns ? opts->threshold_ns : DEFAULT_THRESHOLD_NS;
    int rc = orm_log_middleware(out, &lo);
    if (rc == ORM_OK)
        out->name = "slow";
    return rc;
}
