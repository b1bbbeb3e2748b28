#include "http_master.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <memory>

namespace tessera::cli {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxAnswerBytes = size_t{256} << 20;

// Waits until `fd` is ready for `events` or the deadline passes.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

// The body of a response (Content-Length, or up to the close; chunked bodies are joined).
Result<std::pair<int, std::string>> parse_response(const std::string& raw) {
  size_t end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || end == std::string::npos || raw.size() < 12) {
    return make_error("not an HTTP answer");
  }
  int status = std::atoi(raw.c_str() + 9);
  std::string head = raw.substr(0, end);
  std::string body = raw.substr(end + 4);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (head.find("transfer-encoding: chunked") != std::string::npos) {
    std::string joined;
    size_t at = 0;
    for (;;) {
      size_t line = body.find("\r\n", at);
      if (line == std::string::npos) return make_error("a chunked answer ends early");
      size_t size = std::strtoul(body.c_str() + at, nullptr, 16);
      if (size == 0) break;
      if (line + 2 + size > body.size()) return make_error("a chunked answer ends early");
      joined.append(body, line + 2, size);
      at = line + 2 + size + 2;
    }
    body = std::move(joined);
  }
  return std::make_pair(status, std::move(body));
}

}  // namespace

bool is_http_master(const std::string& text) {
  return text.rfind("http://", 0) == 0 && text.find(',') == std::string::npos;
}

Result<std::string> master_from_http(const std::string& url, std::chrono::milliseconds timeout) {
  auto fail = [&](const std::string& why) {
    return make_error(ErrorCode::kUnavailable,
                      "cannot ask '" + url + "/state' for the master's bus endpoint: " + why);
  };
  std::string rest = url.substr(std::string("http://").size());
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos) return fail("give only http://HOST:PORT");
  size_t colon = rest.rfind(':');
  std::string host = colon == std::string::npos ? rest : rest.substr(0, colon);
  std::string port = colon == std::string::npos ? "80" : rest.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return fail(gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(found, freeaddrinfo);
  auto deadline = Clock::now() + timeout;
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(std::strerror(errno));
  std::unique_ptr<int, void (*)(int*)> closer(&fd, [](int* f) { ::close(*f); });
  if (::connect(fd, found->ai_addr, found->ai_addrlen) != 0 && errno != EINPROGRESS) {
    return fail(std::strerror(errno));
  }
  if (!wait_for(fd, POLLOUT, deadline)) return fail("no connection within the timeout");
  int error = 0;
  socklen_t length = sizeof error;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) return fail(std::strerror(error));
  std::string request = "GET /state HTTP/1.1\r\nHost: " + rest +
                        "\r\nAccept: application/json\r\nConnection: close\r\n\r\n";
  size_t sent = 0;
  while (sent < request.size()) {
    if (!wait_for(fd, POLLOUT, deadline)) return fail("no answer within the timeout");
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return fail(std::strerror(errno));
    if (n > 0) sent += static_cast<size_t>(n);
  }
  std::string raw;
  char chunk[65536];
  for (;;) {
    if (!wait_for(fd, POLLIN, deadline)) return fail("no answer within the timeout");
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return fail(std::strerror(errno));
    }
    raw.append(chunk, static_cast<size_t>(n));
    if (raw.size() > kMaxAnswerBytes) return fail("the answer is larger than 256 MiB");
  }
  auto response = parse_response(raw);
  if (!response) return fail(response.error().message);
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(response->second, ec);
  const boost::json::value* leader =
      !ec && body.is_object() ? body.as_object().if_contains("leader") : nullptr;
  if (leader == nullptr || !leader->is_string() || leader->as_string().empty()) {
    return fail("HTTP " + std::to_string(response->first) + " without a leader in it");
  }
  return std::string(leader->as_string());
}

}  // namespace tessera::cli
