# cache/: the cache interface, backends and patterns.
set(ORM_CACHE_SOURCES
  cache/cache.c
  cache/ref.c
  cache/policy.c
  cache/local.c
)
