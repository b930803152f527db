# orm_libfuzzer_test(NAME <name> SECONDS <s> MAX_LEN <n> SOURCES <files...>
#                    [DEPENDS <files...>] [FLAGS <compiler/linker flags...>] [CORPUS <dir>]
#                    [COMMENT <text>])
# A libFuzzer binary <name>, built by clang with AddressSanitizer and UndefinedBehaviorSanitizer
# whatever compiler builds the rest (so SOURCES must hold all the plain C11 it needs), and a
# test <name> that runs it for SECONDS. New inputs go to the build folder's <name>_corpus;
# CORPUS, when given, is only read. FLAGS go to clang as they are (-D, -I, libraries).
# Without clang: a warning and no test. Each target is also a dependency of `fuzz`, which
# builds them all (cmake --build B --target fuzz), with or without the tests.
find_program(ORM_CLANG NAMES clang clang-18 clang-17 clang-16 clang-15 clang-14)

function(orm_libfuzzer_test)
  cmake_parse_arguments(F "" "NAME;SECONDS;MAX_LEN;CORPUS;COMMENT" "SOURCES;DEPENDS;FLAGS" ${ARGN})
  if(NOT ORM_CLANG)
    message(WARNING "clang not found: the ${F_NAME} test is skipped")
    return()
  endif()
  set(bin ${CMAKE_CURRENT_BINARY_DIR}/${F_NAME})
  add_custom_command(
    OUTPUT ${bin}
    COMMAND ${ORM_CLANG} -std=c11 -g -O1 -pthread -fsanitize=fuzzer,address,undefined
            -fno-sanitize-recover=undefined -fno-omit-frame-pointer -DORM_STATIC_DEFINE
            -I${PROJECT_SOURCE_DIR}/include -I${PROJECT_SOURCE_DIR} ${F_SOURCES} ${F_FLAGS} -lm -o ${bin}
    DEPENDS ${F_SOURCES} ${F_DEPENDS}
    COMMENT "${F_COMMENT}"
    VERBATIM)
  add_custom_target(${F_NAME} ALL DEPENDS ${bin})
  if(NOT TARGET fuzz)
    add_custom_target(fuzz)
  endif()
  add_dependencies(fuzz ${F_NAME})
  add_test(NAME ${F_NAME}
           COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=1
                   ${bin} -max_total_time=${F_SECONDS} -max_len=${F_MAX_LEN} -print_final_stats=1
                   ${CMAKE_CURRENT_BINARY_DIR}/${F_NAME}_corpus ${F_CORPUS})
  set_tests_properties(${F_NAME} PROPERTIES TIMEOUT 300)
  file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/${F_NAME}_corpus)
endfunction()
