# bench_marathon: framework_marathon on a real cluster (a master host running it and agent
# hosts on loopback): POST to all running for 1 x 500 and 100 x 5 instances, and the answer time
# of GET /v2/apps?embed=apps.tasks with 1,000 apps. Prints a table; see docs/bench-marathon.md.
# Included from bench/CMakeLists.txt; paths are relative to this file.
add_executable(bench_marathon ${CMAKE_CURRENT_LIST_DIR}/bench_marathon.cpp)
target_include_directories(bench_marathon PRIVATE ${PROJECT_SOURCE_DIR}/tests)
# tests/support/cluster.h reports with GoogleTest's AssertionResult.
find_package(GTest REQUIRED)
target_link_libraries(bench_marathon PRIVATE Tessera::http GTest::gtest)
target_compile_definitions(bench_marathon PRIVATE
  TESSERA_HOST_BIN="$<TARGET_FILE:tessera-host>"
  TESSERA_PLUGIN_DIR="${TESSERA_PLUGIN_OUTPUT_DIR}")
target_compile_options(bench_marathon PRIVATE -Wall -Wextra)
add_dependencies(bench_marathon tessera-host leader_standalone allocator_drf isolator_posix
                 framework_marathon)
# --emulated runs the agents in tools/agent_emulator (when it is built).
if(TARGET tessera-agent-emulator)
  target_compile_definitions(bench_marathon PRIVATE
    TESSERA_AGENT_EMULATOR_BIN="$<TARGET_FILE:tessera-agent-emulator>")
  add_dependencies(bench_marathon tessera-agent-emulator)
endif()
