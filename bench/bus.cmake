# bench_bus: the message bus (SDK channels over ZeroMQ) next to raw cppzmq on the same sockets:
# request/reply round-trip latency and pub/sub throughput, inproc and tcp, 200 B and 4 KiB.
# Run: BUILD/bench/bench_bus  (prints Google Benchmark output and a markdown summary table).
# See docs/bench-bus.md.
find_package(benchmark REQUIRED)

add_executable(bench_bus ${CMAKE_CURRENT_LIST_DIR}/bench_bus.cpp)
target_link_libraries(bench_bus PRIVATE Tessera::sdk benchmark::benchmark)
