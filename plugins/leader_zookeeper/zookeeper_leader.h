// ZooKeeperLeader: election, leader detection and the durable store on a ZooKeeper ensemble.
// Serves the leader protocol (tessera/protocol/store.h) like leader_standalone, for HA.
//
// Election: each campaigning master owns one ephemeral sequential znode under ROOT/election
// (its data: endpoint and master id); the lowest sequence number leads. A candidate watches
// only its predecessor (no herd when a standby goes away); every node also watches the
// leader's znode, which is how agents and standbys learn that the leader moved. The new leader
// starts its term by moving the epoch znode on by one version, in one zoo_multi with a check
// that its own candidate znode still exists, so only a live leader ever starts a term.
//
// Losing the session: a leading node publishes that it no longer leads when it has been
// disconnected for a quarter of the session timeout (the client notices a silent server after
// 2/3 of it, a closed connection at once; so this is before the server can expire the session
// and let another candidate win, and long enough to move to another server of the ensemble
// without a new term), when the session expired, or when the plugin's own thread was stalled
// for half the session timeout (the process was stopped or starved). It leads again only after
// ZooKeeper confirmed that its candidate is still the lowest, and then in a new term. An
// expired session is replaced by a new one, and the local master's candidacy renewed in it.
//
// Knows nothing about being a plugin (see plugin.cpp). Everything after configure() runs on the
// plugin's loop thread, which owns the session and the sockets; ZooKeeper's own threads only
// post events to the loop.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "tessera/protocol/store.h"
#include "tessera/sdk/plugin.h"
#include "zk_layout.h"
#include "zk_session.h"
#include "zk_store.h"

namespace tessera::leader {

class ZooKeeperLeader : public sdk::LeaderPlugin {
 public:
  explicit ZooKeeperLeader(sdk::PluginContext& context);

  Status configure(sdk::ConfigTable& table) override;
  Status start() override;
  void stopping() override;

 private:
  // Session life.
  void open_session();
  void on_event(const zk::Event& event);
  void on_connected();
  // The connection dropped: a leader leads on for a grace period while the client reconnects.
  void disconnected();
  // Stops leading at once (if leading), for `reason`; the view of the leader is kept otherwise.
  void suspend(const std::string& reason);
  void tick();

  // Election.
  void enter_candidacy();
  void withdraw_candidacy();
  // Reads the candidates, sets the watches, decides who leads and publishes a change.
  void evaluate();
  // Starts this node's term: true when the epoch znode was moved on while its candidacy lives.
  bool start_term();
  void refresh_epoch();
  void publish(protocol::store::Leader leader);

  // Store requests.
  void serve_store();
  void serve_leader();
  void answer(const sdk::Request& request, protocol::store::Result result);
  void unavailable(const sdk::Request& request, const std::string& why);
  void deny(const sdk::Request& request, const char* code, const std::string& message);
  bool admit(const sdk::Request& request, const char* verb, const std::string& key, bool prefix);
  bool admit_write(const sdk::Request& request, const char* verb, const std::string& key,
                   size_t value_size, uint64_t epoch);
  // Answers a write's outcome; true when it was done.
  bool answer_write(const sdk::Request& request, const char* verb, const std::string& key,
                    const Result<zk::Write>& write, uint64_t epoch,
                    std::optional<uint64_t> expected);

  // Configuration (read on the host thread in configure()).
  bool master_node_ = false;
  std::string servers_;
  std::string root_;
  int session_timeout_ms_ = 10000;
  std::chrono::milliseconds connect_timeout_{5000};
  std::optional<std::string> endpoint_;

  // Loop-thread state.
  std::unique_ptr<zk::Session> session_;
  std::optional<zk::ZooKeeperStore> store_;
  bool prepared_ = false;
  std::unique_ptr<sdk::Server> server_;
  std::unique_ptr<sdk::Publisher> events_;
  protocol::store::Leader leader_;
  uint64_t epoch_ = 0;
  std::optional<zk::Candidate> campaign_;  // the local master's candidacy, once it campaigned
  std::string own_node_;                   // its election znode in the current session
  std::string watched_leader_;
  std::string watched_predecessor_;
  bool leading_ = false;
  sdk::EventLoop::TimerId disconnect_timer_ = 0;
  std::chrono::steady_clock::time_point last_tick_;
  uint64_t writes_ = 0;
};

}  // namespace tessera::leader
