// The rules every leader plugin enforces on store requests (tessera/protocol/store.h: prefixes,
// limits, fencing), as pure functions, so that every leader plugin refuses the same requests
// with the same codes and words. Each returns the refusal, or nothing when the request passes.
//
// Header-only, no state: call them from the plugin's loop thread before the request reaches
// the store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "tessera/protocol/store.h"
#include "tessera/sdk/logger.h"

namespace tessera::protocol::store {

struct Refusal {
  const char* code;  // one of code::*
  std::string message;
};

// The answer to a refused request: `code` (one of code::*) and why.
inline Result refused_result(const char* code, const std::string& error) {
  Result result;
  result.code = code;
  result.error = error;
  return result;
}

// "put 'k'": how a request is named in messages.
inline std::string describe_request(const char* verb, const std::string& key) {
  return std::string(verb) + " " + quote_key(key);
}

// The key (a list's prefix when `prefix`) of a request from `sender`: not empty, under the
// sender's "NAME/" (the envelope's claim: see the trust boundary in store.h), within
// kMaxKeyBytes.
inline std::optional<Refusal> check_key(const std::string& sender, const char* verb,
                                        const std::string& key, bool prefix) {
  std::string what = describe_request(verb, key);
  if (key.empty() && !prefix) return Refusal{code::kInvalid, what + ": the key is empty"};
  std::string own = sender + "/";
  if (sender.empty() || key.compare(0, own.size(), own) != 0) {
    return Refusal{
        code::kPermissionDenied,
        what + " refused: " +
            (sender.empty() ? std::string("the request names no sender")
                            : sdk::quote(sender) + " may only use keys under " + sdk::quote(own))};
  }
  if (key.size() > kMaxKeyBytes) {
    return Refusal{code::kTooLarge, what + ": the key is " + std::to_string(key.size()) +
                                        " bytes, more than the limit of " +
                                        std::to_string(kMaxKeyBytes)};
  }
  return std::nullopt;
}

inline std::optional<Refusal> check_value(const char* verb, const std::string& key,
                                          size_t value_size) {
  if (value_size <= kMaxValueBytes) return std::nullopt;
  return Refusal{code::kTooLarge, describe_request(verb, key) + ": the value is " +
                                      std::to_string(value_size) +
                                      " bytes, more than the limit of " +
                                      std::to_string(kMaxValueBytes) + " (1 MiB)"};
}

// A write of `epoch` to a store at `store_epoch`: refused when older (fenced: another master
// was elected since). Epoch 0 is a writer that never leads.
inline std::optional<Refusal> check_fenced(const char* verb, const std::string& key, uint64_t epoch,
                                           uint64_t store_epoch) {
  if (epoch == 0 || epoch >= store_epoch) return std::nullopt;
  return Refusal{code::kFenced, describe_request(verb, key) + " refused: epoch " +
                                    std::to_string(epoch) + " is over (the store is at epoch " +
                                    std::to_string(store_epoch) +
                                    ": another master was elected since)"};
}

// A write of an epoch newer than the store's did not come from the leader plugin.
inline Refusal unknown_epoch(const char* verb, const std::string& key, uint64_t epoch,
                             uint64_t store_epoch) {
  return Refusal{code::kInvalid, describe_request(verb, key) + " refused: epoch " +
                                     std::to_string(epoch) + " is newer than the store's epoch " +
                                     std::to_string(store_epoch) +
                                     " (it did not come from this leader plugin)"};
}

// The shape of a batch from `sender`: one write at least, within kMaxBatchWrites and
// kMaxBatchBytes, and every key and value as check_key and check_value want them. The epoch is
// checked once for the whole batch by the caller (check_fenced).
inline std::optional<Refusal> check_batch(const std::string& sender, const Batch& batch) {
  if (batch.writes.empty()) return Refusal{code::kInvalid, "batch: it holds no write"};
  if (batch.writes.size() > kMaxBatchWrites) {
    return Refusal{code::kTooLarge, "batch: " + std::to_string(batch.writes.size()) +
                                        " writes, more than the limit of " +
                                        std::to_string(kMaxBatchWrites)};
  }
  size_t bytes = 0;
  for (const BatchWrite& write : batch.writes) {
    const char* verb = write.remove ? "delete" : "put";
    if (auto refused = check_key(sender, verb, write.key, false)) return refused;
    if (auto refused = check_value(verb, write.key, write.value.size())) return refused;
    bytes += write.key.size() + write.value.size();
  }
  if (bytes > kMaxBatchBytes) {
    return Refusal{code::kTooLarge, "batch: its keys and values take " + std::to_string(bytes) +
                                        " bytes, more than the limit of " +
                                        std::to_string(kMaxBatchBytes)};
  }
  return std::nullopt;
}

// The error of a compare-and-set that expected `expected` (0: absent) and found `current`.
inline std::string conflict_message(const std::string& key, uint64_t expected, uint64_t current) {
  return "version conflict on key " + quote_key(key) + ": expected " +
         (expected == 0 ? std::string("it to be absent") : "version " + std::to_string(expected)) +
         ", " +
         (current == 0 ? std::string("it is absent")
                       : "it is at version " + std::to_string(current));
}

}  // namespace tessera::protocol::store
