# Finds hiredis (Debian: libhiredis-dev) and defines the interface target orm_hiredis. Installed
# beside the package config, so a static liborm's consumers find it the same way.
if(NOT TARGET orm_hiredis)
  find_path(ORM_HIREDIS_INCLUDE_DIR hiredis/hiredis.h)
  find_library(ORM_HIREDIS_LIBRARY hiredis)
  if(NOT ORM_HIREDIS_INCLUDE_DIR OR NOT ORM_HIREDIS_LIBRARY)
    message(FATAL_ERROR "hiredis not found (apt-get install libhiredis-dev), or configure with -DORM_WITH_REDIS=OFF")
  endif()
  add_library(orm_hiredis INTERFACE IMPORTED)
  set_target_properties(orm_hiredis PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${ORM_HIREDIS_INCLUDE_DIR}"
                                               INTERFACE_LINK_LIBRARIES "${ORM_HIREDIS_LIBRARY}")
endif()
