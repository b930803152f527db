# orm_generate(TARGET tgt SCHEMA file-or-folder... [OUTPUT base] [PREFIX p] [STRICT]
#              [DIALECT sqlite|postgres])
#
# Runs `ormctl generate` at build time and adds the generated BASE.c to tgt (and BASE.h's
# folder to its include path). SCHEMA paths are relative to the current source folder (and
# are named that way in the generated header comment, so the output does not depend on
# where the tree is checked out); a folder is a migrations folder and every *.sql in it is
# a dependency. OUTPUT (default "models") is relative to the current binary folder.
# The ormctl used: the in-tree target when there is one (also when it is declared after the
# call: inside liborm's own source tree, where cli/ sits next to this file), else
# ORMCTL_EXECUTABLE, else the ormctl installed next to this file's liborm.
set(_ORM_GENERATE_DIR "${CMAKE_CURRENT_LIST_DIR}")
if(EXISTS "${CMAKE_CURRENT_LIST_DIR}/../cli/ormctl.c")
  set(_ORM_GENERATE_IN_TREE TRUE)
endif()

function(orm_generate)
  cmake_parse_arguments(ARG "STRICT" "TARGET;OUTPUT;PREFIX;DIALECT" "SCHEMA" ${ARGN})
  if(NOT ARG_TARGET OR NOT ARG_SCHEMA)
    message(FATAL_ERROR "orm_generate: TARGET and SCHEMA are required")
  endif()
  if(NOT ARG_OUTPUT)
    set(ARG_OUTPUT models)
  endif()
  get_filename_component(base "${ARG_OUTPUT}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
  get_filename_component(outdir "${base}" DIRECTORY)

  if(TARGET ormctl OR _ORM_GENERATE_IN_TREE)
    set(tool $<TARGET_FILE:ormctl>)
    set(tool_dep ormctl)
  elseif(ORMCTL_EXECUTABLE)
    set(tool "${ORMCTL_EXECUTABLE}")
    set(tool_dep "${ORMCTL_EXECUTABLE}")
  else()
    find_program(ORMCTL_EXECUTABLE ormctl HINTS "${_ORM_GENERATE_DIR}/../../../bin" "${_ORM_GENERATE_DIR}/../../../../bin" REQUIRED)
    set(tool "${ORMCTL_EXECUTABLE}")
    set(tool_dep "${ORMCTL_EXECUTABLE}")
  endif()

  set(deps)
  foreach(s IN LISTS ARG_SCHEMA)
    get_filename_component(abs "${s}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    if(IS_DIRECTORY "${abs}")
      file(GLOB sqls CONFIGURE_DEPENDS "${abs}/*.sql")
      list(APPEND deps ${sqls})
    else()
      list(APPEND deps "${abs}")
    endif()
  endforeach()
  set(opts)
  if(ARG_STRICT)
    list(APPEND opts --strict)
  endif()
  if(ARG_PREFIX)
    list(APPEND opts --prefix ${ARG_PREFIX})
  endif()
  if(ARG_DIALECT)
    list(APPEND opts --dialect ${ARG_DIALECT})
  endif()
  add_custom_command(
    OUTPUT "${base}.h" "${base}.c"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${outdir}"
    COMMAND ${tool} generate ${opts} -o "${base}" ${ARG_SCHEMA}
    DEPENDS ${deps} ${tool_dep}
    WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
    COMMENT "ormctl generate ${ARG_OUTPUT} from ${ARG_SCHEMA}"
    VERBATIM)
  target_sources(${ARG_TARGET} PRIVATE "${base}.c" "${base}.h")
  target_include_directories(${ARG_TARGET} PRIVATE "${outdir}")
endfunction()
