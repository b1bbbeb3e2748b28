// StoreWriter: a plugin's writes to its store, coalesced by key and sent in batches.
//
//   sdk::StoreWriter writer(store, {.max_batches_in_flight = 1});
//   writer.put("apps/web", app);                       // sent on the next turn of the loop
//   writer.put("apps/web", app2, [](const sdk::StoreResult<uint64_t>& r) { ... });
//   writer.remove("apps/old");
//   writer.when_stored([](bool stored, const std::string& why) { ... });   // all so far
//   writer.drop("no longer leading");                  // on losing leadership
//
// A plugin that keeps its state in the store changes it far more often than one write per
// round trip allows (a burst of 10,000 task updates, a deployment of 1,000 apps). The writer
// turns those changes into few requests:
// - Batches: the writes asked for during one turn of the event loop, and those that wait while
//   earlier batches are out, go as store.batch requests (Store::write_batch: one round trip
//   and, with leader_standalone, one transaction), each within the protocol's limits counted
//   as the leader plugin counts them (every key with the plugin's prefix, values encoded).
//   At most `max_batches_in_flight` are out at once.
// - Coalescing: a put of a key whose earlier put is still waiting (not yet sent) replaces that
//   put's value where it stands, and both callbacks are called once it is stored. A removal is
//   never merged: it and any later put of its key keep their order. The last value of every key
//   is what the store ends with, and writes of different keys stay in the order asked.
// - Lanes: writes go in lanes; a batch takes from the first lane that has writes, so lane 0
//   (e.g. scheduling state) goes before lane 1 (e.g. history). Order holds within a lane.
// - Failures: a write too large for a batch goes alone (Store::put_encoded, which refuses
//   values over 1 MiB with kTooLarge). A batch refused for one of its writes (kTooLarge,
//   kInvalid) is written again write by write, so one bad write fails alone. With
//   `retry_unavailable_after`, a batch the store client gave up on (kUnavailable) is put back
//   at the front of its lane (where a newer put of its key may follow it) and sent again after
//   that delay; nothing in memory is dropped. Every other failure (kFenced: this host no longer
//   leads) is final: the writes' callbacks get the error, failures() counts them, and it is
//   logged.
// - when_stored(done): done(true) once every write asked for so far is stored, done(false, why)
//   as soon as one of them failed or was dropped (or, with retries, when the store did not
//   answer: the writes stay queued, but the caller should not wait for them).
// - drop(why): forgets every write not yet stored (a host deposed: the next leader decides
//   again from the store) and fails when_stored's waiters. Callbacks of writes already sent are
//   still called with their outcome; those of dropped writes that were not sent never are.
//
// Threading and lifetime: on the store's loop thread, like the Store, which must outlive it.
// Callbacks come after the call that asked for them has returned. Destroying the writer drops
// every callback uncalled.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iterator>
#include <list>
#include <map>
#include <memory>
#include <msgpack.hpp>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tessera/protocol/store.h"
#include "tessera/sdk/store.h"

namespace tessera::sdk {

struct StoreWriterOptions {
  // How many lanes (see the top); put() and remove() name one below this.
  size_t lanes = 1;
  // Batches (or lone writes) out at once. With one, a batch sent again after a failure can
  // never overwrite a newer value of its keys.
  size_t max_batches_in_flight = 1;
  // What one batch holds at most: within the protocol's kMaxBatchWrites and kMaxBatchBytes.
  size_t max_batch_writes = protocol::store::kMaxBatchWrites;
  size_t max_batch_bytes = protocol::store::kMaxBatchBytes;
  // A batch that failed kUnavailable is written again after this long; 0: it fails.
  std::chrono::milliseconds retry_unavailable_after{0};
};

class StoreWriter {
 public:
  using Done = std::function<void(const StoreResult<uint64_t>&)>;
  using StoredDone = std::function<void(bool stored, const std::string& why)>;

  explicit StoreWriter(Store& store, StoreWriterOptions options = {})
      : store_(store),
        options_(options),
        lanes_(std::max<size_t>(1, options.lanes)),
        puts_(lanes_.size()) {
    options_.max_batches_in_flight = std::max<size_t>(1, options_.max_batches_in_flight);
    options_.max_batch_writes =
        std::clamp<size_t>(options_.max_batch_writes, 1, protocol::store::kMaxBatchWrites);
    options_.max_batch_bytes = std::min(options_.max_batch_bytes, protocol::store::kMaxBatchBytes);
  }
  ~StoreWriter() {
    *alive_ = false;
    if (retry_timer_ != 0) store_.clock().cancel(retry_timer_);
  }
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // Writes `value` at `key` (relative to the plugin's prefix, as every Store call).
  template <typename T>
  void put(const std::string& key, const T& value, Done done = {}, size_t lane = 0) {
    msgpack::sbuffer buffer;
    msgpack::pack(buffer, value);
    put_encoded(key, std::string(buffer.data(), buffer.size()), std::move(done), lane);
  }
  void put_encoded(const std::string& key, std::string encoded, Done done = {}, size_t lane = 0) {
    lane = std::min(lane, lanes_.size() - 1);
    uint64_t sequence = ask();
    if (auto waiting = puts_[lane].find(key); waiting != puts_[lane].end()) {
      Write& write = *waiting->second;
      write.value = std::move(encoded);
      write.sequences.push_back(sequence);
      if (done) write.dones.push_back(std::move(done));
      return;
    }
    queue(lane, Write{key, std::move(encoded), lane, {sequence}, {}});
    if (done) lanes_[lane].back().dones.push_back(std::move(done));
    puts_[lane][key] = std::prev(lanes_[lane].end());
  }
  // Deletes `key`; an absent key is no error (its version: 0).
  void remove(const std::string& key, Done done = {}, size_t lane = 0) {
    lane = std::min(lane, lanes_.size() - 1);
    queue(lane, Write{key, std::nullopt, lane, {ask()}, {}});
    if (done) lanes_[lane].back().dones.push_back(std::move(done));
    // A later put of the key must come after this removal.
    puts_[lane].erase(key);
  }

  // done(true) once every write asked for until now is stored; done(false, why) if one fails.
  void when_stored(StoredDone done) {
    if (asked_ <= stored_) {
      store_.bus().loop->post([alive = alive_, done = std::move(done)] {
        if (*alive) done(true, {});
      });
      return;
    }
    waiters_.emplace(asked_, std::move(done));
  }

  // Forgets what is not stored yet and fails the waiters with `why` (see the top).
  void drop(const std::string& why) {
    ++generation_;
    for (auto& lane : lanes_) lane.clear();
    for (auto& index : puts_) index.clear();
    sequences_.clear();
    stored_ = asked_;
    in_flight_ = 0;
    send_posted_ = false;
    if (retry_timer_ != 0) store_.clock().cancel(retry_timer_);
    retry_timer_ = 0;
    fail_waiters(0, why);
  }

  // Writes asked for and not yet stored (waiting or out).
  size_t pending() const { return sequences_.size(); }
  // Writes that failed for good since the writer was made.
  uint64_t failures() const { return failures_; }
  // Requests (batches and lone writes) sent since the writer was made.
  uint64_t requests() const { return requests_; }

 private:
  struct Write {
    std::string key;
    std::optional<std::string> value;  // encoded; none: a removal
    size_t lane = 0;
    std::vector<uint64_t> sequences;  // every write merged into this one
    std::vector<Done> dones;
    bool alone = false;  // refused within a batch: written by itself
  };
  using Lane = std::list<Write>;

  uint64_t ask() {
    sequences_.insert(++asked_);
    return asked_;
  }

  void queue(size_t lane, Write write) {
    lanes_[lane].push_back(std::move(write));
    post_send();
  }

  // Sends on the next turn of the loop, with whatever else the current event writes.
  void post_send() {
    if (send_posted_) return;
    send_posted_ = true;
    store_.bus().loop->post([this, alive = alive_, generation = generation_] {
      if (!*alive || generation != generation_) return;
      send_posted_ = false;
      send();
    });
  }

  // What a write counts against a batch's limit, as the store counts it.
  size_t cost(const Write& write) const {
    return store_.prefix().size() + write.key.size() + (write.value ? write.value->size() : 0);
  }

  // Takes the first write of `lane` off it (and off the index of waiting puts).
  Write take_front(Lane& lane) {
    auto& index = puts_[lane.front().lane];
    if (auto indexed = index.find(lane.front().key);
        indexed != index.end() && indexed->second == lane.begin()) {
      index.erase(indexed);
    }
    Write write = std::move(lane.front());
    lane.pop_front();
    return write;
  }

  void send() {
    while (in_flight_ < options_.max_batches_in_flight && retry_timer_ == 0) {
      auto lane =
          std::find_if(lanes_.begin(), lanes_.end(), [](const Lane& l) { return !l.empty(); });
      if (lane == lanes_.end()) return;
      std::vector<Write> sending;
      if (lane->front().alone || cost(lane->front()) > options_.max_batch_bytes) {
        sending.push_back(take_front(*lane));
        send_alone(std::move(sending));
        continue;
      }
      StoreBatch batch;
      size_t bytes = 0;
      while (!lane->empty() && sending.size() < options_.max_batch_writes) {
        const Write& next = lane->front();
        if (next.alone || bytes + cost(next) > options_.max_batch_bytes) break;
        bytes += cost(next);
        if (next.value) {
          batch.put_encoded(next.key, *next.value);
        } else {
          batch.remove(next.key);
        }
        sending.push_back(take_front(*lane));
      }
      ++in_flight_;
      ++requests_;
      store_.write_batch(
          std::move(batch),
          [this, alive = alive_, generation = generation_,
           sent = std::move(sending)](const StoreResult<std::vector<uint64_t>>& r) mutable {
            if (*alive) finished(generation, std::move(sent), r);
          });
    }
  }

  void send_alone(std::vector<Write> sending) {
    ++in_flight_;
    ++requests_;
    std::string key = sending.front().key;
    std::optional<std::string> value = sending.front().value;
    auto answered = [this, alive = alive_, generation = generation_,
                     sent = std::move(sending)](const StoreResult<uint64_t>& r) mutable {
      if (!*alive) return;
      if (r) {
        finished(generation, std::move(sent), std::vector<uint64_t>{*r});
      } else if (r.code() == StoreCode::kNotFound && !sent.front().value) {
        finished(generation, std::move(sent), std::vector<uint64_t>{0});
      } else {
        finished(generation, std::move(sent), r.error());
      }
    };
    if (value) {
      store_.put_encoded(key, std::move(*value), std::move(answered));
    } else {
      store_.remove(key, std::move(answered));
    }
  }

  void finished(uint64_t generation, std::vector<Write> sent,
                const StoreResult<std::vector<uint64_t>>& result) {
    if (generation != generation_) {
      // Sent before a drop(): the callbacks learn the outcome; the new term's state is untouched.
      for (size_t i = 0; i < sent.size(); ++i) call(sent[i], outcome(result, i));
      return;
    }
    --in_flight_;
    if (!result) {
      StoreCode code = result.code();
      if (code == StoreCode::kUnavailable && options_.retry_unavailable_after.count() > 0) {
        store_.bus().log.warn(
            "store: {} write(s) (the first {}) not stored: {}; written again in {} ms", sent.size(),
            protocol::store::quote_key(store_.prefix() + sent.front().key), result.error().message,
            options_.retry_unavailable_after.count());
        put_back(std::move(sent), false);
        fail_waiters(0, "the store did not answer: " + result.error().message +
                            "; the change is kept and written again");
        retry_timer_ = store_.clock().after(options_.retry_unavailable_after,
                                            [this, alive = alive_, generation = generation_] {
                                              if (!*alive || generation != generation_) return;
                                              retry_timer_ = 0;
                                              send();
                                            });
        return;
      }
      if ((code == StoreCode::kTooLarge || code == StoreCode::kInvalid) && sent.size() > 1) {
        put_back(std::move(sent), true);
        send();
        return;
      }
      failures_ += sent.size();
      store_.bus().log.error("store: {} write(s) (the first {}) failed: {}", sent.size(),
                             protocol::store::quote_key(store_.prefix() + sent.front().key),
                             result.error().message);
      uint64_t first_failed = UINT64_MAX;
      for (const auto& write : sent) {
        first_failed = std::min(first_failed, write.sequences.front());
      }
      fail_waiters(first_failed, result.error().message);
    }
    for (size_t i = 0; i < sent.size(); ++i) {
      for (uint64_t sequence : sent[i].sequences) sequences_.erase(sequence);
      call(sent[i], outcome(result, i));
    }
    stored_ = std::max(stored_, sequences_.empty() ? asked_ : *sequences_.begin() - 1);
    while (!waiters_.empty() && waiters_.begin()->first <= stored_) {
      auto done = std::move(waiters_.begin()->second);
      waiters_.erase(waiters_.begin());
      done(true, {});
    }
    send();
  }

  static StoreResult<uint64_t> outcome(const StoreResult<std::vector<uint64_t>>& result, size_t i) {
    if (!result) return result.error();
    return i < result->size() ? (*result)[i] : 0;
  }

  static void call(Write& write, const StoreResult<uint64_t>& result) {
    for (auto& done : write.dones) done(result);
  }

  // Puts `sent` back at the front of their lanes, in their order; `alone`: each to be written
  // by itself.
  void put_back(std::vector<Write> sent, bool alone) {
    for (auto it = sent.rbegin(); it != sent.rend(); ++it) {
      it->alone = it->alone || alone;
      size_t number = it->lane;
      Lane& lane = lanes_[number];
      lane.push_front(std::move(*it));
      // A put that waits behind it for the same key stays the one later puts merge into.
      auto& index = puts_[number];
      if (lane.front().value && index.find(lane.front().key) == index.end()) {
        index[lane.front().key] = lane.begin();
      }
    }
  }

  // Fails the waiters for a sequence at or after `first`.
  void fail_waiters(uint64_t first, const std::string& why) {
    std::vector<StoredDone> failed;
    for (auto it = waiters_.lower_bound(first); it != waiters_.end();) {
      failed.push_back(std::move(it->second));
      it = waiters_.erase(it);
    }
    for (auto& done : failed) done(false, why);
  }

  Store& store_;
  StoreWriterOptions options_;
  std::vector<Lane> lanes_;
  // Per lane, the waiting (unsent) put of each key that later puts merge into.
  std::vector<std::unordered_map<std::string, Lane::iterator>> puts_;
  std::set<uint64_t> sequences_;  // asked for and not stored (waiting or out)
  std::multimap<uint64_t, StoredDone> waiters_;
  uint64_t asked_ = 0;
  uint64_t stored_ = 0;  // every write up to this one is stored (or failed)
  uint64_t generation_ = 0;
  uint64_t failures_ = 0;
  uint64_t requests_ = 0;
  size_t in_flight_ = 0;
  bool send_posted_ = false;
  Clock::TimerId retry_timer_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tessera::sdk
