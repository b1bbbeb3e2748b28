# bench_launcher: one task launch through the process launcher library (plugins/process_launcher) (state file, pidfd
# watch, reap of the process group) next to a bare posix_spawn + waitpid of /bin/true.
# Run: BUILD/bench/bench_launcher [--runs N]. See docs/bench-launcher.md.
# Included from bench/CMakeLists.txt; paths are relative to this file.
add_executable(bench_launcher ${CMAKE_CURRENT_LIST_DIR}/bench_launcher.cpp)
target_link_libraries(bench_launcher PRIVATE tessera_process_launcher tessera_cgroups)
target_compile_options(bench_launcher PRIVATE -Wall -Wextra)
