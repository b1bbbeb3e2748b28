// Support for the HTTP server tests: a server running on its own EventLoop thread (as in a
// plugin), a raw blocking client socket, curl as a real client, and a log sink to read.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/process.h"
#include "tessera/sdk/http.h"

namespace tessera::testing::http {

namespace sdk_http = tessera::sdk::http;
using Clock = std::chrono::steady_clock;

// Collects what the server logs, from any thread.
class LogLines {
 public:
  static void sink(void* context, int, const char* text, size_t size) {
    auto* self = static_cast<LogLines*>(context);
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->lines_.emplace_back(text, size);
  }
  sdk::Logger logger() { return sdk::Logger(this, &LogLines::sink, TESSERA_LOG_DEBUG); }
  bool contains(const std::string& text) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& line : lines_) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }
  std::string all() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out;
    for (const auto& line : lines_) out += line + "\n";
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

// Waits for `condition` with a generous deadline (the machine may be loaded).
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

// A Server on its own loop thread, set up by `setup` on that thread, listening on a free port of
// 127.0.0.1. run() executes code on the loop thread and returns its result.
class ServerThread {
 public:
  using Setup = std::function<void(sdk::EventLoop&, sdk_http::Server&)>;

  // Listens on `host` (a numeric address) and a free port.
  explicit ServerThread(Setup setup, sdk_http::ServerOptions options = {},
                        std::string host = "127.0.0.1") {
    std::promise<std::string> ready;
    auto started = ready.get_future();
    thread_ = std::thread([this, setup = std::move(setup), options, host, &ready] {
      loop_thread_ = std::this_thread::get_id();
      server_ = std::make_unique<sdk_http::Server>(loop_, log_.logger(), options);
      setup(loop_, *server_);
      auto address = server_->listen(host, 0);
      ready.set_value(address ? *address : "error: " + address.error().message);
      loop_.run();
      server_.reset();
    });
    address_ = started.get();
    if (address_.rfind("error", 0) == 0) throw std::runtime_error(address_);
    port_ = static_cast<uint16_t>(std::stoi(address_.substr(address_.rfind(':') + 1)));
  }
  ~ServerThread() {
    loop_.request_stop();
    thread_.join();
  }
  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;

  template <typename Fn>
  auto run(Fn fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    loop_.post([&task] { task(); });
    return result.get();
  }

  // Destroys what the loop thread uses (a broadcaster, say) on that thread.
  template <typename T>
  void destroy(std::unique_ptr<T>& owned) {
    run([&] {
      owned.reset();
      return 0;
    });
  }

  sdk_http::ServerStats stats() {
    return run([this] { return server_->stats(); });
  }
  // CPU time the loop thread has used so far.
  std::chrono::nanoseconds loop_cpu_time() {
    clockid_t clock;
    pthread_getcpuclockid(thread_.native_handle(), &clock);
    timespec used{};
    clock_gettime(clock, &used);
    return std::chrono::seconds(used.tv_sec) + std::chrono::nanoseconds(used.tv_nsec);
  }
  uint16_t port() const { return port_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::thread::id loop_thread() const { return loop_thread_; }
  LogLines& log() { return log_; }
  sdk::EventLoop& loop() { return loop_; }

 private:
  LogLines log_;
  sdk::EventLoop loop_;
  std::unique_ptr<sdk_http::Server> server_;
  std::thread thread_;
  std::thread::id loop_thread_;
  std::string address_;
  uint16_t port_ = 0;
};

struct Reply {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;  // de-chunked
  bool chunked = false;
  bool closes = false;  // "Connection: close"

  std::string header(const std::string& name) const {
    std::string lower_head = lower(head);
    std::string key = "\r\n" + lower(name) + ":";
    size_t at = lower_head.find(key);
    if (at == std::string::npos) return "";
    size_t start = at + key.size();
    size_t end = head.find("\r\n", start);
    std::string value = head.substr(start, end - start);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    return value;
  }
  static std::string lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  }
};

// A blocking client socket with a receive timeout, for speaking HTTP by hand.
class RawClient {
 public:
  // `receive_buffer` (bytes, 0: the system's) is set before connecting, so that the window the
  // client advertises is small from the start.
  explicit RawClient(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(20),
                     int receive_buffer = 0)
      : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) throw std::runtime_error("socket failed");
    if (receive_buffer > 0) {
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error(std::string("connect failed: ") + strerror(errno));
    }
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }

  bool send(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads more bytes into the buffer; false on EOF, error or timeout.
  bool fill() {
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  // Reads until the buffer contains `text` at or after `from`; false if the connection ends
  // first. Only what each read added is searched again, so a long stream is not rescanned.
  bool read_until(const std::string& text, size_t from = 0) {
    while (buffer_.find(text, from) == std::string::npos) {
      from = std::max(from, buffer_.size() > text.size() ? buffer_.size() - text.size() : 0);
      if (!fill()) return false;
    }
    return true;
  }

  // Reads until the server closes the connection (or the timeout); true on a clean EOF.
  bool read_to_eof() {
    char chunk[16384];
    for (;;) {
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n == 0) return true;
      if (n < 0) return false;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  // Reads one response (Content-Length, chunked, or to EOF). nullopt if none arrives whole.
  std::optional<Reply> read_reply() {
    if (!read_until("\r\n\r\n")) return std::nullopt;
    Reply reply;
    size_t end = buffer_.find("\r\n\r\n");
    reply.head = buffer_.substr(0, end + 2);
    buffer_.erase(0, end + 4);
    if (reply.head.size() < 12) return std::nullopt;
    reply.status = std::stoi(reply.head.substr(9, 3));
    reply.closes = Reply::lower(reply.header("Connection")) == "close";
    if (Reply::lower(reply.header("Transfer-Encoding")) == "chunked") {
      reply.chunked = true;
      for (;;) {
        if (!read_until("\r\n")) return std::nullopt;
        size_t line = buffer_.find("\r\n");
        size_t size = std::stoul(buffer_.substr(0, line), nullptr, 16);
        while (buffer_.size() < line + 2 + size + 2) {
          if (!fill()) return std::nullopt;
        }
        reply.body += buffer_.substr(line + 2, size);
        buffer_.erase(0, line + 2 + size + 2);
        if (size == 0) break;
      }
    } else if (!reply.header("Content-Length").empty()) {
      size_t length = std::stoul(reply.header("Content-Length"));
      while (buffer_.size() < length) {
        if (!fill()) return std::nullopt;
      }
      reply.body = buffer_.substr(0, length);
      buffer_.erase(0, length);
    } else if (reply.status != 204 && reply.status != 304 && reply.status / 100 != 1) {
      read_to_eof();
      reply.body = buffer_;
      buffer_.clear();
    }
    return reply;
  }

  std::string& buffer() { return buffer_; }

 private:
  int fd_;
  std::string buffer_;
};

inline std::string get_request(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extra + "\r\n";
}

// Runs curl against the server: returns the HTTP status (0 if curl failed) and the body.
struct CurlResult {
  int status = 0;
  std::string body;
  std::string output;  // what curl printed (the -w text and any error)
};
inline CurlResult curl(const tessera::testing::TempDir& dir, std::vector<std::string> args) {
  static std::atomic<int> counter{0};
  int n = ++counter;
  auto body_file = dir / ("curl-body-" + std::to_string(n));
  std::vector<std::string> argv = {"/usr/bin/curl", "-sS", "--max-time",  "60", "-o",
                                   body_file,       "-w",  "%{http_code}"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto [code, output] = tessera::testing::run(argv, dir / ("curl-log-" + std::to_string(n)));
  CurlResult result;
  result.output = output;
  result.body = tessera::testing::read_file(body_file);
  if (code == 0 && output.size() >= 3) result.status = std::stoi(output.substr(output.size() - 3));
  return result;
}

}  // namespace tessera::testing::http
