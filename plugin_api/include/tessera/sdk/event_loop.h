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
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
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

  // Calls `on_readable` whenever `socket` has a message. The handler must drain what it wants;
  // it is called again while messages remain.
  void watch(Socket& socket, std::function<void()> on_readable) {
    watches_.push_back(Watch{socket.handle(), -1, std::move(on_readable)});
  }
  // Calls `on_readable` whenever the file descriptor is readable.
  void watch_fd(int fd, std::function<void()> on_readable) {
    watches_.push_back(Watch{nullptr, fd, std::move(on_readable)});
  }
  void unwatch(Socket& socket) {
    void* h = socket.handle();
    watches_.erase(std::remove_if(watches_.begin(), watches_.end(),
                                  [h](const Watch& w) { return w.socket == h; }),
                   watches_.end());
  }

  TimerId after(std::chrono::milliseconds delay, std::function<void()> fn) {
    return add_timer(delay, std::chrono::milliseconds(0), std::move(fn));
  }
  TimerId every(std::chrono::milliseconds period, std::function<void()> fn) {
    return add_timer(period, period, std::move(fn));
  }
  void cancel(TimerId id) { timers_.erase(id); }

  // Runs `fn` on the loop's thread. Safe from any thread.
  void post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(posted_mutex_);
      posted_.push_back(std::move(fn));
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
  void run() {
    std::vector<zmq_pollitem_t> items;
    while (!stopping()) {
      items.clear();
      items.push_back(zmq_pollitem_t{nullptr, wake_fd_, ZMQ_POLLIN, 0});
      for (const Watch& w : watches_) {
        items.push_back(zmq_pollitem_t{w.socket, w.fd, ZMQ_POLLIN, 0});
      }
      long timeout = next_timeout_ms();
      int rc = zmq_poll(items.data(), static_cast<int>(items.size()), timeout);
      if (rc < 0) {
        if (zmq_errno() == EINTR) continue;
        throw zmq::error_t();
      }
      if (items[0].revents & ZMQ_POLLIN) drain_wake();
      run_posted();
      // Handlers may add or remove watches; copy the ones that fired first.
      std::vector<std::function<void()>*> fired;
      for (size_t i = 1; i < items.size(); ++i) {
        if (items[i].revents & ZMQ_POLLIN) fired.push_back(&watches_[i - 1].on_readable);
      }
      if (!fired.empty()) {
        std::vector<std::function<void()>> copies;
        copies.reserve(fired.size());
        for (auto* f : fired) copies.push_back(*f);
        for (auto& f : copies) {
          if (stopping()) break;
          f();
        }
      }
      run_due_timers();
    }
  }

 private:
  struct Watch {
    void* socket;
    int fd;
    std::function<void()> on_readable;
  };
  struct Timer {
    Clock::time_point due;
    std::chrono::milliseconds period;
    std::function<void()> fn;
  };

  TimerId add_timer(std::chrono::milliseconds delay, std::chrono::milliseconds period,
                    std::function<void()> fn) {
    TimerId id = ++next_timer_;
    timers_.emplace(id, Timer{Clock::now() + delay, period, std::move(fn)});
    return id;
  }

  long next_timeout_ms() const {
    if (timers_.empty()) return -1;
    auto now = Clock::now();
    auto next = Clock::time_point::max();
    for (const auto& [id, t] : timers_) next = std::min(next, t.due);
    if (next <= now) return 0;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
    return static_cast<long>(ms);
  }

  void run_due_timers() {
    auto now = Clock::now();
    std::vector<TimerId> due;
    for (const auto& [id, t] : timers_) {
      if (t.due <= now) due.push_back(id);
    }
    for (TimerId id : due) {
      auto it = timers_.find(id);
      if (it == timers_.end()) continue;  // cancelled by an earlier timer
      std::function<void()> fn = it->second.fn;
      if (it->second.period.count() > 0) {
        it->second.due = now + it->second.period;
      } else {
        timers_.erase(it);
      }
      fn();
      if (stopping()) return;
    }
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
    }
    for (auto& fn : work) fn();
  }

  int wake_fd_;
  std::atomic<bool> stop_{false};
  std::vector<Watch> watches_;
  std::map<TimerId, Timer> timers_;
  TimerId next_timer_ = 0;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
};

}  // namespace tessera::sdk
