// FifoAllocator: an allocator that serves frameworks first come, first served. Each cycle it
// offers everything free on each active agent to the framework that arrived first and still
// wants it (active, a role not suppressed and not filtered on that agent). No weights, quotas
// or priorities: it refuses them.
//
// It is written only against the installed SDK and the allocator protocol
// (tessera/protocol/allocator.h), as a third party would write an allocator, and passes the
// SDK's allocator conformance suite (tests/). Everything runs on the plugin's loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tessera/protocol/allocator.h"
#include "tessera/protocol/resources.h"
#include "tessera/sdk/plugin.h"

namespace example {

class FifoAllocator : public tessera::sdk::AllocatorPlugin {
 public:
  explicit FifoAllocator(tessera::sdk::PluginContext& context);

  tessera::Status configure(tessera::sdk::ConfigTable& table) override;
  tessera::Status start() override;

 private:
  using Resources = tessera::protocol::Resources;
  using TimePoint = tessera::sdk::Clock::Monotonic::time_point;

  struct Agent {
    Resources free;                            // neither used by tasks nor granted
    std::map<std::string, Resources> granted;  // by framework, until recovered
    bool active = true;
  };
  struct Framework {
    uint64_t arrival = 0;  // the order frameworks are served in
    std::vector<std::string> roles;
    bool active = true;
    std::set<std::string> suppressed;  // roles
    // Refuse filters: (agent, role) -> until when nothing of that agent is offered in that role.
    std::map<std::pair<std::string, std::string>, TimePoint> filters;
  };

  void serve();
  // Runs a cycle once the messages that arrived together are handled.
  void cycle_soon();
  void cycle();
  bool wants(Framework& framework, const std::string& agent_id, std::string& role);
  // The master is whoever sent the latest agent or framework event.
  void heard_from_master(const tessera::sdk::Request& request) { master_ = request.peer; }
  // Answers a role change: this allocator has no weights, quotas or priorities.
  void refuse_role_change(const tessera::sdk::Request& request, const char* what);

  std::string endpoint_ = tessera::protocol::allocator::kEndpoint;
  std::chrono::milliseconds interval_{1000};

  std::unique_ptr<tessera::sdk::Server> server_;
  std::string master_;
  std::map<std::string, Agent> agents_;
  std::map<std::string, Framework> frameworks_;
  uint64_t arrivals_ = 0;
  bool cycle_pending_ = false;
};

}  // namespace example
