// EventLoop: the single thread that owns a plugin's sockets and state.
//
// A plugin registers its sockets and timers on its loop, and the loop calls the handlers one
// at a time on the loop's thread, so plugin code needs no locks (the actor model of
// libprocess). Two calls are safe from any thread: request_stop() and post(); both wake the loop
// through an eventfd, so no ZeroMQ socket is ever touched from a second thread.
//
// Lifetime: the loop must outlive every Socket registered on it; handlers run only inside
// run(). Sockets are created and used on the loop's thread (in the plugin's start()).
#pragma once

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>
#include <zmq.hpp>

namespace tessera::sdk {

// An owned ZeroMQ socket opened on a context handed over as `void*` (cppzmq's socket_t only
// opens on its own context_t). Use ref() for cppzmq's send/recv/set/get. Lives on one thread.
class Socket {
 public:
  Socket() = default;
  Socket(void* context, int type) : handle_(zmq_socket(context, type)) {
    if (handle_ == nullptr) throw zmq::error_t();
    ref().set(zmq::sockopt::linger, 0);
  }
  Socket(Socket&& other) noexcept : handle_(other.handle_) { other.handle_ = nullptr; }
  Socket& operator=(Socket&& other) noexcept {
    if (this != &other) {
      close();
      handle_ = other.handle_;
      other.handle_ = nullptr;
    }
    return *this;
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { close(); }

  void close() {
    if (handle_ != nullptr) zmq_close(handle_);
    handle_ = nullptr;
  }
  zmq::socket_ref ref() { return zmq::socket_ref(zmq::from_handle, handle_); }
  void* handle() const { return handle_; }
  explicit operator bool() const { return handle_ != nullptr; }

 private:
  void* handle_ = nullptr;
};

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using TimerId = uint64_t;

  EventLoop() : wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
  }
  ~EventLoop() { ::close(wake_fd_); }
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Calls `on_readable` while `socket` has a message. Each call should receive at most one
  // message (more is allowed, but every receive that finds nothing costs a system call); the
  // loop calls again while messages remain, taking turns with the other sockets.
  void watch(Socket& socket, std::function<void()> on_readable) {
    watches_.push_back(Watch{socket.handle(), -1, std::move(on_readable), {}});
    changed();
  }
  // The most messages of one socket handled in a row before the loop looks at the others
  // (watch_messages).
  static constexpr int kMessagesPerTurn = 16;
  // As watch(), for a handler that receives at most one message a call, without waiting, and
  // returns whether it received one. While the socket holds messages the loop calls it up to
  // kMessagesPerTurn times in a row (until it returns false) before taking turns with the other
  // sockets. Asking libzmq whether a socket holds a message (ZMQ_EVENTS) makes it look at the
  // socket's command mailbox, two system calls (getpid and poll) when nothing is there, for every
  // socket of the loop on every turn; receiving a message that is queued makes none. So a burst
  // costs those checks once per batch rather than once per message.
  void watch_messages(Socket& socket, std::function<bool()> take_one) {
    watches_.push_back(Watch{socket.handle(), -1, {}, std::move(take_one)});
    changed();
  }
  // Calls `on_readable` whenever the file descriptor is readable.
  void watch_fd(int fd, std::function<void()> on_readable) {
    watches_.push_back(Watch{nullptr, fd, std::move(on_readable), {}});
    changed();
  }
  void unwatch(Socket& socket) {
    void* h = socket.handle();
    watches_.erase(std::remove_if(watches_.begin(), watches_.end(),
                                  [h](const Watch& w) { return w.socket == h; }),
                   watches_.end());
    changed();
  }

  TimerId after(std::chrono::milliseconds delay, std::function<void()> fn) {
    return add_timer(delay, std::chrono::milliseconds(0), std::move(fn));
  }
  TimerId every(std::chrono::milliseconds period, std::function<void()> fn) {
    return add_timer(period, period, std::move(fn));
  }
  void cancel(TimerId id) {
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    schedule_.erase({it->second.due, id});
    timers_.erase(it);
  }

  // Calls `fn` once whenever the loop is about to wait after having had work (a burst of
  // messages, timers or posted work has been handled): the place to do what is cheaper for a
  // whole burst than per message, such as making writes durable with one flush.
  void on_idle(std::function<void()> fn) { idle_ = std::move(fn); }

  // Runs `fn` on the loop's thread. Safe from any thread.
  void post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(posted_mutex_);
      posted_.push_back(std::move(fn));
      has_posted_.store(true, std::memory_order_release);
    }
    wake();
  }

  // Makes run() return after the handler in progress. Safe from any thread, any time.
  void request_stop() {
    stop_.store(true, std::memory_order_release);
    wake();
  }
  bool stopping() const { return stop_.load(std::memory_order_acquire); }
  // Lets run() be called again after it returned (for drivers that run the loop in steps).
  void reset_stop() { stop_.store(false, std::memory_order_release); }

  // Serves sockets, timers and posted work until request_stop(). Exceptions thrown by
  // handlers propagate to the caller (the SDK's run() entry point reports them).
  //
  // How it waits: ZeroMQ sockets are served while ZMQ_EVENTS says they hold a message; only
  // when none does, the loop blocks in one poll() on every socket's ZMQ_FD, the raw file
  // descriptors and its eventfd. ZMQ_FD only signals that the socket's state may have changed
  // (it is edge-like, and any send can consume it), so ZMQ_EVENTS is always checked after
  // waking, and after any handler, timer or posted work has run, before blocking again. Each
  // check costs two system calls when the socket's mailbox is empty, where zmq_poll would cost
  // more; watch_messages() makes it once per batch of messages rather than once per message.
  void run() {
    bool had_work = true;
    while (!stopping()) {
      bool served = serve_ready_sockets();
      if (stopping()) break;
      if (has_posted_.load(std::memory_order_acquire)) {
        run_posted();
        served = true;
      }
      // Posted work and timers may have sent on (or opened) sockets, and a send can consume the
      // ZMQ_FD signal of a reply that arrives next: look at ZMQ_EVENTS once more before
      // blocking, as for the handlers of serve_ready_sockets().
      if (!schedule_.empty() && run_due_timers()) served = true;
      if (served) {
        had_work = true;
        // Raw descriptors (an HTTP server's connections) are otherwise served only when no
        // ZeroMQ socket holds a message: a steady stream of messages (a burst of master events)
        // would keep them waiting until it ends. They get a turn at least every millisecond.
        if (raw_fds_ > 0 && Clock::now() - last_fd_turn_ >= kFdTurnInterval) serve_ready_fds(0);
        continue;
      }
      if (had_work && idle_) {
        // Then look at the sockets once more: the idle work may have sent on them, which can
        // consume a ZMQ_FD signal for a message that is waiting.
        had_work = false;
        idle_();
        continue;
      }
      wait_for_activity();
      had_work = true;
    }
  }

 private:
  struct Watch {
    void* socket;
    int fd;
    std::function<void()> on_readable;  // watch(), watch_fd()
    std::function<bool()> take_one;     // watch_messages()
  };
  struct Timer {
    Clock::time_point due;
    std::chrono::milliseconds period;
    std::function<void()> fn;
  };

  void changed() {
    ++generation_;
    pollfds_stale_ = true;
    raw_fds_ = static_cast<size_t>(
        std::count_if(watches_.begin(), watches_.end(), [](const Watch& w) { return !w.socket; }));
  }

  static bool socket_readable(void* socket) {
    int events = 0;
    size_t size = sizeof events;
    if (zmq_getsockopt(socket, ZMQ_EVENTS, &events, &size) != 0) return false;
    return (events & ZMQ_POLLIN) != 0;
  }

  // One turn over the ZeroMQ sockets: each one holding a message is served once (a socket of
  // watch_messages, up to kMessagesPerTurn messages).
  bool serve_ready_sockets() {
    bool served = false;
    uint64_t generation = generation_;
    for (size_t i = 0; i < watches_.size(); ++i) {
      if (watches_[i].socket == nullptr || !socket_readable(watches_[i].socket)) continue;
      served = true;
      if (!watches_[i].take_one) {
        watches_[i].on_readable();
        // A handler that added or removed watches invalidated the indices: start a new turn.
        if (generation != generation_ || stopping()) break;
        continue;
      }
      bool turn_over = false;
      for (int taken = 0; taken < kMessagesPerTurn; ++taken) {
        bool took = watches_[i].take_one();
        // As above; watches_[i] is not looked at again once its handler changed the watches.
        if (generation != generation_ || stopping()) {
          turn_over = true;
          break;
        }
        if (!took) break;
      }
      if (turn_over) break;
    }
    return served;
  }

  void wait_for_activity() { serve_ready_fds(next_timeout_ms()); }

  // Polls every socket's ZMQ_FD, the raw descriptors and the eventfd for up to `timeout_ms`,
  // then serves the raw descriptors that are ready.
  void serve_ready_fds(int timeout_ms) {
    last_fd_turn_ = Clock::now();
    if (pollfds_stale_) {
      pollfds_.clear();
      pollfds_.push_back(pollfd{wake_fd_, POLLIN, 0});
      for (const Watch& w : watches_) {
        int fd = w.fd;
        if (w.socket != nullptr) {
          size_t size = sizeof fd;
          if (zmq_getsockopt(w.socket, ZMQ_FD, &fd, &size) != 0) continue;
        }
        pollfds_.push_back(pollfd{fd, POLLIN, 0});
      }
      pollfds_stale_ = false;
    }
    for (pollfd& p : pollfds_) p.revents = 0;
    int rc = ::poll(pollfds_.data(), pollfds_.size(), timeout_ms);
    if (rc <= 0) return;  // timeout or EINTR: timers and sockets are checked by run()
    if (pollfds_[0].revents & POLLIN) drain_wake();
    // Raw descriptors are served here; ZeroMQ sockets by serve_ready_sockets() next turn.
    uint64_t generation = generation_;
    for (size_t i = 0; i < watches_.size() && i + 1 < pollfds_.size(); ++i) {
      if (watches_[i].socket != nullptr || !(pollfds_[i + 1].revents & (POLLIN | POLLHUP))) {
        continue;
      }
      watches_[i].on_readable();
      if (generation != generation_ || stopping()) break;
    }
  }

  TimerId add_timer(std::chrono::milliseconds delay, std::chrono::milliseconds period,
                    std::function<void()> fn) {
    TimerId id = ++next_timer_;
    Clock::time_point due = Clock::now() + delay;
    timers_.emplace(id, Timer{due, period, std::move(fn)});
    schedule_.emplace(due, id);
    return id;
  }

  int next_timeout_ms() const {
    if (has_posted_.load(std::memory_order_acquire)) return 0;
    if (schedule_.empty()) return -1;
    auto now = Clock::now();
    auto next = schedule_.begin()->first;
    if (next <= now) return 0;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
    return static_cast<int>(std::min<int64_t>(ms, 1 << 30));
  }

  // Runs the timers that are due; returns whether any ran.
  bool run_due_timers() {
    auto now = Clock::now();
    due_.clear();
    // Only the timers that are due are taken off the schedule: a turn costs what is due, not
    // what is pending (thousands of request timeouts may be pending while agents register).
    while (!schedule_.empty() && schedule_.begin()->first <= now) {
      due_.push_back(schedule_.begin()->second);
      schedule_.erase(schedule_.begin());
    }
    bool ran = false;
    for (size_t i = 0; i < due_.size(); ++i) {
      auto it = timers_.find(due_[i]);
      if (it == timers_.end()) continue;  // cancelled by an earlier timer
      std::function<void()> fn = it->second.fn;
      if (it->second.period.count() > 0) {
        it->second.due = now + it->second.period;
        schedule_.emplace(it->second.due, due_[i]);
      } else {
        timers_.erase(it);
      }
      ran = true;
      fn();
      if (stopping()) {
        // The due timers this turn did not reach go back on the schedule as they were, to run
        // when the loop runs again: dropped, a repeating timer (a scheduler client's heartbeat)
        // would never fire again, and a one-shot timer would be pending forever.
        for (size_t j = i + 1; j < due_.size(); ++j) {
          auto rest = timers_.find(due_[j]);
          if (rest != timers_.end()) schedule_.emplace(rest->second.due, due_[j]);
        }
        return ran;
      }
    }
    return ran;
  }

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }
  void drain_wake() {
    uint64_t value;
    [[maybe_unused]] ssize_t n = ::read(wake_fd_, &value, sizeof value);
  }
  void run_posted() {
    std::vector<std::function<void()>> work;
    {
      std::lock_guard<std::mutex> lock(posted_mutex_);
      work.swap(posted_);
      has_posted_.store(false, std::memory_order_release);
    }
    for (auto& fn : work) fn();
  }

  int wake_fd_;
  std::atomic<bool> stop_{false};
  std::function<void()> idle_;
  std::vector<Watch> watches_;
  uint64_t generation_ = 0;
  std::vector<pollfd> pollfds_;
  bool pollfds_stale_ = true;
  // The raw descriptors watched, and when they last had a turn (see run()).
  static constexpr std::chrono::milliseconds kFdTurnInterval{1};
  size_t raw_fds_ = 0;
  Clock::time_point last_fd_turn_{};
  // Timers by id (for cancel), and their ids ordered by when they are due (due time, then id,
  // so timers due at the same time run in the order they were set).
  std::unordered_map<TimerId, Timer> timers_;
  std::set<std::pair<Clock::time_point, TimerId>> schedule_;
  std::vector<TimerId> due_;
  TimerId next_timer_ = 0;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  std::atomic<bool> has_posted_{false};
};

}  // namespace tessera::sdk
