# Dependencies and build flags shared by every component.

find_package(Threads REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(Boost 1.74 REQUIRED)

# Compile flags every bgate target links PRIVATE.
add_library(bgate_build_flags INTERFACE)
target_compile_features(bgate_build_flags INTERFACE cxx_std_20)
target_compile_options(bgate_build_flags INTERFACE -Wall -Wextra -Wpedantic
                       -Wshadow -Wnon-virtual-dtor)
if(BGATE_WERROR)
  target_compile_options(bgate_build_flags INTERFACE -Werror)
endif()

# Sanitizers must cover every object, so they are set directory-wide.
if(BGATE_SANITIZE)
  add_compile_options(-fsanitize=${BGATE_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${BGATE_SANITIZE})
  # With sanitizers GCC 12 reports maybe-uninitialized false positives inside
  # Boost.Beast and libstdc++ headers (GCC's manual warns that the warning is
  # unreliable under -fsanitize); plain builds keep it as an error.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-maybe-uninitialized)
  endif()
  if(BGATE_SANITIZE MATCHES "undefined")
    # Boost 1.74's error categories are constant-initialised objects that
    # UBSan's vptr check reports as "invalid vptr" when an Asio error code is
    # compared (seen on the EMFILE path of the probe server); the check is
    # off, every other UBSan check stays on.
    add_compile_options(-fno-sanitize=vptr)
  endif()
  if(BGATE_SANITIZE MATCHES "thread")
    # GCC 12 warns that TSan does not model Asio's atomic_thread_fence; the
    # warning is about the tool, not our code.
    add_compile_options(-Wno-error=tsan -Wno-tsan)
  endif()
endif()

# The object-store drivers' module (drivers/CMakeLists.txt): its name, and
# its directory relative to the install prefix and to the build tree alike,
# so that one executable rpath, $ORIGIN/../lib/backup-gate, finds it from
# bin/backup-gate when installed and from build/sidecar/backup-gate.
set(BGATE_OBJECT_STORES_NAME backup-gate-objectstores)
set(BGATE_MODULE_DIR lib/backup-gate)

# Version and revision for --version and backup_gate_build_info.
# A -DBGATE_REVISION=... (image builds without .git) wins over git.
set(BGATE_REVISION "" CACHE STRING "Source revision reported by --version")
find_package(Git QUIET)
if(NOT BGATE_REVISION AND GIT_FOUND AND EXISTS "${PROJECT_SOURCE_DIR}/.git")
  execute_process(
    COMMAND ${GIT_EXECUTABLE} rev-parse --short=12 HEAD
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    OUTPUT_VARIABLE _bgate_rev OUTPUT_STRIP_TRAILING_WHITESPACE
    ERROR_QUIET RESULT_VARIABLE _bgate_rev_rc)
  if(_bgate_rev_rc EQUAL 0 AND _bgate_rev)
    set(_bgate_effective_revision "${_bgate_rev}")
  endif()
elseif(BGATE_REVISION)
  set(_bgate_effective_revision "${BGATE_REVISION}")
endif()
if(NOT _bgate_effective_revision)
  set(_bgate_effective_revision "unknown")
endif()
