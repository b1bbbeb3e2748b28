/*
 * The Tessera plugin ABI: the only things that cross the shared-object boundary.
 *
 * A plugin library exports one constant `tessera_plugin_descriptor` under the alias
 * `tessera_plugin` (see tessera/plugin_export.h). The host reads and checks that descriptor,
 * field by field, before it calls anything else in the library.
 *
 * Rules that keep the boundary stable across compilers and SDK versions:
 * - Only C types cross it: integers, `const char*` strings, plain structs and function
 *   pointers. No exception, std::function, shared_ptr deleter, RTTI or logger object does.
 * - Every function here is `noexcept` in spirit: a plugin catches everything at each entry point
 *   and reports failure through the return code and the error buffer.
 * - `abi_version` and `struct_size` are the first two fields of the descriptor forever, so a host
 *   can read them from a library built against any ABI version and refuse it cleanly.
 * - Structs only grow at their end. A field is never moved, resized, retyped or removed within
 *   one TESSERA_ABI_VERSION; doing so is an incompatible change and bumps it.
 * - TESSERA_ABI_FINGERPRINT is computed by the compiler from the layout of these structs (the
 *   offset and size of every field, in order; see the C++ part at the end), not from the text
 *   of this file: comments and names can change freely. A host accepts a plugin whose layout is
 *   its own or its own with fewer fields appended, so a plugin built before a field was
 *   appended keeps loading. It reads a descriptor field only when the plugin's struct_size
 *   covers it, and never needs a plugin to read a host-service field it was built without.
 * - Appending a host-service field: add it at the end of tessera_host_services and of
 *   kHostServicesFields, and set TESSERA_ABI_MIN_HOST_VERSION to the first host version that
 *   fills it (plugins built against this header then refuse older hosts, which lack it).
 *
 * Everything else (what plugins say to each other and to the host) is messages on ZeroMQ
 * sockets, versioned separately (see tessera/message.h).
 */
#ifndef TESSERA_ABI_H
#define TESSERA_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TESSERA_ABI_VERSION 1u

/* The oldest tessera-host that fills every field of this header's tessera_host_services: the
 * minimum host version of a plugin built against it, unless the plugin asks for a later one
 * (TESSERA_PLUGIN_WITH_MIN_HOST in tessera/plugin_export.h). */
#define TESSERA_ABI_MIN_HOST_VERSION "0.1.0"

/* The name under which a plugin library exports its descriptor. */
#define TESSERA_DESCRIPTOR_SYMBOL "tessera_plugin"

/* The slot a plugin can fill in a node. A service fills none: it runs beside the roles
 * (a web UI, an exporter, an API gateway) and is selected by `[node] services`. */
typedef enum tessera_plugin_kind {
  TESSERA_KIND_ALLOCATOR = 1,
  TESSERA_KIND_ISOLATOR = 2,
  TESSERA_KIND_LEADER = 3,
  TESSERA_KIND_FRAMEWORK = 4,
  TESSERA_KIND_SERVICE = 5
} tessera_plugin_kind;

/* Result of every call into a plugin. */
typedef enum tessera_status { TESSERA_OK = 0, TESSERA_ERROR = 1 } tessera_status;

/* Log levels, numerically equal to spdlog's levels. */
typedef enum tessera_log_level {
  TESSERA_LOG_TRACE = 0,
  TESSERA_LOG_DEBUG = 1,
  TESSERA_LOG_INFO = 2,
  TESSERA_LOG_WARN = 3,
  TESSERA_LOG_ERROR = 4,
  TESSERA_LOG_CRITICAL = 5,
  TESSERA_LOG_OFF = 6
} tessera_log_level;

/*
 * A caller-owned buffer that a plugin fills with a NUL-terminated error message when a call
 * fails. The plugin never writes more than `capacity` bytes, terminator included.
 */
typedef struct tessera_error_buffer {
  char* text;
  size_t capacity;
} tessera_error_buffer;

/*
 * What the host hands a plugin at creation. Owned by the host; every pointer stays valid until
 * the plugin's `destroy` returns. Strings are NUL-terminated UTF-8.
 *
 * A host may be newer than the plugin and hand over more fields than the plugin knows: a
 * plugin reads only the fields of the header it was built against, after checking that
 * `struct_size` covers them (the SDK does this in `create`).
 */
typedef struct tessera_host_services {
  uint32_t struct_size; /* sizeof(tessera_host_services) as the host was built */

  /* The node's ZeroMQ context (a `void*` from zmq_ctx_new). Shared by every plugin of the
   * host so that inproc:// endpoints connect them. Owned by the host; never terminate it. */
  void* zmq_context;

  /* The plugin's logging sink. `log` is thread-safe and may be called from any thread, with a
   * message that need not be NUL-terminated. `log_level` is the lowest level that is written;
   * checking it first avoids formatting messages nobody reads. */
  void* log_context;
  void (*log)(void* log_context, int level, const char* message, size_t length);
  int log_level;

  /* Identity: the node's name, the roles it plays ("master", "agent" or "master,agent") and
   * the name this plugin was selected under. */
  const char* node_name;
  const char* node_roles;
  const char* plugin_name;

  /* The node configuration: the path of the TOML file and its whole text, and the dotted path
   * of this plugin's own table in it ("plugins.NAME"; the table may be absent). Plugins parse
   * the text themselves so that their errors carry the file, line and column. */
  const char* config_path;
  const char* config_text;
  const char* config_table;

  /* The node's work directory (created by the host) and this plugin's own sub-directory. */
  const char* work_dir;
  const char* plugin_work_dir;

  /* Lets a plugin tell the host where it can be reached (for example the tcp endpoint a
   * reply socket bound to port 0 resolved to). Thread-safe. The host logs each announcement
   * and, when configured, writes it to the node's endpoints file. */
  void* announce_context;
  void (*announce)(void* announce_context, const char* key, const char* value);

  /* Appended after the first layout of ABI 1; plugins built before these fields never read
   * them. */

  /* The host's own version (its TESSERA_SDK_VERSION), e.g. "0.1.0". */
  const char* host_version;
  /* The plugin file the node selected, as found in its plugin directories. The host runs a
   * private copy of it (so that replacing the file cannot break a running plugin); data a
   * plugin ships beside its .so is found from this path, not from the loaded copy's. Empty for
   * the roles built into the host. */
  const char* plugin_file;
} tessera_host_services;

/*
 * The descriptor a plugin library exports. It is a constant with static storage duration;
 * the host never writes to it.
 *
 * Lifecycle of one plugin instance, and the thread each call is made on:
 *   create        host thread. Parses and checks the plugin's configuration; opens nothing
 *                 that needs a running loop. On failure fills `error` and returns
 *                 TESSERA_ERROR; `*instance` is then ignored.
 *   start         the plugin's own thread. Binds and connects its sockets and returns
 *                 promptly; the host gives up after its start timeout.
 *   run           the plugin's own thread, right after `start`. Serves until `request_stop`
 *                 is called, then returns.
 *   request_stop  any thread, any number of times, also before `run` has begun.
 *   destroy       host thread, after `run` returned (or `start` failed). Releases everything.
 * The host keeps the library loaded until `destroy` has returned.
 */
typedef struct tessera_plugin_descriptor {
  uint32_t abi_version;        /* TESSERA_ABI_VERSION the plugin was built against */
  uint32_t struct_size;        /* sizeof(tessera_plugin_descriptor) as the plugin was built */
  uint32_t kind;               /* a tessera_plugin_kind */
  const char* name;            /* equals the library's file name without ".so" */
  const char* version;         /* the plugin's own version, free form (e.g. "1.2.0") */
  const char* abi_fingerprint; /* TESSERA_ABI_FINGERPRINT the plugin was built against */
  const char* sdk_version;     /* TESSERA_SDK_VERSION the plugin was built against */

  tessera_status (*create)(const tessera_host_services* host, void** instance,
                           tessera_error_buffer error);
  tessera_status (*start)(void* instance, tessera_error_buffer error);
  tessera_status (*run)(void* instance, tessera_error_buffer error);
  void (*request_stop)(void* instance);
  void (*destroy)(void* instance);

  /* Fields from here on are read only when `struct_size` covers them. */

  /* The oldest host version the plugin runs on ("MAJOR.MINOR.PATCH"); an older host refuses it
   * with both versions. By default TESSERA_ABI_MIN_HOST_VERSION of the plugin's SDK. */
  const char* min_host_version;
} tessera_plugin_descriptor;

#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
#include <type_traits>

/*
 * The fingerprint of the layout above, computed by the compiler. Every field of every struct
 * that crosses the boundary is listed here in order; the static_asserts below refuse to compile
 * a header whose lists miss a field. The hash (FNV-1a 64 over each field's offset, size and
 * shape as four little-endian bytes each) is part of the ABI: every SDK computes it the same
 * way, so a host can recompute the fingerprint of each older layout it still serves and
 * compare. It sees where fields lie and what kind of value they hold, not what they mean: two
 * strings swapped, or a string removed from a run of strings, look like another valid layout.
 * The append-only rule is what keeps those from happening.
 */
namespace tessera::abi {

/* What a field holds, beyond its size. */
enum class Shape : uint32_t { number = 0, data_pointer = 1, function_pointer = 2 };

template <typename T>
constexpr Shape shape_of() {
  if constexpr (std::is_pointer_v<T>) {
    return std::is_function_v<std::remove_pointer_t<T>> ? Shape::function_pointer
                                                        : Shape::data_pointer;
  } else {
    return Shape::number;
  }
}

/* Where one field of an ABI struct lies and what it holds. */
struct Field {
  uint32_t offset;
  uint32_t size;
  Shape shape;
};

/* `type` names a type inside the template arguments, where parentheses cannot go. */
/* NOLINTBEGIN(bugprone-macro-parentheses) */
#define TESSERA_ABI_FIELD(type, member)                                           \
  ::tessera::abi::Field {                                                         \
    static_cast<uint32_t>(offsetof(type, member)),                                \
        static_cast<uint32_t>(sizeof(static_cast<type*>(nullptr)->member)),       \
        ::tessera::abi::shape_of<decltype(static_cast<type*>(nullptr)->member)>() \
  }

/* NOLINTEND(bugprone-macro-parentheses) */

inline constexpr Field kErrorBufferFields[] = {
    TESSERA_ABI_FIELD(tessera_error_buffer, text),
    TESSERA_ABI_FIELD(tessera_error_buffer, capacity),
};

inline constexpr Field kDescriptorFields[] = {
    TESSERA_ABI_FIELD(tessera_plugin_descriptor, abi_version),
    TESSERA_ABI_FIELD(tessera_plugin_descriptor, struct_size),
    TESSERA_ABI_FIELD(tessera_plugin_descriptor, kind),
    TESSERA_ABI_FIELD(tessera_plugin_descriptor, name),
    TESSERA_ABI_FIELD(tessera_plugin_descriptor, version),
    TESSERA_ABI_FIELD(tessera_plugin_descriptor, abi_fingerprint),
    TESSERA_ABI_FIELD(tessera_plugin_descriptor, sdk_version),
    TESSERA_ABI_FIELD(tessera_plugin_descriptor, create),
    TESSERA_ABI_FIELD(tessera_plugin_descriptor, start),
    TESSERA_ABI_FIELD(tessera_plugin_descriptor, run),
    TESSERA_ABI_FIELD(tessera_plugin_descriptor, request_stop),
    TESSERA_ABI_FIELD(tessera_plugin_descriptor, destroy),
    TESSERA_ABI_FIELD(tessera_plugin_descriptor, min_host_version),
};
/* Every descriptor has these (through `destroy`); the rest were appended since. */
inline constexpr size_t kDescriptorBaseFields = 12;

inline constexpr Field kHostServicesFields[] = {
    TESSERA_ABI_FIELD(tessera_host_services, struct_size),
    TESSERA_ABI_FIELD(tessera_host_services, zmq_context),
    TESSERA_ABI_FIELD(tessera_host_services, log_context),
    TESSERA_ABI_FIELD(tessera_host_services, log),
    TESSERA_ABI_FIELD(tessera_host_services, log_level),
    TESSERA_ABI_FIELD(tessera_host_services, node_name),
    TESSERA_ABI_FIELD(tessera_host_services, node_roles),
    TESSERA_ABI_FIELD(tessera_host_services, plugin_name),
    TESSERA_ABI_FIELD(tessera_host_services, config_path),
    TESSERA_ABI_FIELD(tessera_host_services, config_text),
    TESSERA_ABI_FIELD(tessera_host_services, config_table),
    TESSERA_ABI_FIELD(tessera_host_services, work_dir),
    TESSERA_ABI_FIELD(tessera_host_services, plugin_work_dir),
    TESSERA_ABI_FIELD(tessera_host_services, announce_context),
    TESSERA_ABI_FIELD(tessera_host_services, announce),
    TESSERA_ABI_FIELD(tessera_host_services, host_version),
    TESSERA_ABI_FIELD(tessera_host_services, plugin_file),
};
/* The fields of the first layout of this ABI version (through `announce`). */
inline constexpr size_t kHostServicesBaseFields = 15;

template <size_t N>
constexpr size_t count(const Field (&)[N]) {
  return N;
}

/* Whether `fields` lists every field of T: in order, without overlap, and ending where T ends
 * (give or take T's tail padding). */
template <typename T, size_t N>
constexpr bool lists_every_field(const Field (&fields)[N]) {
  uint32_t end = 0;
  for (const Field& field : fields) {
    if (field.offset < end) return false;
    end = field.offset + field.size;
  }
  return (end + alignof(T) - 1) / alignof(T) * alignof(T) == sizeof(T);
}
static_assert(lists_every_field<tessera_error_buffer>(kErrorBufferFields),
              "kErrorBufferFields must list every field of tessera_error_buffer");
static_assert(lists_every_field<tessera_plugin_descriptor>(kDescriptorFields),
              "kDescriptorFields must list every field of tessera_plugin_descriptor");
static_assert(lists_every_field<tessera_host_services>(kHostServicesFields),
              "kHostServicesFields must list every field of tessera_host_services");

constexpr uint64_t mix(uint64_t hash, uint64_t value) {
  for (int byte = 0; byte < 4; ++byte) {
    hash ^= (value >> (8 * byte)) & 0xffu;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

constexpr uint64_t mix_fields(uint64_t hash, const Field* fields, size_t n) {
  hash = mix(hash, n);  // the count keeps one struct's fields from passing for another's
  for (size_t i = 0; i < n; ++i) {
    hash = mix(mix(hash, fields[i].offset), fields[i].size);
    hash = mix(hash, static_cast<uint32_t>(fields[i].shape));
  }
  return hash;
}

/* The fingerprint of a layout given by its field lists. */
constexpr uint64_t fingerprint(const Field* descriptor, size_t descriptor_fields,
                               const Field* services, size_t services_fields) {
  uint64_t hash = mix(0xcbf29ce484222325ull, TESSERA_ABI_VERSION);
  hash = mix_fields(hash, kErrorBufferFields, count(kErrorBufferFields));
  hash = mix_fields(hash, descriptor, descriptor_fields);
  return mix_fields(hash, services, services_fields);
}

/* The fingerprint of this header's layout cut to its first `descriptor_fields` descriptor
 * fields and `services_fields` host-service fields: the layout a plugin built before the
 * later fields were appended has. */
constexpr uint64_t layout_fingerprint(size_t descriptor_fields, size_t services_fields) {
  return fingerprint(kDescriptorFields, descriptor_fields, kHostServicesFields, services_fields);
}

/* A fingerprint as the descriptor carries it: 16 lowercase hex digits. */
struct FingerprintText {
  char text[17];
};
constexpr FingerprintText to_text(uint64_t hash) {
  FingerprintText out{};
  for (int i = 0; i < 16; ++i) out.text[i] = "0123456789abcdef"[(hash >> (60 - 4 * i)) & 0xfu];
  out.text[16] = '\0';
  return out;
}

inline constexpr FingerprintText kFingerprint =
    to_text(layout_fingerprint(count(kDescriptorFields), count(kHostServicesFields)));

}  // namespace tessera::abi

/* This header's fingerprint, a `const char*` usable in constant expressions. */
#define TESSERA_ABI_FINGERPRINT (::tessera::abi::kFingerprint.text)
#endif

#endif /* TESSERA_ABI_H */
