// Store: a typed client for the leader plugin's durable key-value store (protocol/store.h).
//
//   sdk::Store store(bus(), clock());
//   store.fence_with(&leadership);                     // writes only while this host leads
//   store.put("apps/web", app, [](sdk::StoreResult<uint64_t> r) { ... });
//   store.get<App>("apps/web", [](sdk::StoreResult<std::optional<sdk::Versioned<App>>> r) {});
//   store.compare_and_set("apps/web", version, app, done);   // conflict: r.code() == kConflict
//   store.list<App>("apps/", [](sdk::StoreResult<sdk::Listing<App>> r) { ... });
//
// Keys: every plugin owns the keys under its own name, "NAME/" (the bus's sender: the plugin's
// name, "master" for the master role), and the leader plugin refuses any other. The client
// takes keys relative to that prefix ("apps/web" is stored as "framework_marathon/apps/web")
// and gives them back relative, so a plugin cannot stray out of its own space by mistake.
//
// Values: any msgpack-serialisable T (MSGPACK_DEFINE_MAP structs, strings, numbers,
// containers), at most protocol::store::kMaxValueBytes (1 MiB) once encoded; a key at most
// kMaxKeyBytes with its prefix. A value that is too large fails with kTooLarge before anything
// is sent. Adding a field to a stored struct is compatible both ways, as for messages.
//
// Versions: 1 when a key is created, one more at each write. compare_and_set() writes only if
// the key is at `expected_version` (0: only if absent), the building block of safe updates.
//
// Fencing: with fence_with(leadership), each write carries the epoch this host leads in, and a
// write made while not leading fails at once with kFenced; the leader plugin refuses a write
// whose epoch is over (the host was deposed meanwhile) with kFenced too. Without it writes
// carry epoch 0 and are not fenced (for plugins that never lead). Reads are never fenced.
//
// Flow: at most `max_in_flight` requests are out at once; later ones wait their turn in order.
//
// Retries: a request with no answer within `request_timeout`, or answered "unavailable" (the
// store failed, e.g. busy), is sent again after a backoff (doubling from `backoff_initial` to
// `backoff_max`) until `give_up_after` has passed (0: forever), so a leader plugin that is
// slow to start is waited for. Every other answer is final. Requests go out in order on one
// connection, so a late duplicate of a retried write can never overtake a later write. A
// retried write may have been applied by an attempt whose answer was lost; the client makes
// that invisible: a retried compare_and_set that meets a conflict reads the key, and if it
// holds this write's value at expected_version + 1 it reports success; a retried remove that
// finds the key absent reports success with version 0.
//
// Threading and lifetime: created, used and destroyed on the bus's loop thread. Callbacks run
// there, always after the call that started them has returned, and may start new operations,
// but must not destroy the Store. Destroying the Store drops pending callbacks uncalled. The
// Bus, its loop, the clock and a fencing Leadership must outlive it.
#pragma once

#include <fmt/format.h>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <memory>
#include <msgpack.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "tessera/message.h"
#include "tessera/protocol/store.h"
#include "tessera/result.h"
#include "tessera/sdk/channels.h"
#include "tessera/sdk/clock.h"
#include "tessera/sdk/leadership.h"

namespace tessera::sdk {

// What went wrong, as something a caller can act on.
enum class StoreCode {
  kConflict,          // compare_and_set: the key is at another version (StoreError::version)
  kNotFound,          // remove: the key is absent
  kPermissionDenied,  // the key is outside this plugin's prefix
  kTooLarge,          // the key or the encoded value is over its limit
  kFenced,            // a write while not leading, or from a term that is over
  kInvalid,           // an empty key, a value that does not decode as the type asked for
  kUnavailable,       // no answer, or the store failed, for longer than give_up_after
};

inline const char* store_code_name(StoreCode code) {
  switch (code) {
    case StoreCode::kConflict:
      return protocol::store::code::kConflict;
    case StoreCode::kNotFound:
      return protocol::store::code::kNotFound;
    case StoreCode::kPermissionDenied:
      return protocol::store::code::kPermissionDenied;
    case StoreCode::kTooLarge:
      return protocol::store::code::kTooLarge;
    case StoreCode::kFenced:
      return protocol::store::code::kFenced;
    case StoreCode::kInvalid:
      return protocol::store::code::kInvalid;
    case StoreCode::kUnavailable:
      return protocol::store::code::kUnavailable;
  }
  return "unknown";
}

// The general error code of a store code, for layers that answer in Result and HTTP terms:
// too large and invalid are the caller's input (400), fenced means this host does not lead
// (503: the client should go to the leader), the others map one to one.
inline ErrorCode error_code(StoreCode code) {
  switch (code) {
    case StoreCode::kConflict:
      return ErrorCode::kConflict;
    case StoreCode::kNotFound:
      return ErrorCode::kNotFound;
    case StoreCode::kPermissionDenied:
      return ErrorCode::kPermissionDenied;
    case StoreCode::kTooLarge:
    case StoreCode::kInvalid:
      return ErrorCode::kInvalidArgument;
    case StoreCode::kFenced:
    case StoreCode::kUnavailable:
      return ErrorCode::kUnavailable;
  }
  return ErrorCode::kInternal;
}

struct StoreError {
  StoreCode code = StoreCode::kUnavailable;
  std::string message;   // quotes the key: "store: put 'master/agents/a1': ..."
  uint64_t version = 0;  // kConflict: the key's current version (0: absent)

  // As a tessera::Error (for Result and http::json_error).
  Error as_error() const { return make_error(error_code(code), message); }
};

// A value or a StoreError.
template <typename T>
class [[nodiscard]] StoreResult {
 public:
  StoreResult(T value) : state_(std::move(value)) {}           // NOLINT: implicit by design
  StoreResult(StoreError error) : state_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(state_); }
  const T& value() const { return std::get<0>(state_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const StoreError& error() const { return std::get<1>(state_); }
  StoreCode code() const { return error().code; }

 private:
  std::variant<T, StoreError> state_;
};

// A value with its key (relative to the plugin's prefix) and version.
template <typename T>
struct Versioned {
  std::string key;
  T value{};
  uint64_t version = 0;
};

// What list() found: the entries that decode as T, in key order, and the keys of those that
// do not (kept apart rather than failing the whole listing, so one bad record cannot hide the
// others; each is also logged).
template <typename T>
struct Listing {
  std::vector<Versioned<T>> entries;
  std::vector<std::string> unreadable;
};

struct StoreOptions {
  std::string endpoint = protocol::store::kEndpoint;
  std::chrono::milliseconds request_timeout{2000};
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{2000};
  // How long to keep retrying an operation; 0: forever (e.g. a master reading its registry).
  std::chrono::milliseconds give_up_after{30000};
  // Requests sent and not yet answered, at most; the others wait in the client, in order,
  // without their request_timeout running. The leader plugin serves one request at a time: with
  // thousands sent at once (10,000 agents registering), those at the back would wait past
  // their timeout, be sent again and be served twice, and the queue would only grow.
  size_t max_in_flight = 64;
};

// Writes for Store::write_batch(), gathered on the caller's thread. Keys are relative to the
// plugin's prefix, as in every Store call; values are encoded as put() encodes them.
class StoreBatch {
 public:
  template <typename T>
  void put(const std::string& key, const T& value) {
    msgpack::sbuffer buffer;
    msgpack::pack(buffer, value);
    bytes_ += key.size() + buffer.size();
    writes_.push_back(protocol::store::BatchWrite{key, std::string(buffer.data(), buffer.size())});
  }
  // `encoded`: a value already packed as msgpack (by put's rules), e.g. kept by a StoreWriter.
  void put_encoded(const std::string& key, std::string encoded) {
    bytes_ += key.size() + encoded.size();
    writes_.push_back(protocol::store::BatchWrite{key, std::move(encoded)});
  }
  void remove(const std::string& key) {
    bytes_ += key.size();
    writes_.push_back(protocol::store::BatchWrite{key, {}, true});
  }
  size_t size() const { return writes_.size(); }
  bool empty() const { return writes_.empty(); }
  // The keys and encoded values together (without the prefix), to keep a batch within
  // protocol::store::kMaxBatchBytes.
  size_t bytes() const { return bytes_; }

 private:
  friend class Store;
  std::vector<protocol::store::BatchWrite> writes_;
  size_t bytes_ = 0;
};

class Store {
 public:
  template <typename T>
  using Done = std::function<void(StoreResult<T>)>;

  Store(Bus& bus, Clock& clock, StoreOptions options = {})
      : bus_(bus),
        clock_(clock),
        options_(std::move(options)),
        prefix_(bus.sender + "/"),
        client_(bus, "store") {
    // Inproc, in one process: never drop a request for a full queue.
    client_.set_high_water_mark(0);
    connected_ = client_.connect(options_.endpoint);
    if (!connected_) bus_.log.error("store: {}", connected_.error().message);
  }
  ~Store() {
    *alive_ = false;
    for (Clock::TimerId timer : timers_) clock_.cancel(timer);
  }
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // "NAME/": where this plugin's keys live.
  const std::string& prefix() const { return prefix_; }
  // The bus and clock it was made with (for helpers built on it, such as StoreWriter).
  Bus& bus() const { return bus_; }
  Clock& clock() const { return clock_; }

  // Fences writes to `leadership`'s term (see the top); null turns fencing off.
  void fence_with(const Leadership* leadership) { leadership_ = leadership; }

  // Operations waiting for an answer or for their next attempt.
  size_t in_flight() const { return operations_; }
  // Attempts sent again since the store was made (no answer in time, or the store failed).
  uint64_t retries() const { return retries_; }
  // Pages asked for after the first of a listing, since the store was made.
  uint64_t pages() const { return pages_; }

  // The value at `key`, or nullopt when the key is absent.
  template <typename T>
  void get(const std::string& key, Done<std::optional<Versioned<T>>> done) {
    auto op = start("get", key, Kind::kRead);
    if (!op) return refuse(std::move(done));
    op->send = [this](const OperationPtr& o) { transmit(protocol::store::Get{o->key}, o); };
    op->finish = [this, key, done = std::move(done)](Outcome outcome) {
      if (!outcome) return done(outcome.error());
      if (outcome->entries.empty()) return done(std::optional<Versioned<T>>());
      auto value = decode<T>(outcome->entries.front().value, "get", prefix_ + key);
      if (!value) return done(std::move(value.error()));
      return done(std::optional<Versioned<T>>(
          Versioned<T>{key, std::move(*value), outcome->entries.front().version}));
    };
    submit(op);
  }

  // Writes `value` and gives the key's new version.
  template <typename T>
  void put(const std::string& key, const T& value, Done<uint64_t> done = {}) {
    msgpack::sbuffer buffer;
    msgpack::pack(buffer, value);
    put_encoded(key, std::string(buffer.data(), buffer.size()), std::move(done));
  }

  // put() of a value already packed as msgpack (StoreBatch::put_encoded).
  void put_encoded(const std::string& key, std::string encoded, Done<uint64_t> done = {}) {
    auto op = start("put", key, Kind::kWrite);
    if (!op) return refuse(std::move(done));
    if (!take_encoded(*op, std::move(encoded))) return refuse(std::move(done));
    op->send = [this](const OperationPtr& o) {
      transmit(protocol::store::Put{o->key, o->value, o->epoch}, o);
    };
    op->finish = version_of(std::move(done));
    submit(op);
  }

  // Writes `value` only if the key is at `expected_version` (0: only if absent); otherwise
  // fails with kConflict and the key's current version in StoreError::version.
  template <typename T>
  void compare_and_set(const std::string& key, uint64_t expected_version, const T& value,
                       Done<uint64_t> done = {}) {
    auto op = start("compare-and-set", key, Kind::kCompareAndSet);
    if (!op) return refuse(std::move(done));
    if (!encode(*op, value)) return refuse(std::move(done));
    op->expected_version = expected_version;
    op->send = [this](const OperationPtr& o) {
      transmit(protocol::store::CompareAndSet{o->key, o->expected_version, o->value, o->epoch}, o);
    };
    op->finish = version_of(std::move(done));
    submit(op);
  }

  // Deletes `key` and gives the version it had; kNotFound when it was absent.
  void remove(const std::string& key, Done<uint64_t> done = {}) {
    auto op = start("delete", key, Kind::kDelete);
    if (!op) return refuse(std::move(done));
    op->send = [this](const OperationPtr& o) {
      transmit(protocol::store::Delete{o->key, o->epoch}, o);
    };
    op->finish = version_of(std::move(done));
    submit(op);
  }

  // Applies `batch`'s writes in order as one request (protocol::store::Batch) and gives each
  // write's new version (a removal: the version the key had, 0 when it was absent, which is not
  // an error). Fenced and retried as a single write is. A batch that is empty, over
  // kMaxBatchWrites or kMaxBatchBytes, or with a bad key or value fails before anything is sent
  // (kInvalid, kTooLarge). Atomic with leader_standalone only (see protocol::store::Batch).
  void write_batch(StoreBatch batch, Done<std::vector<uint64_t>> done) {
    auto op =
        start("batch", batch.empty() ? std::string() : batch.writes_.front().key, Kind::kWrite);
    if (!op) return refuse(std::move(done));
    if (auto why = batch_problem(batch)) {
      refused(why->first, *op, why->second);
      return refuse(std::move(done));
    }
    for (auto& write : batch.writes_) write.key = prefix_ + write.key;
    op->writes = std::move(batch.writes_);
    op->send = [this](const OperationPtr& o) {
      transmit(protocol::store::Batch{o->writes, o->epoch}, o);
    };
    op->finish = [done = std::move(done), count = op->writes.size()](Outcome outcome) {
      if (!done) return;
      if (!outcome) return done(outcome.error());
      if (outcome->entries.size() != count) {
        return done(StoreError{StoreCode::kUnavailable,
                               "store: batch: the answer holds " +
                                   std::to_string(outcome->entries.size()) + " versions for " +
                                   std::to_string(count) + " writes"});
      }
      std::vector<uint64_t> versions;
      versions.reserve(count);
      for (const auto& entry : outcome->entries) versions.push_back(entry.version);
      done(std::move(versions));
    };
    submit(op);
  }

  // Every entry whose key starts with `sub_prefix` (relative; "" lists all of this plugin's
  // keys), in key order. The leader plugin answers in pages (protocol::store::List); they are
  // asked for one after the other and given together, so any number of keys can be listed.
  template <typename T>
  void list(const std::string& sub_prefix, Done<Listing<T>> done) {
    auto op = start("list", sub_prefix, Kind::kList);
    if (!op) return refuse(std::move(done));
    op->send = [this](const OperationPtr& o) {
      transmit(protocol::store::List{o->key, o->listed_after, 0}, o);
    };
    op->finish = [this, done = std::move(done)](Outcome outcome) {
      if (!outcome) return done(outcome.error());
      Listing<T> listing;
      for (auto& entry : outcome->entries) {
        std::string key = relative(entry.key);
        auto value = decode<T>(entry.value, "list", entry.key);
        if (!value) {
          bus_.log.warn("{}; skipped", value.error().message);
          listing.unreadable.push_back(std::move(key));
          continue;
        }
        listing.entries.push_back(Versioned<T>{std::move(key), std::move(*value), entry.version});
      }
      done(std::move(listing));
    };
    submit(op);
  }

 private:
  enum class Kind { kRead, kList, kWrite, kCompareAndSet, kDelete };
  using Outcome = StoreResult<protocol::store::Result>;
  struct Operation;
  using OperationPtr = std::shared_ptr<Operation>;

  struct Operation {
    std::string what;  // "put 'framework_x/apps/web'", for messages
    std::string key;   // the full key (or prefix, for a list)
    std::string value;
    std::vector<protocol::store::BatchWrite> writes;  // a batch's, keys with the prefix
    std::vector<protocol::store::Entry> listed;       // a list's pages before the current one
    std::string listed_after;                         // the key the current page starts after
    uint64_t expected_version = 0;
    uint64_t epoch = 0;
    Kind kind = Kind::kRead;
    int attempts = 0;
    std::chrono::milliseconds backoff{0};
    Clock::Monotonic::time_point started;
    std::function<void(const OperationPtr&)> send;  // sends one attempt
    std::function<void(Outcome)> finish;
  };

  // A new operation on `key` (relative), or null with refused_ set when it cannot be sent.
  OperationPtr start(const char* verb, const std::string& key, Kind kind) {
    auto op = std::make_shared<Operation>();
    op->key = prefix_ + key;
    op->what = std::string(verb) + " " + protocol::store::quote_key(op->key);
    op->kind = kind;
    op->backoff = options_.backoff_initial;
    op->started = clock_.now();
    if (!connected_) return refused(StoreCode::kUnavailable, *op, connected_.error().message);
    if (kind != Kind::kList && key.empty()) {
      return refused(StoreCode::kInvalid, *op, "the key is empty");
    }
    if (op->key.size() > protocol::store::kMaxKeyBytes) {
      return refused(StoreCode::kTooLarge, *op,
                     "the key is " + std::to_string(op->key.size()) +
                         " bytes with its prefix, more than the limit of " +
                         std::to_string(protocol::store::kMaxKeyBytes));
    }
    bool write = kind == Kind::kWrite || kind == Kind::kCompareAndSet || kind == Kind::kDelete;
    if (write && leadership_ != nullptr) {
      if (!leadership_->leading()) {
        return refused(StoreCode::kFenced, *op,
                       "this host is not leading (its writes are fenced to the leader's term)");
      }
      op->epoch = leadership_->epoch();
    }
    return op;
  }

  // Why a batch cannot be sent, or nothing.
  std::optional<std::pair<StoreCode, std::string>> batch_problem(const StoreBatch& batch) const {
    namespace store = protocol::store;
    if (batch.empty()) return std::pair{StoreCode::kInvalid, std::string("the batch is empty")};
    if (batch.size() > store::kMaxBatchWrites) {
      return std::pair{StoreCode::kTooLarge, std::to_string(batch.size()) +
                                                 " writes, more than the limit of " +
                                                 std::to_string(store::kMaxBatchWrites)};
    }
    if (batch.bytes() + batch.size() * prefix_.size() > store::kMaxBatchBytes) {
      return std::pair{StoreCode::kTooLarge, "its keys and values take more than the limit of " +
                                                 std::to_string(store::kMaxBatchBytes) + " bytes"};
    }
    for (const auto& write : batch.writes_) {
      if (write.key.empty()) return std::pair{StoreCode::kInvalid, std::string("a key is empty")};
      if (prefix_.size() + write.key.size() > store::kMaxKeyBytes) {
        return std::pair{StoreCode::kTooLarge, "the key " + store::quote_key(prefix_ + write.key) +
                                                   " is over the limit of " +
                                                   std::to_string(store::kMaxKeyBytes) + " bytes"};
      }
      if (write.value.size() > store::kMaxValueBytes) {
        return std::pair{StoreCode::kTooLarge,
                         "the value of " + store::quote_key(prefix_ + write.key) +
                             " is over the limit of " + std::to_string(store::kMaxValueBytes) +
                             " bytes (1 MiB)"};
      }
    }
    return std::nullopt;
  }

  OperationPtr refused(StoreCode code, const Operation& op, const std::string& why) {
    refused_ = StoreError{code, "store: " + op.what + ": " + why};
    return nullptr;
  }

  template <typename T>
  bool encode(Operation& op, const T& value) {
    msgpack::sbuffer buffer;
    msgpack::pack(buffer, value);
    return take_encoded(op, std::string(buffer.data(), buffer.size()));
  }
  bool take_encoded(Operation& op, std::string encoded) {
    if (encoded.size() > protocol::store::kMaxValueBytes) {
      refused(StoreCode::kTooLarge, op,
              "the value is " + std::to_string(encoded.size()) + " bytes, more than the limit of " +
                  std::to_string(protocol::store::kMaxValueBytes) + " (1 MiB)");
      return false;
    }
    op.value = std::move(encoded);
    return true;
  }

  // Calls `done` with refused_, after the current call returns.
  template <typename T>
  void refuse(Done<T> done) {
    if (!done) return;
    bus_.loop->post([alive = alive_, error = refused_, done = std::move(done)] {
      if (*alive) done(error);
    });
  }

  template <typename T>
  StoreResult<T> decode(const std::string& bytes, const char* verb, const std::string& key) {
    T value{};
    try {
      msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
      handle.get().convert(value);
    } catch (const std::exception& e) {
      return StoreError{StoreCode::kInvalid, std::string("store: ") + verb + " " +
                                                 protocol::store::quote_key(key) +
                                                 ": the value does not decode: " + e.what()};
    }
    return value;
  }

  std::function<void(Outcome)> version_of(Done<uint64_t> done) {
    return [done = std::move(done)](Outcome outcome) {
      if (!done) return;
      if (!outcome) return done(outcome.error());
      done(outcome->version);
    };
  }

  std::string relative(const std::string& key) const {
    return key.compare(0, prefix_.size(), prefix_) == 0 ? key.substr(prefix_.size()) : key;
  }

  void submit(const OperationPtr& op) {
    ++operations_;
    op->send(op);
  }

  template <typename Message>
  void transmit(const Message& message, const OperationPtr& op) {
    ++op->attempts;
    request(message, [this, op](Result<Envelope> reply) { answered(op, std::move(reply)); });
  }

  // Sends `message` now if fewer than max_in_flight requests are out (and none waits before
  // it), else when its turn comes.
  template <typename Message>
  void request(const Message& message, Client::ReplyHandler on_reply) {
    auto send = [this, message, on_reply = std::move(on_reply)]() mutable {
      ++requests_out_;
      client_.request(
          message,
          [this, on_reply = std::move(on_reply)](Result<Envelope> reply) {
            --requests_out_;
            // The next one goes out first: the handler may send more, which queue behind it.
            send_waiting();
            on_reply(std::move(reply));
          },
          options_.request_timeout);
    };
    if (waiting_.empty() && requests_out_ < std::max<size_t>(1, options_.max_in_flight)) {
      send();
    } else {
      waiting_.push_back(std::move(send));
    }
  }

  void send_waiting() {
    while (!waiting_.empty() && requests_out_ < std::max<size_t>(1, options_.max_in_flight)) {
      auto next = std::move(waiting_.front());
      waiting_.pop_front();
      next();
    }
  }

  void answered(const OperationPtr& op, Result<Envelope> reply) {
    if (!reply) return retry(op, "no answer from the leader plugin");
    auto result = reply->body<protocol::store::Result>();
    if (!reply->is<protocol::store::Result>() || !result) {
      return finish(
          op, StoreError{StoreCode::kUnavailable,
                         "store: " + op->what + ": unexpected answer " + quote(reply->type())});
    }
    if (result->ok && op->kind == Kind::kList) return listed_page(op, std::move(*result));
    if (result->ok) return finish(op, std::move(*result));
    StoreCode code = code_of(*result);
    if (code == StoreCode::kUnavailable) return retry(op, result->error);
    bool retried = op->attempts > 1;
    if (retried && code == StoreCode::kConflict && op->kind == Kind::kCompareAndSet) {
      return check_own_write(op, std::move(*result));
    }
    if (retried && code == StoreCode::kNotFound && op->kind == Kind::kDelete) {
      // An earlier attempt deleted it and its answer was lost.
      protocol::store::Result gone;
      gone.ok = true;
      return finish(op, std::move(gone));
    }
    finish(op, StoreError{code, "store: " + op->what + ": " + result->error, result->version});
  }

  // A page of a listing: asks for the next one while the plugin says there is more, and gives
  // every page's entries together after the last.
  void listed_page(const OperationPtr& op, protocol::store::Result page) {
    if (page.more && !page.entries.empty()) {
      if (page.entries.back().key <= op->listed_after) {
        return finish(op,
                      StoreError{StoreCode::kUnavailable,
                                 "store: " + op->what +
                                     ": the leader plugin's pages do not advance (a page "
                                     "ends at " +
                                     protocol::store::quote_key(page.entries.back().key) + ")"});
      }
      op->listed_after = page.entries.back().key;
      std::move(page.entries.begin(), page.entries.end(), std::back_inserter(op->listed));
      // Each page gets the whole retry budget, as a request of its own.
      op->started = clock_.now();
      op->backoff = options_.backoff_initial;
      ++pages_;
      return op->send(op);
    }
    if (!op->listed.empty()) {
      std::move(page.entries.begin(), page.entries.end(), std::back_inserter(op->listed));
      page.entries = std::move(op->listed);
    }
    page.more = false;
    finish(op, std::move(page));
  }

  // A retried compare-and-set met a conflict: its own earlier attempt may be what moved the
  // version. Reads the key to tell.
  void check_own_write(const OperationPtr& op, protocol::store::Result conflict) {
    request(protocol::store::Get{op->key}, [this, op, conflict = std::move(conflict)](
                                               Result<Envelope> reply) {
      auto result = reply ? reply->body<protocol::store::Result>()
                          : Result<protocol::store::Result>(reply.error());
      if (result && result->ok && result->entries.size() == 1 &&
          result->entries[0].version == op->expected_version + 1 &&
          result->entries[0].value == op->value) {
        protocol::store::Result applied;
        applied.ok = true;
        applied.version = result->entries[0].version;
        return finish(op, std::move(applied));
      }
      finish(op, StoreError{StoreCode::kConflict, "store: " + op->what + ": " + conflict.error,
                            conflict.version});
    });
  }

  static StoreCode code_of(const protocol::store::Result& result) {
    namespace code = protocol::store::code;
    const std::string& c = result.code;
    if (c == code::kConflict || (c.empty() && result.conflict)) return StoreCode::kConflict;
    if (c == code::kNotFound) return StoreCode::kNotFound;
    if (c == code::kPermissionDenied) return StoreCode::kPermissionDenied;
    if (c == code::kTooLarge) return StoreCode::kTooLarge;
    if (c == code::kFenced) return StoreCode::kFenced;
    if (c == code::kInvalid) return StoreCode::kInvalid;
    // A plugin older than codes said "not found" only in words.
    if (c.empty() && result.error.find("not found") != std::string::npos) {
      return StoreCode::kNotFound;
    }
    return StoreCode::kUnavailable;
  }

  void retry(const OperationPtr& op, const std::string& why) {
    auto elapsed = clock_.now() - op->started + op->backoff;
    if (options_.give_up_after.count() > 0 && elapsed > options_.give_up_after) {
      auto seconds = std::chrono::duration<double>(clock_.now() - op->started).count();
      return finish(
          op, StoreError{StoreCode::kUnavailable,
                         "store: " + op->what + ": gave up after " + std::to_string(op->attempts) +
                             " attempt(s) in " + fmt::format("{:.1f}", seconds) + " s: " + why});
    }
    bus_.log.debug("store: {}: {}; retrying in {} ms", op->what, why, op->backoff.count());
    ++retries_;
    auto timer = std::make_shared<Clock::TimerId>(0);
    *timer = clock_.after(op->backoff, [this, op, timer] {
      timers_.erase(*timer);
      op->send(op);
    });
    timers_.insert(*timer);
    op->backoff = std::min(op->backoff * 2, options_.backoff_max);
  }

  void finish(const OperationPtr& op, Outcome outcome) {
    --operations_;
    if (op->finish) op->finish(std::move(outcome));
  }

  Bus& bus_;
  Clock& clock_;
  StoreOptions options_;
  std::string prefix_;
  Client client_;
  Status connected_;
  const Leadership* leadership_ = nullptr;
  StoreError refused_;
  std::set<Clock::TimerId> timers_;
  size_t requests_out_ = 0;
  std::deque<std::function<void()>> waiting_;  // requests waiting for their turn to be sent
  size_t operations_ = 0;
  uint64_t retries_ = 0;
  uint64_t pages_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tessera::sdk
