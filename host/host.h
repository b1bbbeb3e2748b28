// Host: runs the plugins a NodeConfig selects, each on its own thread.
//
// Order of life, all driven from the main thread:
//   load()    find each selected NAME.so, load a private copy of it (WORK_DIR/run/PID/NAME.so,
//             so that replacing the installed file cannot touch running code), check its
//             descriptor and that its kind fits its slot
//   create()  create every instance with its own table (configuration errors surface here)
//   start()   one thread per plugin: start(), then run(); waits for each start() to return,
//             in order, up to the node's start timeout
//   serve()   waits for SIGINT/SIGTERM, or for a plugin whose run() ended by itself
//   stop()    in reverse order: request_stop, join (up to the stop timeout), destroy
// Libraries are released only after every instance made from them is destroyed, and their
// private copies removed after that. A plugin that hangs is abandoned: its library, and the
// ZeroMQ context its sockets hold, are never released, and the process exits with an error
// (the next host on the work dir removes the copies it left).
//
// Thread-safety: the public methods are for the main thread only. announce() is called by
// plugins from their threads and locks.
#pragma once

#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "loader.h"
#include "tessera/abi.h"
#include "tessera/result.h"

namespace tessera::host {

class Host {
 public:
  Host(NodeConfig config, std::vector<spdlog::sink_ptr> sinks);
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  Status load();
  Status create();
  Status start();
  // Returns the process exit status: 0 after a signal, 1 when a plugin stopped by itself.
  int serve(const sigset_t& stop_signals);
  // Returns false when a plugin did not stop within the stop timeout.
  bool stop();

  // The node's ZeroMQ context: inproc endpoints of its plugins are reachable on it. For tests
  // and built-in roles that run inside the host.
  void* zmq_context() const { return zmq_context_; }

  // True when a plugin hung and had to be abandoned; the process should exit promptly.
  bool abandoned() const { return abandoned_; }

  void announce(const std::string& plugin, const std::string& key, const std::string& value);

  struct Instance;  // defined in host.cpp

 private:
  Status prepare_copy_dir();
  Status start_one(Instance& instance);
  Status check_role_plugins() const;
  void write_endpoints_file();

  NodeConfig config_;
  std::vector<spdlog::sink_ptr> sinks_;
  std::shared_ptr<spdlog::logger> log_;
  void* zmq_context_ = nullptr;
  std::filesystem::path copy_dir_;  // this host's private plugin copies; empty: none made
  // Declared before instances_: destroyed after them.
  std::vector<std::unique_ptr<PluginLibrary>> libraries_;
  std::vector<std::unique_ptr<Instance>> instances_;
  bool abandoned_ = false;

  std::mutex announce_mutex_;
  std::map<std::string, std::string> endpoints_;
};

}  // namespace tessera::host
