// Test support: running an EventLoop on the test's thread until something holds.
#pragma once

#include <chrono>
#include <functional>

#include "tessera/sdk/event_loop.h"

namespace tessera::testing {

// Runs `loop` until `done()` holds (checked every 5 ms) or `timeout` passes; returns done().
inline bool run_until(sdk::EventLoop& loop, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  if (done()) return true;
  bool ok = false;
  auto check = loop.every(std::chrono::milliseconds(5), [&] {
    if (done()) {
      ok = true;
      loop.request_stop();
    }
  });
  auto limit = loop.after(timeout, [&] { loop.request_stop(); });
  loop.run();
  loop.reset_stop();
  loop.cancel(check);
  loop.cancel(limit);
  return ok;
}

}  // namespace tessera::testing
