# bench_state: master_http's /state and /tasks at 10k emulated agents and 200k tasks
# (tools/agent_emulator), and the master's CPU during a task burst with /events clients. A plain
# program that prints a table.
# Run: BUILD/bench/bench_state [--agents 10000] [--tasks 200000] [--requests 20]
#      [--burst-rate 1000] [--burst-seconds 5] [--event-clients 10]. See docs/bench-state.md.
# Included from bench/CMakeLists.txt; paths are relative to this file.
if(TARGET tessera-agent-emulator AND TARGET master_http)
  add_executable(bench_state ${CMAKE_CURRENT_LIST_DIR}/bench_state.cpp)
  # tests/support (Process, TempDir, TestFramework) is header-only.
  target_include_directories(bench_state PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  # master_http_core: state_json, to time the former /state path in the same run.
  target_link_libraries(bench_state PRIVATE Tessera::sdk master_http_core)
  target_compile_definitions(bench_state PRIVATE
    TESSERA_HOST_BIN="$<TARGET_FILE:tessera-host>"
    TESSERA_PLUGIN_DIR="${TESSERA_PLUGIN_OUTPUT_DIR}"
    TESSERA_AGENT_EMULATOR_BIN="$<TARGET_FILE:tessera-agent-emulator>")
  add_dependencies(bench_state tessera-host tessera-agent-emulator leader_standalone
    allocator_drf master_http)
endif()
