# scripts/package/packaging.cmake
#     What a user installs besides the two programs, and the Debian package
#     CPack's DEB generator makes of it (`cpack -G DEB` in a build directory).
#     Included by the top-level CMakeLists.txt after the programs' targets.
#
# Installed (paths under CMAKE_INSTALL_PREFIX; /usr in the package):
#   bin/migrator, bin/indexer                      (their own CMakeLists.txt)
#   share/man/man1/{migrator,indexer}.1.gz         help2man, from --help and --version
#   share/bash-completion/completions/{migrator,indexer}
#                                                  from "PROGRAM --list-options"
#   share/doc/pg-schema-toolkit/                   README.md, docs/*.md, copyright,
#                                                  changelog.Debian.gz, examples/
#
# Man pages need help2man (Debian package help2man), which the default build
# does not require: TOOLKIT_MAN_PAGES=AUTO (the default) builds them when
# help2man is found and says so when it is not; ON makes a missing help2man
# a configure error, as the package build (scripts/test.sh --package) asks.
# The bash completion needs only bash and the programs, and is always built.

set(TOOLKIT_PACKAGE_NAME pg-schema-toolkit)
set(TOOLKIT_PACKAGE_RELEASE 1)
set(TOOLKIT_PACKAGE_VERSION "${PROJECT_VERSION}-${TOOLKIT_PACKAGE_RELEASE}")
set(TOOLKIT_PACKAGE_MAINTAINER "pg-schema-toolkit maintainers <maintainers@pg-schema-toolkit.example>"
  CACHE STRING "The Maintainer field of the Debian package and its changelog: \"Name <address>\"")
# Debian's documentation directory is named after the package, not after project()
set(TOOLKIT_DOCDIR "${CMAKE_INSTALL_DATAROOTDIR}/doc/${TOOLKIT_PACKAGE_NAME}")
set(TOOLKIT_FULL_DOCDIR "${CMAKE_INSTALL_PREFIX}/${TOOLKIT_DOCDIR}")
set(TOOLKIT_GENERATED_DIR "${CMAKE_BINARY_DIR}/generated-docs")
set(TOOLKIT_PACKAGE_SCRIPTS "${CMAKE_SOURCE_DIR}/scripts/package")

set(TOOLKIT_MAN_PAGES AUTO CACHE STRING "Generate the man pages with help2man: AUTO (when help2man is found), ON, OFF")
set_property(CACHE TOOLKIT_MAN_PAGES PROPERTY STRINGS AUTO ON OFF)
set(toolkit_build_man OFF)
if(NOT TOOLKIT_MAN_PAGES STREQUAL "OFF")
  find_program(HELP2MAN_EXECUTABLE help2man)
  if(HELP2MAN_EXECUTABLE)
    set(toolkit_build_man ON)
  elseif(TOOLKIT_MAN_PAGES STREQUAL "ON")
    message(FATAL_ERROR "TOOLKIT_MAN_PAGES=ON needs help2man: apt-get install help2man")
  else()
    message(STATUS "help2man not found: no man pages (apt-get install help2man, or -DTOOLKIT_MAN_PAGES=ON to require it)")
  endif()
endif()

# Per program: its bash completion, and its man page citing the other one.
set(toolkit_generated "")
set(toolkit_programs migrator indexer)
set(toolkit_see_also indexer migrator)
foreach(prog other IN ZIP_LISTS toolkit_programs toolkit_see_also)
  set(completion "${TOOLKIT_GENERATED_DIR}/completions/${prog}")
  add_custom_command(OUTPUT "${completion}"
    COMMAND "${TOOLKIT_PACKAGE_SCRIPTS}/completion.sh" $<TARGET_FILE:${prog}> ${prog} "${completion}"
    DEPENDS ${prog} "${TOOLKIT_PACKAGE_SCRIPTS}/completion.sh"
    COMMENT "Generating the bash completion of ${prog} from its option tables"
    VERBATIM)
  list(APPEND toolkit_generated "${completion}")
  install(FILES "${completion}" DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/bash-completion/completions")
  if(toolkit_build_man)
    set(page "${TOOLKIT_GENERATED_DIR}/man/${prog}.1.gz")
    add_custom_command(OUTPUT "${page}"
      COMMAND "${TOOLKIT_PACKAGE_SCRIPTS}/manpage.sh" $<TARGET_FILE:${prog}> ${prog} ${other}
        "${TOOLKIT_FULL_DOCDIR}" "${page}"
      DEPENDS ${prog} "${TOOLKIT_PACKAGE_SCRIPTS}/manpage.sh"
      COMMENT "Generating ${prog}(1) from ${prog} --help with help2man"
      VERBATIM)
    list(APPEND toolkit_generated "${page}")
    install(FILES "${page}" DESTINATION "${CMAKE_INSTALL_MANDIR}/man1")
  endif()
endforeach()

# The Debian changelog (policy 12.7), compressed as Debian wants (gzip -9n).
# Its date is the configure time, or SOURCE_DATE_EPOCH for a reproducible build.
string(TIMESTAMP TOOLKIT_PACKAGE_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file("${TOOLKIT_PACKAGE_SCRIPTS}/changelog.Debian.in" "${TOOLKIT_GENERATED_DIR}/changelog.Debian" @ONLY)
add_custom_command(OUTPUT "${TOOLKIT_GENERATED_DIR}/changelog.Debian.gz"
  COMMAND sh -c "gzip -9n < \"$0\" > \"$1\"" "${TOOLKIT_GENERATED_DIR}/changelog.Debian"
    "${TOOLKIT_GENERATED_DIR}/changelog.Debian.gz"
  DEPENDS "${TOOLKIT_GENERATED_DIR}/changelog.Debian"
  VERBATIM)
list(APPEND toolkit_generated "${TOOLKIT_GENERATED_DIR}/changelog.Debian.gz")
add_custom_target(generated_docs ALL DEPENDS ${toolkit_generated})

install(FILES README.md docs/ARCHITECTURE.md docs/RELIABILITY.md docs/deployment.md
  "${TOOLKIT_PACKAGE_SCRIPTS}/copyright" "${TOOLKIT_GENERATED_DIR}/changelog.Debian.gz"
  DESTINATION "${TOOLKIT_DOCDIR}")
# the examples: what scripts/demo.sh applies and builds
install(DIRECTORY migrations conf DESTINATION "${TOOLKIT_DOCDIR}/examples")
# lintian's findings that do not apply to a package built outside Debian's archive
install(FILES "${TOOLKIT_PACKAGE_SCRIPTS}/lintian-overrides" DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides"
  RENAME ${TOOLKIT_PACKAGE_NAME})

if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "cpack -G DEB installs to /usr: configure with -DCMAKE_INSTALL_PREFIX=/usr so that the "
    "man pages name the installed paths (now ${CMAKE_INSTALL_PREFIX})")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ${TOOLKIT_PACKAGE_NAME})
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${TOOLKIT_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "safe PostgreSQL schema changes: migrations and online indexes")
# The extended description, wrapped for 80 columns (lintian); CPack indents
# each line and writes an empty one as " ."
string(CONCAT CPACK_PACKAGE_DESCRIPTION
  "Two small programs on one libpq core change the schema of a live\n"
  "PostgreSQL database safely.\n"
  "\n"
  "migrator applies numbered, DDL-only migrations fail-hard: the first\n"
  "failure stops the run, nothing failed is recorded as applied, and the\n"
  "exit code and the last log line say what failed and where. Lock waits\n"
  "are short and bounded; only one run at a time changes a database.\n"
  "\n"
  "indexer builds the indexes defined in a libconfig file with CREATE INDEX\n"
  "CONCURRENTLY, outside any transaction, with retries, and repairs the\n"
  "invalid index that a failed build leaves behind.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_NAME ${TOOLKIT_PACKAGE_NAME})
set(CPACK_DEBIAN_PACKAGE_RELEASE ${TOOLKIT_PACKAGE_RELEASE})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${TOOLKIT_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends: computed from the binaries by dpkg-shlibdeps (libpq5, libconfig9,
# libpg-query, ...), never a hand-kept list
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# libcurl4: --metrics-push loads it with dlopen (common/metrics.h), which
# dpkg-shlibdeps cannot see; without it only the push fails, with a clear error
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql-client, libcurl4")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
include(CPack)
