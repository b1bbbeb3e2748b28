# bench_executor: trivial tasks/s through a framework's own executor against the command
# executor (a process per task), in the same run: a master and one agent as tessera-host
# processes on loopback, the framework in the bench's process. The bench is its own executor
# (started by the agent with TESSERA_EXECUTOR_* in its environment).
# Run: BUILD/bench/bench_executor [--tasks N] [--runs N]. See docs/bench-executor.md.
# Included from bench/CMakeLists.txt; paths are relative to this file.
add_executable(bench_executor ${CMAKE_CURRENT_LIST_DIR}/bench_executor.cpp)
# tests/support/{process,framework}.h are header-only and need no GoogleTest.
target_include_directories(bench_executor PRIVATE ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(bench_executor PRIVATE Tessera::sdk)
target_compile_definitions(bench_executor PRIVATE
  TESSERA_HOST_BIN="$<TARGET_FILE:tessera-host>"
  TESSERA_PLUGIN_DIR="${TESSERA_PLUGIN_OUTPUT_DIR}")
add_dependencies(bench_executor tessera-host leader_standalone allocator_drf isolator_posix)
