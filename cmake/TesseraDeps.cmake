# Third-party dependencies, all from Debian packages (see scripts/setup.sh and the README).
find_package(Threads REQUIRED)
set(Boost_NO_WARN_NEW_VERSIONS ON)
# "1.81.0", not "1.81": Boost's own CMake package then answers (an EXACT "1.81" never matches
# its "1.81.0", and CMake 3.25's FindBoost, used instead, does not know Boost.URL).
find_package(Boost 1.81.0 EXACT REQUIRED COMPONENTS filesystem json url)
find_package(cppzmq REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)

# Debian's libmsgpack-cxx-dev is header-only but depends on the Boost 1.74 development package,
# which conflicts with Boost 1.81; scripts/setup.sh unpacks its headers into /usr/local/include.
find_path(MSGPACK_INCLUDE_DIR msgpack.hpp REQUIRED)
if(NOT TARGET tessera_msgpack)
  add_library(tessera_msgpack INTERFACE)
  target_include_directories(tessera_msgpack SYSTEM INTERFACE ${MSGPACK_INCLUDE_DIR})
  target_compile_definitions(tessera_msgpack INTERFACE MSGPACK_NO_BOOST)
endif()

# jemalloc (Debian's libjemalloc-dev) replaces glibc's malloc in the processes that run the
# cluster: the host links it before libc, so it serves the host and every plugin it loads. Under
# the many small short-lived allocations of messages, JSON and status updates glibc's heap
# fragments (`_int_malloc` was 28% of Chronos's thread at 10,000 due runs); with jemalloc that
# bench's p99 fell from 4.3-4.4 to 2.2-2.8 s (docs/bench-chronos.md). `-DTESSERA_JEMALLOC=OFF`
# keeps glibc.
if(TESSERA_JEMALLOC AND NOT TARGET tessera_malloc)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)
  add_library(tessera_malloc INTERFACE)
  # Nothing calls jemalloc by name: keep it needed even where the linker defaults to --as-needed.
  target_link_libraries(tessera_malloc INTERFACE "-Wl,--push-state,--no-as-needed"
                                                 PkgConfig::JEMALLOC "-Wl,--pop-state")
elseif(NOT TARGET tessera_malloc)
  add_library(tessera_malloc INTERFACE)
endif()
