// TESSERA_MSGPACK_MAP(field, ...): a struct's fields as a msgpack map keyed by field name, as
// msgpack-c's MSGPACK_DEFINE_MAP writes it, and read without building anything.
//
// The wire format is MSGPACK_DEFINE_MAP's (packing and msgpack::object are msgpack-c's own), so
// either side may use either macro. Only reading differs: msgpack-c's reader copies every key
// of the incoming map into a std::map<std::string, ...> and looks each field up there, for
// every object; the master re-admitting 10,000 agents after a failover spent 17% of its CPU
// decoding their registrations, most of it in that (docs/bench-failover.md). This reader walks the
// incoming keys once and matches each against the field names in place. What it accepts and yields
// is the same: a map with string keys (anything else is msgpack::type_error), unknown keys ignored,
// a field whose key is absent left as it was, and of a key given twice the first. One difference:
// when it throws (a non-string key, or a value of the wrong type), the fields read before that
// entry are already set, where msgpack-c's reader had changed nothing; readers here discard an
// object whose conversion threw.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <msgpack.hpp>
#include <string_view>
#include <tuple>
#include <utility>

namespace tessera::detail {

template <typename... Args>
class MsgpackMapReader {
 public:
  explicit MsgpackMapReader(Args&... args) : fields_(args...) {}

  void unpack(const msgpack::object& o) const {
    if (o.type != msgpack::type::MAP) throw msgpack::type_error();
    std::array<bool, kFields> seen{};
    for (uint32_t i = 0; i < o.via.map.size; ++i) {
      const msgpack::object_kv& kv = o.via.map.ptr[i];
      if (kv.key.type != msgpack::type::STR) throw msgpack::type_error();
      read(std::string_view(kv.key.via.str.ptr, kv.key.via.str.size), kv.val, seen,
           std::make_index_sequence<kFields>{});
    }
  }

 private:
  static_assert(sizeof...(Args) % 2 == 0, "names and fields in pairs");
  static constexpr size_t kFields = sizeof...(Args) / 2;

  template <size_t... I>
  void read(std::string_view key, const msgpack::object& value, std::array<bool, kFields>& seen,
            std::index_sequence<I...>) const {
    // The first field of that name takes the value (the rest of the fold is not evaluated).
    (void)((key == std::string_view(std::get<2 * I>(fields_)) && (take<I>(value, seen), true)) ||
           ...);
  }

  template <size_t I>
  void take(const msgpack::object& value, std::array<bool, kFields>& seen) const {
    if (seen[I]) return;
    seen[I] = true;
    msgpack::v1::type::convert_helper(value, std::get<2 * I + 1>(fields_));
  }

  std::tuple<Args&...> fields_;
};

template <typename... Args>
MsgpackMapReader<Args...> make_msgpack_map_reader(Args&... args) {
  return MsgpackMapReader<Args...>(args...);
}

}  // namespace tessera::detail

#define TESSERA_MSGPACK_MAP(...)                                                                  \
  template <typename Packer>                                                                      \
  void msgpack_pack(Packer& msgpack_pk) const {                                                   \
    msgpack::type::make_define_map MSGPACK_DEFINE_MAP_IMPL(__VA_ARGS__).msgpack_pack(msgpack_pk); \
  }                                                                                               \
  void msgpack_unpack(msgpack::object const& msgpack_o) {                                         \
    ::tessera::detail::make_msgpack_map_reader MSGPACK_DEFINE_MAP_IMPL(__VA_ARGS__)               \
        .unpack(msgpack_o);                                                                       \
  }                                                                                               \
  template <typename MSGPACK_OBJECT>                                                              \
  void msgpack_object(MSGPACK_OBJECT* msgpack_o, msgpack::zone& msgpack_z) const {                \
    msgpack::type::make_define_map MSGPACK_DEFINE_MAP_IMPL(__VA_ARGS__)                           \
        .msgpack_object(msgpack_o, msgpack_z);                                                    \
  }
