// How leader_zookeeper lays Tessera's election and store out in ZooKeeper, as pure functions
// (no I/O), so that the plugin, the `zk://` master detector and the tests agree on it and it is
// unit-tested alone.
//
// Under the configured root path (e.g. /tessera):
//   ROOT/election/candidate-0000000007   ephemeral sequential, one per campaigning master; its
//                                        data is the master's endpoint and id (candidate_data);
//                                        the lowest sequence number leads
//   ROOT/epoch                           the leader's term: the znode's data version (its data
//                                        repeats it in decimal for people reading it)
//   ROOT/store/SEG/SEG/...               one znode per store key, the key split at '/' and each
//                                        segment escaped (encode_segment); its data is a
//                                        header and the value (store_node)
//   ROOT/blobs/NAME-I                    the chunks of a value too large for one znode
//
// Everything read back from ZooKeeper is checked before it is used: sizes are bounded, numbers
// parsed strictly, and anything malformed is an error rather than a guess.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/result.h"

namespace tessera::leader::zk {

// The largest znode data this plugin writes or reads: below ZooKeeper's default
// jute.maxbuffer (1 MiB less one byte) with room for the request's other fields.
inline constexpr size_t kMaxNodeBytes = size_t{512} * 1024;
// Values up to this size are kept in the key's own znode; larger ones in chunks.
inline constexpr size_t kInlineValueBytes = kMaxNodeBytes - 256;
// Candidate data (endpoint and master id) is small; anything larger is not ours.
inline constexpr size_t kMaxCandidateBytes = 4096;
// Children of one znode a store listing takes (a bound against a flooded directory): a listing
// under a znode with more is refused with an error naming it, never cut short. Each page of a
// listing reads the names of its parent's children again, so this also bounds that work.
inline constexpr size_t kMaxChildren = 1'000'000;

inline constexpr std::string_view kCandidatePrefix = "candidate-";

// The servers and root path of a ZooKeeper ensemble, as `servers` and `path` keys give them or
// as a `zk://HOST:PORT,HOST:PORT/PATH` address does.
struct Ensemble {
  std::string servers;  // "127.0.0.1:2181,127.0.0.1:2182", as zookeeper_init takes it
  std::string path;     // "/tessera": absolute, no trailing '/'
};

// Checks a servers list: comma-separated HOST:PORT, each a host name or address and a port
// from 1 to 65535. Returns the list without spaces, or why it is not one.
Result<std::string> check_servers(std::string_view servers);
// Checks a root path: absolute, no empty, "." or ".." segment, no trailing '/', printable
// ASCII without spaces, at most 512 bytes. Returns why not ("" when it is one).
std::string path_problem(std::string_view path);
// Parses `zk://HOST:PORT[,HOST:PORT...]/PATH`.
Result<Ensemble> parse_zk_address(std::string_view address);

// Candidates: what a campaigning master writes into its election znode.
struct Candidate {
  std::string endpoint;   // where agents and frameworks reach it (tcp://...)
  std::string master_id;  // the master's id
};
std::string candidate_data(const Candidate& candidate);
Result<Candidate> parse_candidate(std::string_view data);

// The sequence number of an election child ("candidate-0000000007" -> 7); nullopt for a name
// that is not a candidate's.
std::optional<uint64_t> candidate_sequence(std::string_view name);
// The election children in order of their sequence numbers (lowest, the leader, first);
// names that are not candidates' are left out.
std::vector<std::string> order_candidates(std::vector<std::string> names);

// The epoch znode's data (decimal text) and its check against the znode's version.
std::string epoch_data(uint64_t epoch);
std::optional<uint64_t> parse_epoch(std::string_view data);

// Store keys as znode paths: each '/'-separated segment escaped so that any bytes are a valid
// znode name: bytes other than [A-Za-z0-9._-] become %XX, an empty segment is "%", and "."
// and ".." are escaped as %2E.
std::string encode_segment(std::string_view segment);
std::optional<std::string> decode_segment(std::string_view name);
// The znode path of `key` under `store_root` (ROOT/store).
std::string key_path(const std::string& store_root, std::string_view key);
// The segments of `key`, split at '/'.
std::vector<std::string> key_segments(std::string_view key);

// A store znode's data: what it holds for its key.
struct StoreNode {
  enum class Kind : char {
    kDirectory = 'd',  // only a parent of other keys' znodes: the key itself is absent
    kInline = 'v',     // the value follows the header
    kChunked = 'c',    // the value is in chunks ROOT/blobs/BLOB-0 .. BLOB-(chunks-1)
  };
  Kind kind = Kind::kDirectory;
  uint64_t version = 0;  // the key's version (0 for a directory)
  std::string value;     // kInline: the value
  std::string blob;      // kChunked: the chunks' name
  uint64_t size = 0;     // kChunked: the value's size
  uint32_t chunks = 0;   // kChunked: how many chunks
};
std::string store_node_data(const StoreNode& node);
Result<StoreNode> parse_store_node(std::string_view data);
// The chunk names for a blob and the size of each chunk.
inline constexpr size_t kChunkBytes = kMaxNodeBytes;
std::string chunk_name(const std::string& blob, uint32_t index);

}  // namespace tessera::leader::zk
