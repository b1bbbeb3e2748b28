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
//     MSGPACK_DEFINE_MAP(text, sent_ns);
//   };
//
// Header-only. Envelope values own their bytes (the unpacked zone); they are movable, not
// copyable, and like every value not safe to share between threads without synchronisation.
#pragma once

#include <cstdint>
#include <msgpack.hpp>
#include <string>
#include <string_view>

#include "tessera/result.h"

// For a message with no fields (MSGPACK_DEFINE_MAP needs at least one): its body is {}.
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
      return make_error("message '" + header_.type + "' schema " + std::to_string(header_.schema) +
                        ": body does not match: " + e.what());
    }
    return value;
  }

  // Decodes one frame. Anything that is not a well-formed envelope is an error that says what
  // was wrong, never an exception or a crash.
  static Result<Envelope> decode(const void* data, size_t size);

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

}  // namespace detail

// Encodes a message into `out` (cleared first). `header.type` and `header.schema` are taken
// from T.
template <typename T>
void encode(msgpack::sbuffer& out, Header header, const T& body) {
  out.clear();
  header.type = T::kType;
  header.schema = T::kSchema;
  msgpack::packer<msgpack::sbuffer> packer(out);
  packer.pack_map(6);
  detail::pack_header(packer, header);
  packer.pack_str(4);
  packer.pack_str_body("body", 4);
  packer.pack(body);
}

template <typename T>
std::string encode(Header header, const T& body) {
  msgpack::sbuffer buffer;
  encode(buffer, std::move(header), body);
  return std::string(buffer.data(), buffer.size());
}

inline Result<Envelope> Envelope::decode(const void* data, size_t size) {
  Envelope envelope;
  try {
    envelope.handle_ = msgpack::unpack(static_cast<const char*>(data), size);
  } catch (const std::exception& e) {
    return make_error(std::string("not a msgpack message: ") + e.what());
  }
  const msgpack::object& root = envelope.handle_.get();
  if (root.type != msgpack::type::MAP) return make_error("message is not a msgpack map");
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
        if (kv.val.type != msgpack::type::MAP) return make_error("message body is not a map");
        envelope.body_ = &kv.val;
      }
      // Unknown envelope keys are ignored: a newer sender may add some.
    }
  } catch (const std::exception& e) {
    return make_error(std::string("message header field has the wrong type: ") + e.what());
  }
  if (!has_type || envelope.header_.type.empty()) return make_error("message has no type");
  return envelope;
}

}  // namespace tessera
