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

struct Answer {
  int status = 0;
  std::string location;  // the Location header, when there is one
  std::string body;
};

// The status, Location and body of a response (Content-Length, or up to the close; chunked
// bodies are joined).
Result<Answer> parse_response(const std::string& raw) {
  size_t end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || end == std::string::npos || raw.size() < 12) {
    return make_error("not an HTTP answer");
  }
  int status = std::atoi(raw.c_str() + 9);
  std::string head = raw.substr(0, end);
  std::string body = raw.substr(end + 4);
  std::string original_head = head;
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string location;
  if (size_t at = head.find("\r\nlocation:"); at != std::string::npos) {
    size_t from = at + std::string("\r\nlocation:").size();
    size_t to = original_head.find("\r\n", from);
    location = original_head.substr(from, to == std::string::npos ? std::string::npos : to - from);
    while (!location.empty() && location.front() == ' ') location.erase(0, 1);
    while (!location.empty() && location.back() == ' ') location.pop_back();
  }
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
  return Answer{status, std::move(location), std::move(body)};
}

// GET http://`authority`/state, before `deadline`. Errors say what failed, without the URL.
Result<Answer> get_state(const std::string& authority, Clock::time_point deadline) {
  auto fail = [](const std::string& why) { return make_error(ErrorCode::kUnavailable, why); };
  size_t colon = authority.rfind(':');
  std::string host = colon == std::string::npos ? authority : authority.substr(0, colon);
  std::string port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
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
  std::string request = "GET /state HTTP/1.1\r\nHost: " + authority +
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
  return parse_response(raw);
}

// HOST:PORT of an http:// URL with nothing or only a path after it; empty when it is not one.
std::string authority_of(const std::string& url) {
  if (url.rfind("http://", 0) != 0) return "";
  std::string rest = url.substr(std::string("http://").size());
  rest = rest.substr(0, rest.find_first_of("/?#"));
  return rest;
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
  auto deadline = Clock::now() + timeout;
  auto response = get_state(rest, deadline);
  if (!response) return fail(response.error().message);
  // A standby master's API redirects to the leader's: followed once, never in a loop.
  if (response->status == 307 || response->status == 308) {
    std::string target = authority_of(response->location);
    if (target.empty()) {
      return fail("HTTP " + std::to_string(response->status) + " to '" + response->location +
                  "', which is not an http:// address");
    }
    response = get_state(target, deadline);
    if (!response) {
      return fail("redirected to '" + target + "': " + response.error().message);
    }
    if (response->status == 307 || response->status == 308) {
      return fail("redirected twice (to '" + target + "', then to '" + response->location +
                  "'); the CLI follows one redirect");
    }
  }
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(response->body, ec);
  const boost::json::value* leader =
      !ec && body.is_object() ? body.as_object().if_contains("leader") : nullptr;
  if (leader == nullptr || !leader->is_string() || leader->as_string().empty()) {
    return fail("HTTP " + std::to_string(response->status) + " without a leader in it");
  }
  return std::string(leader->as_string());
}

}  // namespace tessera::cli
