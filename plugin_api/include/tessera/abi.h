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
 * - Changing anything in this file changes TESSERA_ABI_FINGERPRINT (a hash of this file taken
 *   at build time); incompatible changes also bump TESSERA_ABI_VERSION.
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

/* The name under which a plugin library exports its descriptor. */
#define TESSERA_DESCRIPTOR_SYMBOL "tessera_plugin"

/* The slot a plugin can fill in a node. */
typedef enum tessera_plugin_kind {
  TESSERA_KIND_ALLOCATOR = 1,
  TESSERA_KIND_ISOLATOR = 2,
  TESSERA_KIND_LEADER = 3,
  TESSERA_KIND_FRAMEWORK = 4
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
} tessera_plugin_descriptor;

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_ABI_H */
