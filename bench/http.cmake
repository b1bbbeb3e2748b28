# bench_http: the SDK's HTTP server (on a plugin EventLoop) next to a minimal raw Boost.Beast
# server in the same run: small JSON GET rate and p99 latency at 1, 64 and 1000 keep-alive
# connections; and Server-Sent Events fan-out (10,000 events/s to 100 subscribers). A plain
# program that prints tables. Run: BUILD/bench/bench_http [--seconds S] [--runs N].
# See docs/bench-http.md. Included from bench/CMakeLists.txt; paths are relative to this file.
add_executable(bench_http ${CMAKE_CURRENT_LIST_DIR}/bench_http.cpp)
target_link_libraries(bench_http PRIVATE Tessera::http)
target_compile_options(bench_http PRIVATE -Wall -Wextra)
