// bench_http: the SDK's HTTP server (tessera/sdk/http.h, on a plugin EventLoop) next to a
// minimal raw Boost.Beast server (Asio io_context, async_read/async_write) in the same process
// and the same run, and Server-Sent Events fan-out through http::EventBroadcaster.
//
// Request/response: a small JSON GET (about 90 bytes of body) on keep-alive connections, one
// request in flight per connection, at 1, 64 and 1000 connections. One client thread drives
// every connection through epoll and measures each request from its send to the last byte of
// its response. Each server has one thread of its own. Reported: requests/s and the 50th and
// 99th percentile latency, median over --runs runs, the two servers taking turns.
//
// SSE fan-out: --sse-rate events/s (default 10,000, published by a loop timer in bursts every
// 5 ms) to --sse-subscribers raw-socket subscribers (default 100) read by one client thread.
// Reported: deliveries/s, events lost, subscribers dropped, publish-to-client latency (50th,
// 99th percentile, max) and the server thread's CPU time.
//
// Run: BUILD/bench/bench_http [--seconds S] [--runs N] [--connections 1,64,1000]
//                             [--sse-seconds S] [--sse-rate R] [--sse-subscribers N]
// See docs/bench-http.md.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tessera/sdk/http.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = tessera::sdk::http;

// The body both servers build for every request, the way an operator API would.
std::string info_json() {
  boost::json::object info;
  info["name"] = "tessera";
  info["version"] = "0.1.0";
  info["leader"] = "127.0.0.1:5050";
  info["frameworks"] = 3;
  info["agents"] = 12;
  return boost::json::serialize(info);
}

// --- The SDK's server on an EventLoop thread ---

class TesseraServer {
 public:
  TesseraServer() {
    std::promise<uint16_t> ready;
    auto port = ready.get_future();
    thread_ = std::thread([this, &ready] {
      http::ServerOptions options;
      options.max_connections = 4096;
      http::Server server(loop_, {}, options);
      server.route(http::Method::get, "/v2/info", [](const http::Request&) {
        http::Response response(200, info_json(), "application/json");
        return response;
      });
      (void)server.listen("127.0.0.1", 0);
      ready.set_value(server.port());
      loop_.run();
    });
    port_ = port.get();
  }
  ~TesseraServer() {
    loop_.request_stop();
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  tessera::sdk::EventLoop loop_;
  std::thread thread_;
  uint16_t port_ = 0;
};

// --- A minimal raw Beast server: what a hand-written Asio/Beast server does ---

class BeastSession : public std::enable_shared_from_this<BeastSession> {
 public:
  explicit BeastSession(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}
  void read() {
    request_ = {};
    beast::http::async_read(socket_, buffer_, request_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (!ec) self->respond();
                            });
  }

 private:
  void respond() {
    response_ = {};
    response_.version(11);
    response_.result(beast::http::status::ok);
    response_.set(beast::http::field::server, "beast");
    response_.set(beast::http::field::content_type, "application/json");
    response_.keep_alive(request_.keep_alive());
    response_.body() = info_json();
    response_.prepare_payload();
    beast::http::async_write(socket_, response_,
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               if (!ec && self->response_.keep_alive()) self->read();
                             });
  }

  asio::ip::tcp::socket socket_;
  beast::flat_buffer buffer_;
  beast::http::request<beast::http::string_body> request_;
  beast::http::response<beast::http::string_body> response_;
};

class BeastServer {
 public:
  BeastServer() : acceptor_(io_, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~BeastServer() {
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, asio::ip::tcp::socket socket) {
      if (!ec) {
        socket.set_option(asio::ip::tcp::no_delay(true));
        std::make_shared<BeastSession>(std::move(socket))->read();
      }
      accept();
    });
  }

  asio::io_context io_{1};
  asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

// --- The client ---

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// Connects and registers the connection in `epoll_fd` (level-triggered reads) under `key`.
int connect_and_watch(int epoll_fd, uint16_t port, uint64_t key) {
  int fd = connect_to(port);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = key;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
  return fd;
}

double percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  size_t k =
      std::min(values.size() - 1, static_cast<size_t>(p * static_cast<double>(values.size())));
  std::nth_element(values.begin(), values.begin() + static_cast<long>(k), values.end());
  return values[k];
}

struct LoadResult {
  double rate = 0;  // requests/s
  double p50_us = 0;
  double p99_us = 0;
  uint64_t errors = 0;
};

// Keeps one request in flight on each of `connections` connections for warm-up + `seconds`;
// counts only requests sent after the warm-up and answered before the end.
LoadResult run_load(uint16_t port, int connections, double seconds) {
  const std::string request = "GET /v2/info HTTP/1.1\r\nHost: localhost\r\n\r\n";
  struct Connection {
    int fd;
    std::string in;
    Clock::time_point sent;
  };
  std::vector<Connection> conns(static_cast<size_t>(connections));
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  for (size_t i = 0; i < conns.size(); ++i) conns[i].fd = connect_and_watch(epoll_fd, port, i);
  auto send_request = [&](Connection& c) {
    c.sent = Clock::now();
    if (::send(c.fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      std::fprintf(stderr, "short send\n");
      std::exit(1);
    }
  };
  auto start = Clock::now();
  auto measure_from = start + std::chrono::milliseconds(300);
  auto end = measure_from +
             std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (auto& c : conns) send_request(c);
  std::vector<double> latencies;
  latencies.reserve(1 << 20);
  LoadResult result;
  std::vector<epoll_event> events(1024);
  char buffer[65536];
  while (Clock::now() < end) {
    int n = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), 100);
    for (int k = 0; k < n; ++k) {
      Connection& c = conns[events[k].data.u64];
      ssize_t got = ::recv(c.fd, buffer, sizeof buffer, 0);
      if (got <= 0) {
        ++result.errors;
        continue;
      }
      c.in.append(buffer, static_cast<size_t>(got));
      for (;;) {
        size_t head_end = c.in.find("\r\n\r\n");
        if (head_end == std::string::npos) break;
        size_t at = c.in.find("Content-Length: ");
        if (at == std::string::npos || at > head_end) {
          ++result.errors;
          c.in.clear();
          break;
        }
        size_t length = std::strtoul(c.in.c_str() + at + 16, nullptr, 10);
        size_t total = head_end + 4 + length;
        if (c.in.size() < total) break;
        if (c.in.compare(9, 3, "200") != 0) ++result.errors;
        c.in.erase(0, total);
        auto now = Clock::now();
        if (c.sent >= measure_from && now <= end) {
          latencies.push_back(std::chrono::duration<double, std::micro>(now - c.sent).count());
        }
        send_request(c);
      }
    }
  }
  for (auto& c : conns) ::close(c.fd);
  ::close(epoll_fd);
  result.rate = static_cast<double>(latencies.size()) / seconds;
  result.p50_us = percentile(latencies, 0.50);
  result.p99_us = percentile(latencies, 0.99);
  return result;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// --- SSE fan-out ---

struct FanOutResult {
  double deliveries_per_s = 0;
  uint64_t published = 0;
  uint64_t delivered = 0;
  uint64_t lost = 0;
  size_t dropped_subscribers = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  double server_cpu_s = 0;
  double seconds = 0;
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

FanOutResult run_fan_out(int subscribers, double rate, double seconds) {
  tessera::sdk::EventLoop loop;
  std::promise<uint16_t> ready;
  auto port_future = ready.get_future();
  std::atomic<uint64_t> published{0};
  std::atomic<bool> publishing{false};
  std::atomic<bool> finished{false};  // the server saw `publishing` go false and stopped
  std::atomic<double> server_cpu{0};
  std::atomic<double> publish_seconds{0};
  std::atomic<size_t> remaining_subscribers{0};
  std::thread server_thread([&] {
    http::Server server(loop, {});
    http::EventBroadcaster events;
    server.route(http::Method::get, "/events",
                 [&](const http::Request& r) { return events.subscribe(r); });
    (void)server.listen("127.0.0.1", 0);
    ready.set_value(server.port());
    // Publishes in bursts every 5 ms, as many as the rate says are due by now, so the average
    // rate is exact whatever the timer's jitter.
    Clock::time_point started{};
    uint64_t sent = 0;
    timespec cpu_start{};
    loop.every(std::chrono::milliseconds(5), [&] {
      if (!publishing.load()) {
        if (started != Clock::time_point{}) finished.store(true);
        return;
      }
      if (sent == 0 && started == Clock::time_point{}) {
        started = Clock::now();
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_start);
      }
      double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
      auto due = static_cast<uint64_t>(elapsed * rate);
      for (; sent < due; ++sent) {
        char data[96];
        std::snprintf(data, sizeof data,
                      "{\"type\":\"status_update\",\"task\":\"t%llu\",\"ns\":%lld}",
                      static_cast<unsigned long long>(sent), static_cast<long long>(now_ns()));
        // Counted before it is sent: a large burst reaches clients before the loop ends.
        published.store(sent + 1);
        events.publish("status_update", data);
      }
      publish_seconds.store(elapsed);
      remaining_subscribers.store(events.subscribers());
      timespec cpu_now{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_now);
      server_cpu.store(static_cast<double>(cpu_now.tv_sec - cpu_start.tv_sec) +
                       static_cast<double>(cpu_now.tv_nsec - cpu_start.tv_nsec) / 1e9);
    });
    loop.run();
  });
  uint16_t port = port_future.get();

  struct Subscriber {
    int fd;
    std::string in;
    uint64_t next_task = 0;
    uint64_t received = 0;
    uint64_t lost = 0;
    bool subscribed = false;
  };
  std::vector<Subscriber> subs(static_cast<size_t>(subscribers));
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  const std::string request = "GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n";
  for (size_t i = 0; i < subs.size(); ++i) {
    subs[i].fd = connect_and_watch(epoll_fd, port, i);
    (void)::send(subs[i].fd, request.data(), request.size(), MSG_NOSIGNAL);
  }
  std::vector<double> latencies;
  latencies.reserve(static_cast<size_t>(rate * seconds * subscribers * 1.1));
  std::vector<epoll_event> events(1024);
  std::vector<char> buffer(1 << 18);
  size_t subscribed = 0;
  auto end = Clock::now() + std::chrono::seconds(30);
  auto stop_publishing = Clock::time_point::max();
  FanOutResult result;
  while (Clock::now() < end) {
    int n = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), 50);
    for (int k = 0; k < n; ++k) {
      Subscriber& s = subs[events[k].data.u64];
      ssize_t got = ::recv(s.fd, buffer.data(), buffer.size(), 0);
      if (got <= 0) continue;
      s.in.append(buffer.data(), static_cast<size_t>(got));
      size_t pos = 0;
      if (!s.subscribed) {
        size_t ok = s.in.find(":ok\n\n");
        if (ok == std::string::npos) continue;
        pos = s.in.find("\r\n", ok) + 2;  // the end of the ":ok" chunk
        s.subscribed = true;
        if (++subscribed == subs.size()) {
          publishing.store(true);
          stop_publishing = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                               std::chrono::duration<double>(seconds));
          end = stop_publishing + std::chrono::seconds(2);
        }
      }
      // Chunks: "SIZE\r\n" EVENT "\r\n", one event each.
      int64_t arrival = now_ns();
      for (;;) {
        size_t line = s.in.find("\r\n", pos);
        if (line == std::string::npos) break;
        size_t size = std::strtoul(s.in.c_str() + pos, nullptr, 16);
        if (s.in.size() < line + 2 + size + 2) break;
        std::string_view event(s.in.data() + line + 2, size);
        size_t task_at = event.find("\"task\":\"t");
        size_t ns_at = event.find("\"ns\":");
        if (task_at != std::string_view::npos && ns_at != std::string_view::npos) {
          uint64_t task = std::strtoull(event.data() + task_at + 9, nullptr, 10);
          int64_t sent_ns = std::strtoll(event.data() + ns_at + 5, nullptr, 10);
          if (task > s.next_task) s.lost += task - s.next_task;
          s.next_task = task + 1;
          ++s.received;
          latencies.push_back(static_cast<double>(arrival - sent_ns) / 1e6);
        }
        pos = line + 2 + size + 2;
      }
      s.in.erase(0, pos);
    }
    if (Clock::now() >= stop_publishing && publishing.load()) publishing.store(false);
    // After publishing stopped, end as soon as every subscriber has everything.
    if (finished.load()) {
      bool all = true;
      for (auto& s : subs) all = all && s.next_task >= published.load();
      if (all) break;
    }
  }
  result.published = published.load();
  for (auto& s : subs) {
    result.delivered += s.received;
    result.lost += s.lost + (result.published - std::min(result.published, s.next_task));
    ::close(s.fd);
  }
  ::close(epoll_fd);
  result.dropped_subscribers = static_cast<size_t>(subscribers) - remaining_subscribers.load();
  loop.request_stop();
  server_thread.join();
  result.server_cpu_s = server_cpu.load();
  // Over the time the server actually published (its first and last burst), not the client's.
  result.seconds = publish_seconds.load();
  result.deliveries_per_s = static_cast<double>(result.delivered) / result.seconds;
  result.p50_ms = percentile(latencies, 0.50);
  result.p99_ms = percentile(latencies, 0.99);
  result.max_ms = latencies.empty() ? 0 : *std::max_element(latencies.begin(), latencies.end());
  return result;
}

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> values;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    values.push_back(std::stoi(text.substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return values;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2;
  int runs = 3;
  std::vector<int> connection_counts = {1, 64, 1000};
  double sse_seconds = 3;
  double sse_rate = 10000;
  int sse_subscribers = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    std::string value = argv[i + 1];
    if (flag == "--seconds")
      seconds = std::stod(value);
    else if (flag == "--runs")
      runs = std::stoi(value);
    else if (flag == "--connections")
      connection_counts = parse_list(value);
    else if (flag == "--sse-seconds")
      sse_seconds = std::stod(value);
    else if (flag == "--sse-rate")
      sse_rate = std::stod(value);
    else if (flag == "--sse-subscribers")
      sse_subscribers = std::stoi(value);
    else {
      std::fprintf(stderr, "unknown flag '%s'\n", flag.c_str());
      return 2;
    }
  }
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);

  TesseraServer tessera_server;
  BeastServer beast_server;
  std::printf("request/response: %d run(s) of %.1f s per point\n", runs, seconds);
  struct Point {
    std::vector<double> rate[2], p50[2], p99[2];
    uint64_t errors = 0;
  };
  std::vector<Point> points(connection_counts.size());
  for (int run = 0; run < runs; ++run) {
    for (size_t p = 0; p < connection_counts.size(); ++p) {
      // Take turns: which server goes first alternates between runs.
      for (int turn = 0; turn < 2; ++turn) {
        int which = (turn + run) % 2;  // 0 = tessera, 1 = beast
        uint16_t port = which == 0 ? tessera_server.port() : beast_server.port();
        LoadResult r = run_load(port, connection_counts[p], seconds);
        points[p].rate[which].push_back(r.rate);
        points[p].p50[which].push_back(r.p50_us);
        points[p].p99[which].push_back(r.p99_us);
        points[p].errors += r.errors;
        std::printf("  run %d, %4d connections, %-7s %9.0f req/s  p50 %8.1f us  p99 %8.1f us%s\n",
                    run + 1, connection_counts[p], which == 0 ? "tessera" : "beast", r.rate,
                    r.p50_us, r.p99_us, r.errors > 0 ? "  ERRORS" : "");
        std::fflush(stdout);
      }
    }
  }
  std::printf(
      "\n| connections | tessera req/s | beast req/s | beast/tessera rate | tessera p50 us | "
      "beast p50 us | tessera p99 us | beast p99 us | tessera/beast p99 |\n"
      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (size_t p = 0; p < connection_counts.size(); ++p) {
    double tr = median(points[p].rate[0]), br = median(points[p].rate[1]);
    double t50 = median(points[p].p50[0]), b50 = median(points[p].p50[1]);
    double t99 = median(points[p].p99[0]), b99 = median(points[p].p99[1]);
    std::printf("| %d | %.0f | %.0f | %.2fx | %.1f | %.1f | %.1f | %.1f | %.2fx |\n",
                connection_counts[p], tr, br, br / tr, t50, b50, t99, b99, t99 / b99);
  }

  if (sse_seconds > 0) {
    std::printf("\nSSE fan-out: %.0f events/s to %d subscribers for %.1f s\n", sse_rate,
                sse_subscribers, sse_seconds);
    FanOutResult f = run_fan_out(sse_subscribers, sse_rate, sse_seconds);
    std::printf(
        "| published | events/s | delivered | deliveries/s | lost | dropped subscribers | "
        "p50 ms | p99 ms | max ms | server CPU |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    std::printf(
        "| %llu | %.0f | %llu | %.0f | %llu | %zu | %.2f | %.2f | %.2f | %.2f s (%.0f%%) |\n",
        static_cast<unsigned long long>(f.published), static_cast<double>(f.published) / f.seconds,
        static_cast<unsigned long long>(f.delivered), f.deliveries_per_s,
        static_cast<unsigned long long>(f.lost), f.dropped_subscribers, f.p50_ms, f.p99_ms,
        f.max_ms, f.server_cpu_s, 100 * f.server_cpu_s / f.seconds);
  }
  return 0;
}
