// FdEvents: readiness of any number of raw file descriptors (sockets, pipes, timerfds), for
// write as well as read, served on a plugin's EventLoop.
//
// EventLoop::watch_fd watches one descriptor for reading, level-triggered, for the loop's whole
// life. That suits a wake-up fd, not a server with a thousand connections that come and go and
// must wait for writability as well. FdEvents owns one epoll instance, registers every
// descriptor in it edge-triggered, and gives the loop that single epoll descriptor to watch:
// when any registered descriptor changes state the epoll descriptor becomes readable, the loop
// calls FdEvents, which drains the epoll instance and calls each descriptor's handler with its
// events. Because registrations are edge-triggered, the epoll descriptor stops being readable
// once drained, so the loop never spins on a descriptor whose data a handler chose not to read
// yet; the price is the usual edge-triggered rule: a handler that stops reading or writing
// before EAGAIN must remember that the descriptor may still be ready.
//
// Threading: created, used and destroyed on the loop's thread; handlers run on it, one at a
// time, like every other handler of the loop.
//
// Lifetime: the EventLoop offers no way to stop watching a raw descriptor, so the epoll
// instance (one descriptor) stays open, empty and silent, until the loop itself is destroyed,
// even when the FdEvents that made it is gone. Destroying an FdEvents drops every registration
// and never calls a handler again.
#pragma once

#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tessera/sdk/event_loop.h"

namespace tessera::sdk {

class FdEvents {
 public:
  // Called with the epoll events (EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR) that the
  // descriptor has had since its handler was last called.
  using Handler = std::function<void(uint32_t events)>;
  using WatchId = uint64_t;

  explicit FdEvents(EventLoop& loop) : loop_(loop), state_(std::make_shared<State>()) {
    state_->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (state_->epoll_fd < 0) {
      throw std::runtime_error(std::string("epoll_create1 failed: ") + std::strerror(errno));
    }
    // The loop's watch holds the state, so the descriptor is closed only with the loop.
    loop_.watch_fd(state_->epoll_fd, [state = state_] { state->dispatch(); });
  }
  ~FdEvents() {
    for (auto& [id, watch] : state_->watches) {
      if (watch.fd >= 0) epoll_ctl(state_->epoll_fd, EPOLL_CTL_DEL, watch.fd, nullptr);
    }
    // Destroyed from inside a handler of its own: erase nothing under the running dispatch.
    if (state_->dispatching) {
      for (auto& [id, watch] : state_->watches) {
        watch.fd = -1;
        state_->retired.push_back(id);
      }
    } else {
      state_->watches.clear();
    }
  }
  FdEvents(const FdEvents&) = delete;
  FdEvents& operator=(const FdEvents&) = delete;

  // Watches `fd` (edge-triggered) for `events`, typically EPOLLIN | EPOLLOUT | EPOLLRDHUP. The
  // caller keeps owning the descriptor and must remove() it before closing it. Returns 0 and
  // sets errno when the kernel refuses the descriptor.
  WatchId add(int fd, uint32_t events, Handler handler) {
    WatchId id = ++state_->next_id;
    epoll_event event{};
    event.events = events | EPOLLET;
    event.data.u64 = id;
    if (epoll_ctl(state_->epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) return 0;
    state_->watches.emplace(id, Watch{fd, std::move(handler)});
    return id;
  }

  // Stops watching. Safe inside any handler, including the watch's own: its handler object
  // is kept alive until the dispatch in progress ends.
  void remove(WatchId id) {
    auto it = state_->watches.find(id);
    if (it == state_->watches.end() || it->second.fd < 0) return;
    epoll_ctl(state_->epoll_fd, EPOLL_CTL_DEL, it->second.fd, nullptr);
    if (state_->dispatching) {
      it->second.fd = -1;
      state_->retired.push_back(id);
    } else {
      state_->watches.erase(it);
    }
  }

  EventLoop& loop() { return loop_; }
  size_t size() const { return state_->watches.size() - state_->retired.size(); }

 private:
  struct Watch {
    int fd;
    Handler handler;
  };
  struct State {
    int epoll_fd = -1;
    WatchId next_id = 0;
    std::unordered_map<WatchId, Watch> watches;
    std::vector<WatchId> retired;  // removed during a dispatch, erased after it
    bool dispatching = false;

    State() = default;
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() {
      if (epoll_fd >= 0) ::close(epoll_fd);
    }

    // Drains the epoll instance; each watch's events arrive once per change (edge-triggered).
    void dispatch() {
      std::array<epoll_event, 256> events{};
      dispatching = true;
      for (;;) {
        int n = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), 0);
        if (n < 0 && errno == EINTR) continue;
        for (int i = 0; i < n; ++i) {
          // A handler earlier in this batch may have removed this watch (its id is then gone,
          // and ids are never reused).
          auto it = watches.find(events[i].data.u64);
          if (it != watches.end() && it->second.fd >= 0) it->second.handler(events[i].events);
        }
        if (n < static_cast<int>(events.size())) break;
      }
      dispatching = false;
      for (WatchId id : retired) watches.erase(id);
      retired.clear();
    }
  };

  EventLoop& loop_;
  std::shared_ptr<State> state_;
};

}  // namespace tessera::sdk
