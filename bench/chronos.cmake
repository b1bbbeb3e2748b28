# bench_chronos_core: the Chronos scheduler core at 10,000 jobs (due runs at one second, the
# graph exports, search, the job listing and saving state). No cluster: the logic library only.
# Run: BUILD/bench/bench_chronos_core. Results in plugins/framework_chronos/README.md.
find_package(benchmark REQUIRED)
add_executable(bench_chronos_core ${CMAKE_CURRENT_LIST_DIR}/bench_chronos_core.cpp)
target_link_libraries(bench_chronos_core PRIVATE framework_chronos_core benchmark::benchmark)
target_compile_options(bench_chronos_core PRIVATE -Wall -Wextra)

# bench_chronos: the Chronos framework plugin on a real cluster (a master host with the plugin
# and one agent, tessera-host processes on loopback): N jobs due at the same second, time until
# all ran, scheduling delay p50/p99 (due time to TASK_RUNNING), and the REST API's listing,
# search and graph answers at N jobs. A plain program that prints a table.
# Run: BUILD/bench/bench_chronos [--jobs N] [--lead-ms N]. Results in
# plugins/framework_chronos/README.md.
if(TARGET framework_chronos)
  find_package(GTest REQUIRED)
  add_executable(bench_chronos ${CMAKE_CURRENT_LIST_DIR}/bench_chronos.cpp)
  # tests/support (Cluster, TempDir, the raw HTTP client) is header-only; Cluster reports with
  # GoogleTest's AssertionResult, hence GTest::gtest.
  target_include_directories(bench_chronos PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(bench_chronos PRIVATE framework_chronos_core Tessera::http GTest::gtest)
  target_compile_definitions(bench_chronos PRIVATE
    TESSERA_HOST_BIN="$<TARGET_FILE:tessera-host>"
    TESSERA_PLUGIN_DIR="${TESSERA_PLUGIN_OUTPUT_DIR}")
  target_compile_options(bench_chronos PRIVATE -Wall -Wextra)
  add_dependencies(bench_chronos tessera-host framework_chronos leader_standalone allocator_drf
                   isolator_posix)
  # --emulated-agents N runs the tasks on tools/agent_emulator's agents (timers, no processes).
  if(TARGET tessera-agent-emulator)
    target_compile_definitions(bench_chronos PRIVATE
      TESSERA_AGENT_EMULATOR_BIN="$<TARGET_FILE:tessera-agent-emulator>")
    add_dependencies(bench_chronos tessera-agent-emulator)
  endif()
endif()
