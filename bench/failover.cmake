# bench_failover: master failover with leader_zookeeper at 1k-40k emulated agents
# (tools/agent_emulator): time to election, until every agent re-registered and until the
# framework has offers again, and the masters' RSS. A plain program that prints a table.
# Run: BUILD/bench/bench_failover [--agents 1000,10000] [--tasks-per-agent 10] [--masters 2]
#      [--session-timeout-ms 2000]. See docs/bench-failover.md.
# Included from bench/CMakeLists.txt; paths are relative to this file.
if(TARGET tessera_zookeeper AND TARGET tessera-agent-emulator)
  add_executable(bench_failover ${CMAKE_CURRENT_LIST_DIR}/bench_failover.cpp)
  # tests/support (Process, TempDir, ZooKeeperServers, TestFramework) is header-only.
  target_include_directories(bench_failover PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(bench_failover PRIVATE Tessera::sdk tessera_zookeeper)
  target_compile_definitions(bench_failover PRIVATE
    TESSERA_HOST_BIN="$<TARGET_FILE:tessera-host>"
    TESSERA_PLUGIN_DIR="${TESSERA_PLUGIN_OUTPUT_DIR}"
    TESSERA_AGENT_EMULATOR_BIN="$<TARGET_FILE:tessera-agent-emulator>")
  add_dependencies(bench_failover tessera-host tessera-agent-emulator leader_zookeeper
    allocator_drf)
endif()
