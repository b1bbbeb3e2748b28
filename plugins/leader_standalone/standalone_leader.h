// StandaloneLeader: exactly one master at a known address, and the durable key-value store in
// an SQLite file (sqlite_store.h). Serves the leader protocol (tessera/protocol/store.h).
//
// There is no election. On a node whose roles include `master`, the local master's
// leader.campaign makes it the leader at once, in a new epoch (one more than the last, kept in
// the store under "NAME/epoch"). On an agent-only node the leader is the configured `master`
// endpoint from the start.
//
// The store enforces the rules of protocol/store.h before anything reaches SQLite: each
// sender only under its own "NAME/" prefix, keys and values within their limits, and writes
// from an epoch that is over refused (fencing).
//
// Knows nothing about being a plugin (see plugin.cpp). Everything after configure() runs on the
// plugin's loop thread, which owns the store and the sockets.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "sqlite_store.h"
#include "tessera/protocol/store.h"
#include "tessera/sdk/plugin.h"

namespace tessera::leader {

class StandaloneLeader : public sdk::LeaderPlugin {
 public:
  explicit StandaloneLeader(sdk::PluginContext& context);

  Status configure(sdk::ConfigTable& table) override;
  Status start() override;
  void stopping() override;

 private:
  void serve_store();
  void serve_leader();
  void answer(const sdk::Request& request, protocol::store::Result result);
  // Replies that the store itself failed (disk full, corrupt, busy), and logs it.
  void refuse(const sdk::Request& request, const Error& error);
  // Replies with a refusal of `code` and logs it as a warning naming the sender.
  void deny(const sdk::Request& request, const char* code, const std::string& message);
  // Whether the request may touch `key` (a list's prefix when `prefix`); denies it if not.
  bool admit(const sdk::Request& request, const char* verb, const std::string& key, bool prefix);
  // admit(), and the value's size and the writer's epoch for a write.
  bool admit_write(const sdk::Request& request, const char* verb, const std::string& key,
                   size_t value_size, uint64_t epoch);
  void changed(const std::string& key, uint64_t version, bool deleted);
  // Starts the next epoch for an election and keeps it durably; false if it cannot be kept.
  bool next_epoch();

  // Configuration (read on the host thread in configure()).
  bool master_node_ = false;
  std::optional<std::string> master_;  // the configured master endpoint
  std::filesystem::path store_file_;
  std::optional<std::string> endpoint_;  // an extra (tcp) endpoint for the store server

  // Loop-thread state.
  std::optional<SqliteStore> store_;
  std::unique_ptr<sdk::Server> server_;
  std::unique_ptr<sdk::Publisher> events_;
  protocol::store::Leader leader_;
  uint64_t epoch_ = 0;  // the current epoch (0: no master elected here ever)
  std::string epoch_key_;
  uint64_t writes_ = 0;
};

}  // namespace tessera::leader
