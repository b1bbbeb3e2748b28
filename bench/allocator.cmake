# bench_allocator: the allocation core's cycle time on the Mesos DeclineOffers workload, driven
# by direct calls and through the allocator_drf plugin's messages (the plugin loaded by the real
# loader into an in-process host). Included from bench/CMakeLists.txt; paths are relative to this
# file so it also works when included from elsewhere.
find_package(benchmark REQUIRED)
add_executable(bench_allocator ${CMAKE_CURRENT_LIST_DIR}/bench_allocator.cpp)
target_link_libraries(bench_allocator PRIVATE tessera_drf_policy tessera_allocator_service
                                              tessera_host_core benchmark::benchmark)
target_compile_definitions(bench_allocator PRIVATE
  TESSERA_PLUGIN_DIR="${TESSERA_PLUGIN_OUTPUT_DIR}")
target_compile_options(bench_allocator PRIVATE -Wall -Wextra)
add_dependencies(bench_allocator allocator_drf)
