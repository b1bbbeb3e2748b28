#include "zk_layout.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>

#include "tessera/sdk/config.h"
#include "tessera/sdk/logger.h"

namespace tessera::leader::zk {

namespace {

constexpr std::string_view kStoreMagic = "tsk1";
constexpr size_t kMaxPathBytes = 512;
constexpr size_t kMaxBlobNameBytes = 128;

Error invalid(const std::string& message) {
  return make_error(ErrorCode::kInvalidArgument, message);
}

std::string trim(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
}

bool plain_byte(unsigned char c) {
  return std::isalnum(c) != 0 || c == '.' || c == '_' || c == '-';
}

std::optional<uint64_t> parse_decimal(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

void put_u64(std::string& out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((value >> shift) & 0xff);
}

uint64_t get_u64(std::string_view in) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8; ++i) value = (value << 8) | static_cast<unsigned char>(in[i]);
  return value;
}

}  // namespace

Result<std::string> check_servers(std::string_view servers) {
  std::string out;
  size_t start = 0;
  while (start <= servers.size()) {
    size_t comma = servers.find(',', start);
    if (comma == std::string_view::npos) comma = servers.size();
    std::string item = trim(std::string(servers.substr(start, comma - start)));
    start = comma + 1;
    if (item.empty()) return invalid("an empty server in " + sdk::quote(servers));
    std::string problem = sdk::detail::tcp_problem(item, sdk::EndpointUse::connect);
    if (!problem.empty()) {
      return invalid("server " + sdk::quote(item) + " " +
                     problem.substr(0, problem.find(": expected")) +
                     ": expected HOST:PORT[,HOST:PORT...] such as '127.0.0.1:2181'");
    }
    out += (out.empty() ? "" : ",") + item;
  }
  if (out.empty()) return invalid("no ZooKeeper server given");
  return out;
}

std::string path_problem(std::string_view path) {
  if (path.empty() || path.front() != '/')
    return "must be an absolute znode path such as '/tessera'";
  if (path.size() > kMaxPathBytes) {
    return "is " + std::to_string(path.size()) + " bytes, more than " +
           std::to_string(kMaxPathBytes);
  }
  if (path.size() > 1 && path.back() == '/') return "must not end with '/'";
  if (path == "/") return "must name a znode below '/', such as '/tessera'";
  for (char c : path) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) return "may hold only printable ASCII without spaces";
  }
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view segment = path.substr(start, slash - start);
    if (segment.empty()) return "has an empty segment";
    if (segment == "." || segment == "..") return "has a '.' or '..' segment";
    start = slash + 1;
  }
  if (path == "/zookeeper" || path.rfind("/zookeeper/", 0) == 0) {
    return "is under '/zookeeper', which ZooKeeper reserves";
  }
  return "";
}

Result<Ensemble> parse_zk_address(std::string_view address) {
  constexpr std::string_view kScheme = "zk://";
  std::string text = trim(std::string(address));
  if (text.size() < kScheme.size() || text.compare(0, kScheme.size(), kScheme) != 0) {
    return invalid(sdk::quote(text) + " is not a ZooKeeper address: expected zk://HOST:PORT/PATH");
  }
  std::string_view rest = std::string_view(text).substr(kScheme.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    return invalid(sdk::quote(text) +
                   " names no path: expected zk://HOST:PORT[,HOST:PORT...]/PATH such as "
                   "'zk://127.0.0.1:2181/tessera'");
  }
  auto servers = check_servers(rest.substr(0, slash));
  if (!servers) return servers.error().context(sdk::quote(text));
  std::string path(rest.substr(slash));
  if (std::string problem = path_problem(path); !problem.empty()) {
    return invalid(sdk::quote(text) + ": the path " + sdk::quote(path) + " " + problem);
  }
  return Ensemble{*servers, path};
}

std::string candidate_data(const Candidate& candidate) {
  return "endpoint=" + candidate.endpoint + "\nmaster_id=" + candidate.master_id + "\n";
}

Result<Candidate> parse_candidate(std::string_view data) {
  if (data.size() > kMaxCandidateBytes) {
    return invalid("candidate data of " + std::to_string(data.size()) + " bytes, more than " +
                   std::to_string(kMaxCandidateBytes));
  }
  Candidate candidate;
  bool has_endpoint = false;
  bool has_id = false;
  size_t start = 0;
  while (start < data.size()) {
    size_t end = data.find('\n', start);
    if (end == std::string_view::npos) return invalid("candidate data without a final newline");
    std::string_view line = data.substr(start, end - start);
    start = end + 1;
    size_t equals = line.find('=');
    if (equals == std::string_view::npos) {
      return invalid("candidate data line " + sdk::quote(line) + " is not KEY=VALUE");
    }
    std::string_view key = line.substr(0, equals);
    std::string value(line.substr(equals + 1));
    // Unknown keys are what a newer version adds: they are skipped.
    if (key == "endpoint") {
      candidate.endpoint = value;
      has_endpoint = true;
    } else if (key == "master_id") {
      candidate.master_id = value;
      has_id = true;
    }
  }
  if (!has_endpoint || !has_id) return invalid("candidate data without its endpoint and master_id");
  std::string problem =
      sdk::detail::endpoint_problem(candidate.endpoint, sdk::EndpointUse::connect);
  if (!problem.empty()) return invalid("the candidate's endpoint " + problem);
  if (candidate.master_id.empty() || candidate.master_id.size() > 256) {
    return invalid("the candidate's master_id is empty or longer than 256 bytes");
  }
  return candidate;
}

std::optional<uint64_t> candidate_sequence(std::string_view name) {
  if (name.size() != kCandidatePrefix.size() + 10 ||
      name.compare(0, kCandidatePrefix.size(), kCandidatePrefix) != 0) {
    return std::nullopt;
  }
  return parse_decimal(name.substr(kCandidatePrefix.size()));
}

std::vector<std::string> order_candidates(std::vector<std::string> names) {
  std::vector<std::pair<uint64_t, std::string>> ordered;
  for (auto& name : names) {
    if (auto sequence = candidate_sequence(name)) ordered.emplace_back(*sequence, std::move(name));
  }
  std::sort(ordered.begin(), ordered.end());
  std::vector<std::string> out;
  out.reserve(ordered.size());
  for (auto& [sequence, name] : ordered) out.push_back(std::move(name));
  return out;
}

std::string epoch_data(uint64_t epoch) { return std::to_string(epoch); }

std::optional<uint64_t> parse_epoch(std::string_view data) { return parse_decimal(data); }

std::string encode_segment(std::string_view segment) {
  if (segment.empty()) return "%";
  std::string out;
  out.reserve(segment.size());
  bool dots = segment == "." || segment == "..";
  for (char c : segment) {
    auto byte = static_cast<unsigned char>(c);
    if (plain_byte(byte) && !(dots && c == '.')) {
      out += c;
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", byte);
      out += escaped;
    }
  }
  return out;
}

std::optional<std::string> decode_segment(std::string_view name) {
  if (name == "%") return std::string();
  std::string out;
  out.reserve(name.size());
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c != '%') {
      if (!plain_byte(static_cast<unsigned char>(c))) return std::nullopt;
      out += c;
      continue;
    }
    if (i + 2 >= name.size()) return std::nullopt;
    unsigned value = 0;
    auto [end, error] = std::from_chars(name.data() + i + 1, name.data() + i + 3, value, 16);
    if (error != std::errc() || end != name.data() + i + 3) return std::nullopt;
    out += static_cast<char>(value);
    i += 2;
  }
  // Only "%" encodes an empty segment, and the dots of "." and ".." are always escaped.
  if (name.empty() || name == "." || name == "..") return std::nullopt;
  return out;
}

std::vector<std::string> key_segments(std::string_view key) {
  std::vector<std::string> segments;
  size_t start = 0;
  while (true) {
    size_t slash = key.find('/', start);
    if (slash == std::string_view::npos) {
      segments.emplace_back(key.substr(start));
      return segments;
    }
    segments.emplace_back(key.substr(start, slash - start));
    start = slash + 1;
  }
}

std::string key_path(const std::string& store_root, std::string_view key) {
  std::string path = store_root;
  for (const auto& segment : key_segments(key)) path += "/" + encode_segment(segment);
  return path;
}

std::string store_node_data(const StoreNode& node) {
  std::string out(kStoreMagic);
  out += static_cast<char>(node.kind);
  put_u64(out, node.version);
  switch (node.kind) {
    case StoreNode::Kind::kDirectory:
      break;
    case StoreNode::Kind::kInline:
      out += node.value;
      break;
    case StoreNode::Kind::kChunked:
      put_u64(out, node.size);
      put_u64(out, node.chunks);
      out += node.blob;
      break;
  }
  return out;
}

Result<StoreNode> parse_store_node(std::string_view data) {
  constexpr size_t kHeader = 4 + 1 + 8;
  if (data.size() < kHeader || data.substr(0, 4) != kStoreMagic) {
    return invalid("a store znode of " + std::to_string(data.size()) +
                   " bytes without the store's header");
  }
  StoreNode node;
  node.kind = static_cast<StoreNode::Kind>(data[4]);
  node.version = get_u64(data.substr(5));
  std::string_view rest = data.substr(kHeader);
  switch (node.kind) {
    case StoreNode::Kind::kDirectory:
      if (node.version != 0 || !rest.empty()) return invalid("a malformed directory znode");
      return node;
    case StoreNode::Kind::kInline:
      if (node.version == 0) return invalid("a store znode with version 0");
      node.value = std::string(rest);
      return node;
    case StoreNode::Kind::kChunked: {
      if (node.version == 0 || rest.size() < 16) return invalid("a malformed chunked znode");
      node.size = get_u64(rest);
      uint64_t chunks = get_u64(rest.substr(8));
      node.blob = std::string(rest.substr(16));
      uint64_t needed = (node.size + kChunkBytes - 1) / kChunkBytes;
      // The size is bounded by what a value may be, the chunks must be exactly enough for it,
      // and the blob's name is one of ours (it becomes a znode path).
      if (node.size > size_t{64} * 1024 * 1024 || chunks != needed || chunks == 0 ||
          node.blob.empty() || node.blob.size() > kMaxBlobNameBytes ||
          !std::all_of(node.blob.begin(), node.blob.end(),
                       [](char c) { return plain_byte(static_cast<unsigned char>(c)); })) {
        return invalid("a malformed chunked znode");
      }
      node.chunks = static_cast<uint32_t>(chunks);
      return node;
    }
  }
  return invalid("a store znode of an unknown kind");
}

std::string chunk_name(const std::string& blob, uint32_t index) {
  return blob + "-" + std::to_string(index);
}

}  // namespace tessera::leader::zk
