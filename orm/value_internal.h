/* liborm internal — a timestamp from whatever a driver read, by the storage conventions of
 * value.h (shared by the mapper and orm_rows_timestamp, so both read the same forms). */
#ifndef ORM_VALUE_INTERNAL_H
#define ORM_VALUE_INTERNAL_H

#include "orm/value.h"

/* A TIMESTAMP as is; an INT as unix seconds; a DOUBLE as a Julian day (to the millisecond);
 * TEXT in any form orm_timestamp_parse reads, or a number a TEXT column's affinity turned into
 * text (digits: unix seconds; with a fraction: a Julian day). Returns ORM_OK, or -1 when v is
 * none of these or out of range (no error set: callers name the column). */
int orm__timestamp_from_value(orm_value v, orm_timestamp *out);

#endif
