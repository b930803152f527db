# cache/: the cache interface, backends and patterns.
set(ORM_CACHE_SOURCES
  cache/cache.c
  cache/ref.c
  cache/policy.c
  cache/ctable.c
  cache/local.c
  cache/pool.c
  cache/bloom.c
  cache/loading.c
  cache/write_through.c
  cache/write_back.c
  cache/codec.c
)
# Built with ORM_WITH_REDIS (hiredis).
set(ORM_REDIS_SOURCES
  cache/redis_conn.c
  cache/redis.c
  cache/two_level.c
)
