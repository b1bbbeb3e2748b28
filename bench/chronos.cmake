# bench_chronos_core: the Chronos scheduler core at 10,000 jobs (due runs at one second, the
# graph exports, search, the job listing and saving state). No cluster: the logic library only.
# Run: BUILD/bench/bench_chronos_core. Results in plugins/framework_chronos/README.md.
find_package(benchmark REQUIRED)
add_executable(bench_chronos_core ${CMAKE_CURRENT_LIST_DIR}/bench_chronos_core.cpp)
target_link_libraries(bench_chronos_core PRIVATE framework_chronos_core benchmark::benchmark)
target_compile_options(bench_chronos_core PRIVATE -Wall -Wextra)
