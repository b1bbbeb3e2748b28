#include "health_checker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

namespace tessera::marathon {

namespace {

// The largest HTTP answer head read before deciding: the status line is all a check needs.
constexpr size_t kMaxResponseBytes = 4096;

// An IPv4 address for `host`: a dotted address as it is, a name through the resolver (the
// hosts file and DNS; this blocks the loop for a name that is slow to resolve).
std::optional<in_addr> resolve(const std::string& host) {
  in_addr address{};
  if (inet_pton(AF_INET, host.c_str(), &address) == 1) return address;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  address = reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr;
  freeaddrinfo(found);
  return address;
}

}  // namespace

HealthChecker::HealthChecker(sdk::EventLoop& loop, sdk::Clock& clock, Scheduler& scheduler,
                             std::string address)
    : clock_(clock), scheduler_(scheduler), address_(std::move(address)), fds_(loop) {}

HealthChecker::~HealthChecker() {
  for (auto& [key, probe] : probes_) {
    fds_.remove(probe.watch);
    if (probe.timeout != 0) clock_.cancel(probe.timeout);
    if (probe.fd >= 0) ::close(probe.fd);
  }
}

void HealthChecker::tick() {
  auto now = clock_.now();
  std::set<Key> live;
  for (const auto& [id, task] : scheduler_.tasks()) {
    const App* app = scheduler_.app(task.app_id);
    if (app == nullptr || !task.running() || task.kill_sent) continue;
    for (size_t index = 0; index < app->health_checks.size(); ++index) {
      const HealthCheck& check = app->health_checks[index];
      if (check.protocol == "COMMAND") continue;
      Key key{id, index};
      live.insert(key);
      if (probes_.count(key) != 0) continue;
      auto due = next_due_.find(key);
      if (due != next_due_.end() && due->second > now) continue;
      next_due_[key] = now + std::chrono::seconds(check.interval_seconds);
      start_probe(key, task, check);
    }
  }
  // Forget the schedules of tasks that are gone.
  for (auto it = next_due_.begin(); it != next_due_.end();) {
    it = live.count(it->first) == 0 && probes_.count(it->first) == 0 ? next_due_.erase(it)
                                                                     : std::next(it);
  }
}

void HealthChecker::start_probe(const Key& key, const Task& task, const HealthCheck& check) {
  uint64_t port = 0;
  if (check.port) {
    port = static_cast<uint64_t>(*check.port);
  } else if (static_cast<size_t>(check.port_index) < task.host_ports.size()) {
    port = task.host_ports[static_cast<size_t>(check.port_index)];
  }
  std::string host = address_.empty() ? task.hostname : address_;
  auto address = resolve(host);
  // Failures found before a probe is under way are judged as any other (report(): ignored
  // within the grace period until a first success), not counted straight away.
  if (port == 0 || port > 65535 || !address) {
    report(key.first, key.second, false,
           port == 0 ? "the task has no port " + std::to_string(check.port_index)
                     : "cannot resolve host '" + host + "'");
    return;
  }
  Probe probe;
  probe.http = check.protocol == "HTTP";
  probe.request = "GET " + check.path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
                  "\r\nUser-Agent: Marathon\r\nConnection: close\r\n\r\n";
  probe.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe.fd < 0) {
    report(key.first, key.second, false, std::string("socket: ") + strerror(errno));
    return;
  }
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_port = htons(static_cast<uint16_t>(port));
  target.sin_addr = *address;
  int rc = ::connect(probe.fd, reinterpret_cast<sockaddr*>(&target), sizeof target);
  if (rc != 0 && errno != EINPROGRESS) {
    std::string cause = std::string("connect: ") + strerror(errno);
    ::close(probe.fd);
    report(key.first, key.second, false, cause);
    return;
  }
  probe.watch = fds_.add(probe.fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP,
                         [this, key](uint32_t events) { on_events(key, events); });
  probe.timeout = clock_.after(std::chrono::seconds(check.timeout_seconds), [this, key] {
    probes_[key].timeout = 0;
    finish(key, false, "timed out");
  });
  probes_[key] = std::move(probe);
}

void HealthChecker::on_events(const Key& key, uint32_t events) {
  auto it = probes_.find(key);
  if (it == probes_.end()) return;
  Probe& probe = it->second;
  if ((events & EPOLLOUT) != 0 && !probe.sent) {
    int error = 0;
    socklen_t size = sizeof error;
    getsockopt(probe.fd, SOL_SOCKET, SO_ERROR, &error, &size);
    if (error != 0) return finish(key, false, std::string("connect: ") + strerror(error));
    if (!probe.http) return finish(key, true, "");
    probe.sent = true;
    if (::send(probe.fd, probe.request.data(), probe.request.size(), MSG_NOSIGNAL) < 0) {
      return finish(key, false, std::string("send: ") + strerror(errno));
    }
  }
  if (!probe.http || !probe.sent) return;
  char buffer[1024];
  while (probe.response.size() < kMaxResponseBytes) {
    ssize_t n = ::recv(probe.fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      probe.response.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    break;  // closed or failed: judge what arrived
  }
  // "HTTP/1.1 200 OK": healthy for 200 to 399, as Marathon's HTTP checks.
  size_t space = probe.response.find(' ');
  if (space == std::string::npos || probe.response.size() < space + 4) {
    if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
      finish(key, false, "the connection closed without an HTTP answer");
    }
    return;
  }
  int status = std::atoi(probe.response.substr(space + 1, 3).c_str());
  if (status >= 200 && status < 400) return finish(key, true, "");
  finish(key, false, "HTTP status " + std::to_string(status));
}

void HealthChecker::finish(const Key& key, bool alive, const std::string& cause) {
  auto it = probes_.find(key);
  if (it == probes_.end()) return;
  Probe probe = std::move(it->second);
  probes_.erase(it);
  fds_.remove(probe.watch);
  if (probe.timeout != 0) clock_.cancel(probe.timeout);
  ::close(probe.fd);
  report(key.first, key.second, alive, cause);
}

void HealthChecker::report(const std::string& task_id, size_t index, bool alive,
                           const std::string& cause) {
  auto task = scheduler_.tasks().find(task_id);
  if (task == scheduler_.tasks().end()) return;
  const App* app = scheduler_.app(task->second.app_id);
  if (app == nullptr || index >= app->health_checks.size()) return;
  // Failures within the grace period count only once the task has passed a check.
  bool passed_before =
      index < task->second.health.size() && !task->second.health[index].first_success.empty();
  auto grace = std::chrono::seconds(app->health_checks[index].grace_period_seconds);
  bool in_grace = task->second.running_since && clock_.now() - *task->second.running_since < grace;
  if (!alive && in_grace && !passed_before) return;
  scheduler_.on_health(task_id, index, alive, cause);
}

}  // namespace tessera::marathon
