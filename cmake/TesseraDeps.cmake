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
