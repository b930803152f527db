# Finds SQLite under either name: CMake < 4 calls the target SQLite::SQLite3, CMake 4
# SQLite3::SQLite3. Defines the interface target orm_sqlite3 pointing at whichever exists.
if(NOT TARGET orm_sqlite3)
  find_package(SQLite3 REQUIRED)
  add_library(orm_sqlite3 INTERFACE IMPORTED)
  if(TARGET SQLite3::SQLite3)
    target_link_libraries(orm_sqlite3 INTERFACE SQLite3::SQLite3)
  else()
    target_link_libraries(orm_sqlite3 INTERFACE SQLite::SQLite3)
  endif()
endif()
