// Test support for the master's units: a leader plugin the test scripts, on its own inproc
// endpoints, with a store kept in a map. It applies the rules every leader plugin shares
// (protocol/store.h): keys under the sender's prefix, versions, and fencing by epoch; and it
// can be told to fail, or to move to a new epoch without telling anyone (a master deposed
// without hearing of it yet).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tessera/protocol/store.h"
#include "tessera/sdk/channels.h"

namespace tessera::testing {

class FakeLeader {
 public:
  static constexpr const char* kEndpoint = "inproc://fake.leader";
  static constexpr const char* kEventsEndpoint = "inproc://fake.leader.events";

  // Serves on `endpoint` and publishes on `events_endpoint` (the real leader plugin's, to play
  // it for a master role).
  explicit FakeLeader(sdk::Bus& bus, const std::string& endpoint = kEndpoint,
                      const std::string& events_endpoint = kEventsEndpoint)
      : server_(bus, "fake_leader"), events_(bus, "fake_leader") {
    namespace store = protocol::store;
    server_.on<store::GetLeader>(
        [this](const sdk::Request& r, const store::GetLeader&) { server_.reply(r, leader); });
    server_.on<store::Campaign>([this](const sdk::Request& r, const store::Campaign& c) {
      leader.known = true;
      leader.master_id = c.master_id;
      leader.endpoint = c.endpoint;
      leader.this_node = true;
      leader.epoch = ++epoch;
      server_.reply(r, leader);
    });
    server_.on<store::Put>([this](const sdk::Request& r, const store::Put& m) {
      if (!admit(r, m.key, m.epoch)) return;
      answer_version(r, ++entries[m.key].version, m.key, m.value);
    });
    server_.on<store::Delete>([this](const sdk::Request& r, const store::Delete& m) {
      if (!admit(r, m.key, m.epoch)) return;
      auto it = entries.find(m.key);
      if (it == entries.end()) return refuse(r, store::code::kNotFound, "not found");
      store::Result result;
      result.ok = true;
      result.version = it->second.version;
      entries.erase(it);
      answer(r, result);
    });
    // All or nothing, as leader_standalone applies a batch.
    server_.on<store::Batch>([this](const sdk::Request& r, const store::Batch& m) {
      batch_times.push_back(std::chrono::steady_clock::now());
      if (fail_next_batches > 0) {
        --fail_next_batches;
        return refuse(r, store::code::kPermissionDenied, "the test refuses this batch");
      }
      if (m.writes.empty() || !admit(r, m.writes.front().key, m.epoch)) return;
      for (const auto& write : m.writes) {
        if (write.key.rfind(r.message.header().sender + "/", 0) != 0) {
          return refuse(r, store::code::kPermissionDenied, "outside the sender's prefix");
        }
      }
      store::Result result;
      result.ok = true;
      for (const auto& write : m.writes) {
        uint64_t version = 0;
        if (write.remove) {
          if (auto it = entries.find(write.key); it != entries.end()) {
            version = it->second.version;
            entries.erase(it);
          }
        } else {
          Stored& stored = entries[write.key];
          stored.value = write.value;
          version = ++stored.version;
        }
        result.entries.push_back({write.key, {}, version});
      }
      answer(r, result);
    });
    server_.on<store::List>([this](const sdk::Request& r, const store::List& m) {
      ++lists;
      if (!admit(r, m.prefix, 0)) return;
      store::Result result;
      result.ok = true;
      for (const auto& [key, entry] : entries) {
        if (key.rfind(m.prefix, 0) == 0)
          result.entries.push_back({key, entry.value, entry.version});
      }
      answer(r, result);
    });
    if (auto s = server_.bind(endpoint); !s) throw std::runtime_error(s.error().message);
    if (auto s = events_.bind(events_endpoint); !s) throw std::runtime_error(s.error().message);
  }

  // Another master is elected: a new epoch, published as leader.info.
  void elect_elsewhere(const std::string& master_id, const std::string& endpoint) {
    leader.known = true;
    leader.master_id = master_id;
    leader.endpoint = endpoint;
    leader.this_node = false;
    leader.epoch = ++epoch;
    events_.publish(leader);
  }

  // This host's master is confirmed again in a new term, as leader_zookeeper does after its
  // thread stalled: a new epoch, published as leader.info.
  void reelect_here() {
    leader.epoch = ++epoch;
    events_.publish(leader);
  }

  // Stores `value` at `key` as a master would have written it.
  template <typename T>
  void preset(const std::string& key, const T& value) {
    msgpack::sbuffer buffer;
    msgpack::pack(buffer, value);
    entries[key] = Stored{std::string(buffer.data(), buffer.size()), 1};
  }

  struct Stored {
    std::string value;
    uint64_t version = 0;
  };
  std::map<std::string, Stored> entries;  // full keys
  protocol::store::Leader leader;         // what leader.get answers
  uint64_t epoch = 0;                     // the store's epoch: older writes are fenced
  int fail_next = 0;                      // requests to refuse (permission denied) first
  int fail_next_batches = 0;              // batches to refuse (permission denied) first
  int lists = 0;
  std::vector<std::chrono::steady_clock::time_point> batch_times;  // when each batch came
  int fenced = 0;

 private:
  bool admit(const sdk::Request& r, const std::string& key, uint64_t writer_epoch) {
    namespace code = protocol::store::code;
    if (fail_next > 0) {
      --fail_next;
      refuse(r, code::kPermissionDenied, "the test says no");
      return false;
    }
    if (key.rfind(r.message.header().sender + "/", 0) != 0) {
      refuse(r, code::kPermissionDenied, "outside the sender's prefix");
      return false;
    }
    if (writer_epoch != 0 && writer_epoch < epoch) {
      ++fenced;
      refuse(r, code::kFenced, "epoch " + std::to_string(writer_epoch) + " is over");
      return false;
    }
    return true;
  }
  void answer_version(const sdk::Request& r, uint64_t version, const std::string& key,
                      const std::string& value) {
    entries[key].value = value;
    protocol::store::Result result;
    result.ok = true;
    result.version = version;
    answer(r, result);
  }
  void refuse(const sdk::Request& r, const char* code, const std::string& why) {
    protocol::store::Result result;
    result.code = code;
    result.error = why;
    answer(r, result);
  }
  void answer(const sdk::Request& r, protocol::store::Result result) {
    result.epoch = epoch;
    server_.reply(r, result);
  }

  sdk::Server server_;
  sdk::Publisher events_;
};

}  // namespace tessera::testing
