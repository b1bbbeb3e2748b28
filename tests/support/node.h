// Test support: a whole node inside the test process, built by the real host code from a TOML
// text. Plugins are loaded through the real loader, created with their own tables and run on
// their own threads; the test talks to them over inproc:// on the node's ZeroMQ context, the
// way the built-in roles do. This is what a plugin-kind conformance suite runs against.
#pragma once

#include <spdlog/sinks/stdout_color_sinks.h>

#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "host.h"
#include "support/process.h"
#include "tessera/sdk/channels.h"

namespace tessera::testing {

class InProcessNode {
 public:
  // `body` is the TOML after [node]'s name/work_dir/plugin_dirs lines, e.g.
  // "roles = [\"master\"]\nleader = \"leader_standalone\"\n[plugins.leader_standalone]\n...".
  // The work dir is inside `dir` and survives the node, so a test can restart a node on it.
  //
  // The built-in roles (master, agent) run only with `run_roles`: a plugin's tests play the
  // role's part themselves.
  //
  // `plugin_dirs` replaces the build's plugin directories (a conformance suite loads the plugin
  // it is given from a directory of its own).
  InProcessNode(const TempDir& dir, const std::string& body, const std::string& name = "node",
                bool run_roles = false, const std::vector<std::string>& plugin_dirs = {})
      : run_roles_(run_roles) {
    std::string dirs =
        std::string("\"") + TESSERA_PLUGIN_DIR + "\", \"" + TESSERA_FIXTURE_PLUGIN_DIR + "\"";
    if (!plugin_dirs.empty()) {
      dirs.clear();
      for (const std::string& d : plugin_dirs) dirs += (dirs.empty() ? "\"" : ", \"") + d + "\"";
    }
    std::string text = "[node]\nname = \"" + name + "\"\nwork_dir = \"" +
                       (dir / ("work-" + name)).string() + "\"\nplugin_dirs = [" + dirs + "]\n" +
                       body;
    config_path_ = dir.write(name + ".toml", text);
  }
  ~InProcessNode() { stop(); }

  // Loads, creates and starts every plugin. The error is what tessera-host would print.
  Status start() {
    auto config = host::load_config(config_path_, "");
    if (!config) return config.error();
    config->run_roles = run_roles_;
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    host_ = std::make_unique<host::Host>(std::move(*config), std::vector<spdlog::sink_ptr>{sink});
    if (auto s = host_->load(); !s) return s;
    if (auto s = host_->create(); !s) return s;
    return host_->start();
  }

  void stop() {
    if (host_) host_->stop();
    host_.reset();
  }

  void* zmq_context() const { return host_->zmq_context(); }

 private:
  bool run_roles_;
  std::filesystem::path config_path_;
  std::unique_ptr<host::Host> host_;
};

// A loop and bus on the test's thread, for talking to a node's plugins.
struct TestBus {
  explicit TestBus(void* context, std::string name = "test")
      : bus{context, &loop, {}, std::move(name)} {}

  // Sends `body` as a request on `client` and runs the loop until the reply (or timeout).
  template <typename T>
  Result<Envelope> call(sdk::Client& client, const T& body,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    Result<Envelope> out = make_error("no reply");
    client.request(
        body,
        [&](Result<Envelope> reply) {
          out = std::move(reply);
          loop.request_stop();
        },
        timeout);
    loop.run();
    loop.reset_stop();
    return out;
  }

  sdk::EventLoop loop;
  sdk::Bus bus;
};

}  // namespace tessera::testing
