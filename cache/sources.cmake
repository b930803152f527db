# cache/: the cache interface, backends and patterns.
set(ORM_CACHE_SOURCES
  cache/cache.c
  cache/ref.c
  cache/policy.c
  cache/ctable.c
  cache/local.c
  cache/local_stripes.c
  cache/local_wheel.c
  cache/local_free.c
  cache/local_new.c
  cache/pool.c
  cache/bloom.c
  cache/loading.c
  cache/write_through.c
  cache/write_back.c
)
# The row cache: where the cache meets models (uses orm/, so not in the cache-only fuzz build).
set(ORM_ROW_CACHE_SOURCES
  cache/row_cache.c
  cache/row_cache_tx.c
  cache/row_cache_sql.c
  cache/row_cache_notify.c
  cache/row_cache_wb.c
  cache/row_cache_shared.c
)
# The model row codec: the cache's, but it needs the model functions (orm/model.c), so it is
# listed apart from what the cache fuzzer builds alone.
set(ORM_CACHE_CODEC_SOURCES
  cache/codec.c
)
# Built with ORM_WITH_REDIS (hiredis).
set(ORM_REDIS_SOURCES
  cache/redis_conn.c
  cache/redis.c
  cache/two_level.c
)
