# cache/: the cache interface, backends and patterns.
set(ORM_CACHE_SOURCES
)
