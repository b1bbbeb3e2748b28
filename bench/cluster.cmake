# bench_cluster: one framework launching 10,000 `true` tasks on a real cluster of tessera-host
# processes (a master and 2 agents on loopback, allocator_drf, isolator_posix): tasks/s from the
# first offer to the last TASK_FINISHED, accept->RUNNING and accept->FINISHED latencies, and a
# bare posix_spawn baseline. A plain program that prints a table (not Google Benchmark).
# Run: BUILD/bench/bench_cluster [--tasks N] [--agents N] [--runs N] [--isolation posix|cgroups|docker].
# See docs/bench-cluster.md and docs/bench-isolation.md.
# Included from bench/CMakeLists.txt; paths are relative to this file.
add_executable(bench_cluster ${CMAKE_CURRENT_LIST_DIR}/bench_cluster.cpp)
# tests/support/process.h (Process, TempDir) is header-only and needs no GoogleTest.
target_include_directories(bench_cluster PRIVATE ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(bench_cluster PRIVATE Tessera::sdk tessera_cgroups tessera_docker_engine)
target_compile_definitions(bench_cluster PRIVATE
  TESSERA_HOST_BIN="$<TARGET_FILE:tessera-host>"
  TESSERA_PLUGIN_DIR="${TESSERA_PLUGIN_OUTPUT_DIR}")
target_compile_options(bench_cluster PRIVATE -Wall -Wextra)
add_dependencies(bench_cluster tessera-host leader_standalone allocator_drf isolator_posix
  isolator_cgroups isolator_docker)
