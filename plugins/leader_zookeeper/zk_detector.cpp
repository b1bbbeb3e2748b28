#include "zk_detector.h"

#include <utility>
#include <vector>

namespace tessera::leader::zk {

Result<Candidate> read_leader(Session& session, const std::string& root, bool watch) {
  const std::string election = root + "/election";
  // The leader can go between the listing and the read: list again (a few times).
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::vector<std::string> names;
    int rc = session.children(election, names, watch);
    if (rc == ZNONODE || (rc == ZOK && names.empty())) {
      return make_error(ErrorCode::kUnavailable, "no master is a candidate under " + election);
    }
    if (rc != ZOK)
      return make_error(ErrorCode::kUnavailable, "listing " + election + ": " + describe(rc));
    auto candidates = order_candidates(std::move(names));
    if (candidates.empty()) {
      return make_error(ErrorCode::kUnavailable, "no master is a candidate under " + election);
    }
    std::string data;
    std::string path = election + "/" + candidates.front();
    rc = session.get(path, data, nullptr, kMaxCandidateBytes, watch);
    if (rc == ZNONODE) continue;
    if (rc != ZOK)
      return make_error(ErrorCode::kUnavailable, "reading " + path + ": " + describe(rc));
    auto candidate = parse_candidate(data);
    if (!candidate) return candidate.error().context("the leader's znode " + path);
    return candidate;
  }
  return make_error(ErrorCode::kUnavailable, "the leader under " + election + " kept changing");
}

ZooKeeperDetector::ZooKeeperDetector(sdk::Bus& bus, Ensemble ensemble, std::string address,
                                     std::chrono::milliseconds connect_timeout)
    : MasterDetector(bus),
      ensemble_(std::move(ensemble)),
      address_(std::move(address)),
      connect_timeout_(connect_timeout) {}

void ZooKeeperDetector::lookup(Found found) {
  if (!session_ || session_->expired()) {
    session_.reset();
    auto opened = Session::open(ensemble_.servers, 10000, bus_.loop,
                                [this](const Event& event) { on_event(event); });
    if (!opened) return found(opened.error());
    session_ = std::move(*opened);
  }
  if (!session_->connected() && !session_->wait_connected(connect_timeout_)) {
    return found(
        make_error(ErrorCode::kUnavailable, "no answer from ZooKeeper at " + ensemble_.servers));
  }
  auto leader = read_leader(*session_, ensemble_.path, true);
  if (!leader) {
    leader_.clear();
    return found(leader.error());
  }
  leader_ = leader->endpoint;
  found(leader->endpoint);
}

void ZooKeeperDetector::on_event(const Event& event) {
  if (event.type == ZOO_SESSION_EVENT || leader_.empty() || !session_ || !session_->connected()) {
    return;
  }
  // The election changed: tell the client if the leader moved.
  auto leader = read_leader(*session_, ensemble_.path, true);
  std::string now = leader ? leader->endpoint : "";
  if (now == leader_) return;
  leader_ = now;
  moved(now);
}

sdk::DetectorFactory zookeeper_detector_factory(std::chrono::milliseconds connect_timeout) {
  return [connect_timeout](
             sdk::Bus& bus,
             const std::string& address) -> Result<std::unique_ptr<sdk::MasterDetector>> {
    auto ensemble = parse_zk_address(address);
    if (!ensemble) return ensemble.error();
    return std::unique_ptr<sdk::MasterDetector>(
        std::make_unique<ZooKeeperDetector>(bus, *ensemble, address, connect_timeout));
  };
}

}  // namespace tessera::leader::zk
