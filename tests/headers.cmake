# Header test (as libgit2's tests/headertest): every public header compiles on its own, first,
# as C11 with -Wpedantic -Werror, so no header depends on what was included before it.
file(GLOB ORM_PUBLIC_HEADERS RELATIVE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/include/orm/*.h
     ${PROJECT_SOURCE_DIR}/include/orm/sys/*.h)
set(ORM_HEADERTEST_SOURCES)
foreach(h ${ORM_PUBLIC_HEADERS})
  string(MAKE_C_IDENTIFIER ${h} id)
  set(src ${CMAKE_CURRENT_BINARY_DIR}/headertest/${id}.c)
  file(WRITE ${src}.in "#include <${h}>\n#include <${h}>\nint headertest_${id}(void);\nint headertest_${id}(void) { return 0; }\n")
  configure_file(${src}.in ${src} COPYONLY)
  list(APPEND ORM_HEADERTEST_SOURCES ${src})
endforeach()
add_library(orm_headertest OBJECT ${ORM_HEADERTEST_SOURCES})
target_include_directories(orm_headertest PRIVATE ${PROJECT_SOURCE_DIR}/include)
target_compile_options(orm_headertest PRIVATE -std=c11 -Wall -Wextra -Wpedantic -Werror)
