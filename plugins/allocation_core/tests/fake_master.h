// Test support for the allocator plugins: an in-process node running one allocator plugin
// through the real loader, and a FakeMaster that talks to it over inproc with an sdk::Client the
// way the master role does (one-way events in, allocator.allocated batches pushed back).
//
// The node plays no built-in role (roles = []): it runs the plugin in its [master] allocator
// slot and nothing else, so the test is the allocator's only master. The allocator also binds its
// own inproc endpoint (the `endpoint` key) rather than protocol::allocator::kEndpoint, so even a
// node that did run the master role would not share the allocator with the test.
//
// Threading: a FakeMaster and everything it creates live on the test's thread; the plugin runs
// on its own thread inside the node.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "allocation_core/allocator_service.h"
#include "support/node.h"
#include "tessera/protocol/allocator.h"

namespace tessera::allocation::testing {

namespace msg = protocol::allocator;
using namespace std::chrono_literals;

// "cpus:9;mem:18;ports:[1-10]" as wire resources (the tests' shorthand).
inline protocol::Resources wire(const std::string& text) {
  auto parsed = Resources::parse(text);
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message);
  return parsed.ok() ? toProtocol(*parsed) : protocol::Resources{};
}

inline std::string text(const protocol::Resources& resources) {
  auto core = fromProtocol(resources);
  return core.ok() ? core->toString() : "(invalid)";
}

inline std::string numbered(const char* prefix, int i) {
  std::string out(prefix);
  out += std::to_string(i);
  return out;
}

// A node whose master slot holds `plugin`, with the plugin's table from `keys` (TOML lines).
// Cycles run only when something is pending, on allocate_now or on filter expiry: the periodic
// interval is an hour unless `keys` says otherwise, so each batch has a known cause.
class AllocatorNode {
 public:
  AllocatorNode(const std::string& plugin, const std::string& keys = "",
                const std::string& endpoint = "inproc://allocator-under-test")
      : plugin_(plugin),
        endpoint_(endpoint),
        node_(dir_, "roles = []\nendpoints_file = \"" + (dir_ / "endpoints").string() +
                        "\"\n[log]\nlevel = \"warn\"\n[master]\nallocator = \"" + plugin +
                        "\"\n[plugins." + plugin + "]\nendpoint = \"" + endpoint + "\"\n" +
                        (keys.find("allocation_interval_ms") == std::string::npos
                             ? "allocation_interval_ms = 3600000\n"
                             : "") +
                        keys) {}

  Status start() { return node_.start(); }
  void* zmq_context() const { return node_.zmq_context(); }
  const std::string& endpoint() const { return endpoint_; }

  // What the plugin announced under `key` (e.g. "endpoint"), from the node's endpoints file.
  std::string announced(const std::string& key) const {
    std::ifstream in(dir_ / "endpoints");
    std::string line;
    const std::string prefix = plugin_ + "." + key + " = \"";
    while (std::getline(in, line)) {
      if (line.rfind(prefix, 0) == 0 && line.size() > prefix.size()) {
        return line.substr(prefix.size(), line.size() - prefix.size() - 1);
      }
    }
    return {};
  }

 private:
  tessera::testing::TempDir dir_;
  std::string plugin_;
  std::string endpoint_;
  tessera::testing::InProcessNode node_;
};

class FakeMaster {
 public:
  FakeMaster(void* context, const std::string& endpoint, const std::string& name = "master")
      : test_(context, name), client_(test_.bus, name) {
    EXPECT_TRUE(client_.connect(endpoint).ok());
    client_.on<msg::Allocated>([this](const Envelope&, const msg::Allocated& batch) {
      batches_.push_back(batch);
      test_.loop.request_stop();
    });
  }

  template <typename T>
  void send(const T& body) {
    client_.send(body);
  }

  void addFramework(const std::string& id, std::vector<std::string> roles, bool active = true) {
    send(msg::FrameworkAdded{id, std::move(roles), active});
  }
  void addAgent(const std::string& id, const std::string& total,
                std::vector<msg::Allocation> allocated = {}) {
    send(msg::AgentAdded{id, id + ".example", wire(total), std::move(allocated)});
  }
  void recover(const msg::Grant& grant, const protocol::Resources& resources,
               double refuseSeconds = 0) {
    send(msg::Recover{grant.framework_id, grant.agent_id, grant.role, resources, refuseSeconds});
  }
  void decline(const msg::Grant& grant, double refuseSeconds = 0) {
    recover(grant, grant.resources, refuseSeconds);
  }
  void allocateNow() { send(msg::AllocateNow{}); }

  // The next batch, waiting up to `timeout` for it.
  std::optional<msg::Allocated> next(std::chrono::milliseconds timeout = 5s) {
    runUntil([this] { return !batches_.empty(); }, timeout);
    if (batches_.empty()) return std::nullopt;
    msg::Allocated batch = std::move(batches_.front());
    batches_.pop_front();
    return batch;
  }

  // Every batch that what was sent so far caused, taken out of the queue. The stats() round
  // trip is the barrier (see there), so nothing is waited for by the clock: allocate_now runs
  // its cycle before it is answered, so a batch it made is among these.
  std::vector<msg::Allocated> drain() {
    (void)stats();
    std::vector<msg::Allocated> out(std::make_move_iterator(batches_.begin()),
                                    std::make_move_iterator(batches_.end()));
    batches_.clear();
    return out;
  }

  // True when nothing sent so far caused a batch (see drain()).
  bool quiet() { return drain().empty(); }

  // The service's counters. Its reply also means every message sent before was handled (and
  // any batch those caused arrived first, since both travel on the same connection).
  Stats stats(std::chrono::milliseconds timeout = 5s) {
    std::optional<Result<Envelope>> reply;
    client_.request(
        StatsRequest{},
        [&](Result<Envelope> r) {
          reply = std::move(r);
          test_.loop.request_stop();
        },
        timeout);
    runUntil([&] { return reply.has_value(); }, timeout + 1s);
    EXPECT_TRUE(reply && reply->ok()) << (reply && !reply->ok() ? reply->error().message : "");
    if (!reply || !reply->ok()) return {};
    auto body = (*reply)->body<Stats>();
    EXPECT_TRUE(body.ok());
    return body.ok() ? *body : Stats{};
  }

  std::size_t pending() const { return batches_.size(); }

 private:
  // Runs the loop until `done()` or `timeout`; handlers stop the loop to have it checked.
  template <typename F>
  void runUntil(F done, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    bool timedOut = false;
    auto timer = test_.loop.after(timeout, [&] {
      timedOut = true;
      test_.loop.request_stop();
    });
    while (!done() && !timedOut && std::chrono::steady_clock::now() < deadline) {
      test_.loop.run();
      test_.loop.reset_stop();
    }
    test_.loop.cancel(timer);
  }

  tessera::testing::TestBus test_;
  sdk::Client client_;
  std::deque<msg::Allocated> batches_;
};

// Sums grants per framework.
inline std::map<std::string, Resources> byFramework(const msg::Allocated& batch) {
  std::map<std::string, Resources> out;
  for (const msg::Grant& grant : batch.grants)
    out[grant.framework_id] += *fromProtocol(grant.resources);
  return out;
}

}  // namespace tessera::allocation::testing
