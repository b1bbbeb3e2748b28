// The message envelope and codec: what every Tessera socket carries.
//
// On the wire one message is one ZeroMQ frame holding a msgpack map:
//   {"type": str, "v": uint, "from": str, "seq": uint, "corr": uint, "body": map}
// `type` names the message ("example.ping"), `v` is the schema version the sender wrote,
// `from` the sending plugin or node, `seq` the sender's sequence number, `corr` the sequence
// number of the request a reply answers (0 when none), `body` the message's own fields as a
// map keyed by field name.
//
// Schema evolution (the rules that let an old plugin talk to a new host):
// - Adding a field is compatible: a reader that does not know it ignores it; a reader whose
//   writer did not send it keeps the field's default value.
// - Renaming, removing with a different meaning or changing a field's type is breaking: that
//   is a new message type (e.g. "agent.register2"), never a new `v` of the old one.
// - `v` is informational (logged, usable to branch on), bumped when fields are added.
//
// A message body is a struct with a type name, a schema version and its fields:
//
//   struct Ping {
//     static constexpr const char* kType = "example.ping";
//     static constexpr uint32_t kSchema = 1;
//     std::string text;
//     uint64_t sent_ns = 0;
//     TESSERA_MSGPACK_MAP(text, sent_ns);
//   };
//
// TESSERA_MSGPACK_MAP (tessera/msgpack_map.h) writes what msgpack-c's MSGPACK_DEFINE_MAP writes
// and reads it without copying the keys into a std::map first; a plugin may use either.
//
// Limits: nothing from the wire is trusted, so a received frame is checked against
// MessageLimits before anything is allocated for it. A frame larger than `max_bytes` is refused
// unread; a cheap scan that allocates nothing then refuses a frame whose arrays and maps
// declare more values than `max_values` (or than the frame has bytes: each value takes at
// least one), or nest deeper than `max_depth`; only then is it unpacked, with the same bounds
// given to msgpack's unpack_limit as a second line. Unpacking costs about 24 bytes per value
// plus the strings, so one message costs at most about 24 x max_values + 2 x max_bytes of
// memory (about 56 MiB with the defaults) however it is built: without these bounds a 60 MB
// frame of nils cost the master 1.5 GB. The channels (sdk/channels.h) apply the same
// max_bytes as ZMQ_MAXMSGSIZE, so a tcp peer sending a larger frame is disconnected by ZeroMQ
// before the frame is read.
//
// Header-only. Envelope values own their bytes (the unpacked zone); they are movable, not
// copyable, and like every value not safe to share between threads without synchronisation.
#pragma once

#include <algorithm>
#include <cstdint>
#include <msgpack.hpp>
#include <string>
#include <string_view>

#include "tessera/msgpack_map.h"
#include "tessera/result.h"
#include "tessera/sdk/logger.h"

// For a message with no fields (TESSERA_MSGPACK_MAP needs at least one): its body is {}.
#define TESSERA_NO_FIELDS()                                      \
  template <typename Packer>                                     \
  void msgpack_pack(Packer& packer) const {                      \
    packer.pack_map(0);                                          \
  }                                                              \
  void msgpack_unpack(const msgpack::object&) {}                 \
  template <typename MSGPACK_OBJECT>                             \
  void msgpack_object(MSGPACK_OBJECT* o, msgpack::zone&) const { \
    o->type = msgpack::type::MAP;                                \
    o->via.map.size = 0;                                         \
    o->via.map.ptr = nullptr;                                    \
  }

namespace tessera {

// What one received message may cost (see the top of this file). Every channel has these
// limits (Bus::limits, or the channel's own set_limits()); raise them for a peer that is
// trusted and sends large messages, such as a CLI reading a big cluster's state.
struct MessageLimits {
  // One frame's size, in bytes: ZMQ_MAXMSGSIZE on the socket, and checked before decoding.
  size_t max_bytes = size_t{16} << 20;
  // Values in one message, counting every array element and every map key and value.
  size_t max_values = size_t{1} << 20;
  // Nesting of arrays and maps (the envelope itself is 2 deep; the deepest protocol message,
  // a task's port ranges inside a re-registering agent's task list, is under 10).
  size_t max_depth = 32;
};

// The header every message carries.
struct Header {
  std::string type;
  uint32_t schema = 1;
  std::string sender;
  uint64_t sequence = 0;
  uint64_t correlation = 0;
};

// A decoded message: its header and its still-encoded body, converted on demand by body<T>().
class Envelope {
 public:
  Envelope() = default;
  Envelope(Envelope&&) = default;
  Envelope& operator=(Envelope&&) = default;

  const Header& header() const { return header_; }
  const std::string& type() const { return header_.type; }

  // True when this message is of type T.
  template <typename T>
  bool is() const {
    return header_.type == T::kType;
  }

  // Converts the body to T. Missing fields keep T's defaults, unknown fields are ignored; a
  // field of the wrong type is an error naming the message type.
  template <typename T>
  Result<T> body() const {
    T value{};
    if (body_ == nullptr) return value;
    try {
      body_->convert(value);
    } catch (const std::exception& e) {
      return make_error(ErrorCode::kInvalidArgument,
                        "message " + sdk::quote(header_.type) + " schema " +
                            std::to_string(header_.schema) + ": body does not match: " + e.what());
    }
    return value;
  }

  // Decodes one frame. Anything that is not a well-formed envelope, or is beyond `limits`, is
  // an error (ErrorCode::kInvalidArgument) that says what was wrong, never an exception or a
  // crash.
  static Result<Envelope> decode(const void* data, size_t size, const MessageLimits& limits = {});

 private:
  Header header_;
  msgpack::object_handle handle_;
  const msgpack::object* body_ = nullptr;
};

namespace detail {

inline void pack_header(msgpack::packer<msgpack::sbuffer>& packer, const Header& header) {
  packer.pack_str(4);
  packer.pack_str_body("type", 4);
  packer.pack(header.type);
  packer.pack_str(1);
  packer.pack_str_body("v", 1);
  packer.pack(header.schema);
  packer.pack_str(4);
  packer.pack_str_body("from", 4);
  packer.pack(header.sender);
  packer.pack_str(3);
  packer.pack_str_body("seq", 3);
  packer.pack(header.sequence);
  packer.pack_str(4);
  packer.pack_str_body("corr", 4);
  packer.pack(header.correlation);
}

inline bool key_is(const msgpack::object& key, std::string_view name) {
  return key.type == msgpack::type::STR &&
         std::string_view(key.via.str.ptr, key.via.str.size) == name;
}

// Walks a frame without allocating anything and stops at the first container that would take
// it past the limits. Each value takes at least one byte, so a frame that declares more
// values than it has bytes is refused too: msgpack would allocate the declared count first.
class ValueCounter : public msgpack::null_visitor {
 public:
  ValueCounter(const MessageLimits& limits, size_t frame_bytes)
      : budget_(std::min(limits.max_values, frame_bytes)), max_depth_(limits.max_depth) {}

  bool start_array(uint32_t elements) { return open(elements); }
  bool end_array() { return close(); }
  bool start_map(uint32_t entries) { return open(uint64_t{entries} * 2); }
  bool end_map() { return close(); }
  void parse_error(size_t /*parsed*/, size_t /*at*/) { malformed_ = true; }
  void insufficient_bytes(size_t /*parsed*/, size_t /*at*/) { malformed_ = true; }

  // Why the walk stopped ("" when the frame is within the limits).
  std::string problem(const MessageLimits& limits, size_t frame_bytes) const {
    if (too_deep_) {
      return "message nests arrays and maps deeper than the limit of " +
             std::to_string(limits.max_depth);
    }
    if (values_ > limits.max_values) {
      return "message declares more than " + std::to_string(limits.max_values) +
             " values, the limit";
    }
    if (values_ > frame_bytes) {
      return "message declares " + std::to_string(values_) + " values in " +
             std::to_string(frame_bytes) + " bytes";
    }
    if (malformed_) return "not a msgpack message";
    return "";
  }

 private:
  bool open(uint64_t values) {
    values_ += values;
    if (++depth_ > max_depth_) too_deep_ = true;
    return !too_deep_ && values_ <= budget_;
  }
  bool close() {
    --depth_;
    return true;
  }

  uint64_t budget_;
  size_t max_depth_;
  uint64_t values_ = 0;
  size_t depth_ = 0;
  bool too_deep_ = false;
  bool malformed_ = false;
};

}  // namespace detail

// The body of a message of type T, packed already (msgpack of a T): a sender that sends the
// same body many times (a registration resent to each new master) packs it once. The bytes
// are not owned: they must outlive the encode() call.
template <typename T>
struct PackedBody {
  std::string_view bytes;
};

namespace detail {

// Clears `out` and writes the envelope up to its body, which the caller appends last.
template <typename T>
void pack_envelope_head(msgpack::sbuffer& out, Header header) {
  out.clear();
  header.type = T::kType;
  header.schema = T::kSchema;
  msgpack::packer<msgpack::sbuffer> packer(out);
  packer.pack_map(6);
  pack_header(packer, header);
  packer.pack_str(4);
  packer.pack_str_body("body", 4);
}

}  // namespace detail

// Encodes a message into `out` (cleared first). `header.type` and `header.schema` are taken
// from T.
template <typename T>
void encode(msgpack::sbuffer& out, Header header, const T& body) {
  detail::pack_envelope_head<T>(out, std::move(header));
  msgpack::pack(out, body);
}

// The same with a body packed already: its bytes are copied as they are, so they must be one
// msgpack map (what packing a T gives); nothing checks them here.
template <typename T>
void encode(msgpack::sbuffer& out, Header header, PackedBody<T> body) {
  detail::pack_envelope_head<T>(out, std::move(header));
  out.write(body.bytes.data(), body.bytes.size());
}

template <typename T>
std::string encode(Header header, const T& body) {
  msgpack::sbuffer buffer;
  encode(buffer, std::move(header), body);
  return std::string(buffer.data(), buffer.size());
}

inline Result<Envelope> Envelope::decode(const void* data, size_t size,
                                         const MessageLimits& limits) {
  auto invalid = [](std::string why) {
    return make_error(ErrorCode::kInvalidArgument, std::move(why));
  };
  if (size > limits.max_bytes) {
    return invalid("message of " + std::to_string(size) + " bytes is larger than the limit of " +
                   std::to_string(limits.max_bytes));
  }
  const char* bytes = static_cast<const char*>(data);
  detail::ValueCounter counter(limits, size);
  size_t offset = 0;
  bool scanned = false;
  try {
    scanned = msgpack::parse(bytes, size, offset, counter);
  } catch (const std::exception& e) {
    return invalid(std::string("not a msgpack message: ") + e.what());
  }
  if (!scanned) {
    std::string why = counter.problem(limits, size);
    return invalid(why.empty() ? "not a msgpack message" : why);
  }
  Envelope envelope;
  try {
    msgpack::unpack_limit unpack_limits(limits.max_values, limits.max_values / 2, limits.max_bytes,
                                        limits.max_bytes, limits.max_bytes, limits.max_depth);
    envelope.handle_ = msgpack::unpack(bytes, size, nullptr, nullptr, unpack_limits);
  } catch (const std::exception& e) {
    return invalid(std::string("not a msgpack message: ") + e.what());
  }
  const msgpack::object& root = envelope.handle_.get();
  if (root.type != msgpack::type::MAP) return invalid("message is not a msgpack map");
  bool has_type = false;
  try {
    for (uint32_t i = 0; i < root.via.map.size; ++i) {
      const msgpack::object_kv& kv = root.via.map.ptr[i];
      if (detail::key_is(kv.key, "type")) {
        kv.val.convert(envelope.header_.type);
        has_type = true;
      } else if (detail::key_is(kv.key, "v")) {
        kv.val.convert(envelope.header_.schema);
      } else if (detail::key_is(kv.key, "from")) {
        kv.val.convert(envelope.header_.sender);
      } else if (detail::key_is(kv.key, "seq")) {
        kv.val.convert(envelope.header_.sequence);
      } else if (detail::key_is(kv.key, "corr")) {
        kv.val.convert(envelope.header_.correlation);
      } else if (detail::key_is(kv.key, "body")) {
        if (kv.val.type != msgpack::type::MAP) return invalid("message body is not a map");
        envelope.body_ = &kv.val;
      }
      // Unknown envelope keys are ignored: a newer sender may add some.
    }
  } catch (const std::exception& e) {
    return invalid(std::string("message header field has the wrong type: ") + e.what());
  }
  if (!has_type || envelope.header_.type.empty()) return invalid("message has no type");
  return envelope;
}

}  // namespace tessera
