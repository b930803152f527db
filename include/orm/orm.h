/* liborm — C structs persisted in SQLite and PostgreSQL. Include this one header. */
#ifndef ORM_H
#define ORM_H

#define ORM_VERSION_MAJOR 0
#define ORM_VERSION_MINOR 1
#define ORM_VERSION_PATCH 0
#define ORM_VERSION "0.1.0"

#include "orm/export.h"
#include "orm/error.h"
#include "orm/value.h"
#include "orm/model.h"
#include "orm/db.h"
#include "orm/rows.h"
#include "orm/dialect.h"
#include "orm/expr.h"
#include "orm/select.h"
#include "orm/write.h"
#include "orm/crud.h"
#include "orm/tx.h"
#include "orm/ctx.h"
#include "orm/middleware.h"
#include "orm/raw.h"
#include "orm/iter.h"
#include "orm/cache.h"
#include "orm/cache_patterns.h"
#include "orm/row_cache.h"
#include "orm/row_cache_listen.h"
#include "orm/migrate.h"

#endif
