# bench_allocator: the allocation core's cycle time on the Mesos DeclineOffers workload, driven
# by direct calls (no messages). Included from bench/CMakeLists.txt; paths are relative to this
# file so it also works when included from elsewhere.
find_package(benchmark REQUIRED)
add_executable(bench_allocator ${CMAKE_CURRENT_LIST_DIR}/bench_allocator.cpp)
target_link_libraries(bench_allocator PRIVATE tessera_drf_policy benchmark::benchmark)
target_compile_options(bench_allocator PRIVATE -Wall -Wextra)
