// Finding the leading master from a `zk://HOST:PORT,HOST:PORT/PATH` address, outside a host
// (the CLI): reads the election under PATH (zk_layout.h) the way leader_zookeeper does, and
// gives the endpoint in the lowest candidate's znode.
//
// Inside a host, agents and plugins find the master through the node's leader plugin instead
// (an empty master address): leader_zookeeper watches the election for them.
//
// Threading: created, used and destroyed on the bus's loop thread, like every MasterDetector.
// A lookup blocks that thread for up to `connect_timeout` while the session connects.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "tessera/sdk/master_detector.h"
#include "zk_layout.h"
#include "zk_session.h"

namespace tessera::leader::zk {

class ZooKeeperDetector final : public sdk::MasterDetector {
 public:
  ZooKeeperDetector(sdk::Bus& bus, Ensemble ensemble, std::string address,
                    std::chrono::milliseconds connect_timeout);

  std::string describe() const override { return address_; }

 protected:
  void lookup(Found found) override;
  std::string watched_leader() const override { return leader_; }

 private:
  void on_event(const Event& event);

  Ensemble ensemble_;
  std::string address_;
  std::chrono::milliseconds connect_timeout_;
  std::unique_ptr<Session> session_;
  std::string leader_;  // the endpoint last found ("" when none)
};

// The detector factory for "zk" (sdk::DetectorOptions::schemes).
sdk::DetectorFactory zookeeper_detector_factory(
    std::chrono::milliseconds connect_timeout = std::chrono::seconds(5));

// Reads the leading master's candidacy with `session` (connected). An error when there is none
// or it is not a Tessera master's.
Result<Candidate> read_leader(Session& session, const std::string& root, bool watch = false);

}  // namespace tessera::leader::zk
