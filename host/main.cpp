// tessera-host: the one binary every node runs. It reads NODE.toml, loads the plugins it
// names and serves until SIGINT or SIGTERM.
//
// Exit status: 0 after a clean stop (or a passing --check), 2 when the configuration or a
// plugin cannot be used, 1 when something fails while running.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <CLI/CLI.hpp>
#include <boost/dll/runtime_symbol_info.hpp>

#include <cstdio>
#include <iostream>

#include "config.h"
#include "host.h"
#include "loader.h"
#include "tessera/abi_fingerprint.h"
#include "tessera/sdk/host_environment.h"

namespace {

// Prints an error, every line of it prefixed with the program's name.
void print_error(const std::string& message) {
  size_t start = 0;
  while (start <= message.size()) {
    size_t end = message.find('\n', start);
    if (end == std::string::npos) end = message.size();
    std::cerr << "tessera-host: " << message.substr(start, end - start) << "\n";
    start = end + 1;
  }
}

// Plugins shipped with the host live in ../lib/tessera/plugins from the binary (as CMake's
// TESSERA_INSTALL_PLUGINDIR says), both in the build tree and in an installed tree.
std::filesystem::path default_plugin_dir() {
  std::filesystem::path exe = boost::dll::program_location().string();
  return (exe.parent_path() / TESSERA_PLUGIN_DIR_FROM_BIN).lexically_normal();
}

// Raises the soft limit on open descriptors to the hard limit. A master holds one connection per
// agent (and a node's plugins more), so the usual soft limit of 1,024 caps a cluster far below
// what the hard limit allows; past the hard limit only the operator can go (ulimit -Hn, systemd's
// LimitNOFILE). Says so when it cannot, and carries on with what it has. The limit it started
// with goes into its environment (sdk::kOriginalNofileLimitVariable), from which the container
// runtimes give it back to tasks: a task must not inherit a limit raised for the host. Called
// before any thread starts, so setenv races with no reader.
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  rlim_t was = limit.rlim_cur;
  setenv(tessera::sdk::kOriginalNofileLimitVariable, std::to_string(was).c_str(), 1);
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    std::cerr << "tessera-host: cannot raise the descriptor limit from " << was << " to "
              << limit.rlim_max << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tessera-host: runs a Tessera node (master, agent or both) from a TOML file"};
  std::string config_file;
  std::string log_level;
  bool check_only = false;
  bool without_roles = false;
  app.add_option("config", config_file, "the node's TOML configuration")->required();
  app.add_option("--log-level", log_level, "overrides [log] level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_flag("--check", check_only,
               "load and configure every plugin, report problems, and exit without starting");
  app.add_flag("--without-roles", without_roles,
               "run the selected plugins as on a node with the configured roles, but not the "
               "built-in master and agent roles: a conformance test plays their part");
  app.set_version_flag("--version", std::string("tessera-host ") + TESSERA_SDK_VERSION +
                                        " (plugin ABI " + std::to_string(TESSERA_ABI_VERSION) +
                                        ", fingerprint " + TESSERA_ABI_FINGERPRINT + ")");
  app.failure_message([](const CLI::App* failed, const CLI::Error& e) {
    std::string text = std::string("tessera-host: ") + e.what() + "\n";
    if (failed != nullptr) text += "Run with --help for more information.\n";
    return text;
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2, like a configuration error.
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  auto config = tessera::host::load_config(config_file, default_plugin_dir());
  if (!config) {
    print_error(config.error().message);
    return 2;
  }
  if (!log_level.empty()) config->log_level = log_level;
  // The plugins still see the configured roles (a leader plugin elects only on a master node),
  // so a test that speaks the roles' protocols to them checks what the roles would get.
  if (without_roles) config->run_roles = false;

  // Signals are handled by the main thread only: block them before any plugin thread exists,
  // so every thread inherits the mask, and wait for them in Host::serve.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  raise_descriptor_limit();

  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  int exit_status = 0;
  {
    tessera::host::Host host(std::move(*config), {sink});
    auto fail = [&](const tessera::Status& status, int code) {
      print_error(status.error().message);
      return code;
    };
    if (auto s = host.load(); !s) return fail(s, 2);
    if (auto s = host.create(); !s) return fail(s, 2);
    if (check_only) {
      std::cout << "configuration OK: " << config_file << "\n";
      return 0;
    }
    if (auto s = host.start(); !s) {
      exit_status = fail(s, 1);
    } else {
      exit_status = host.serve(stop_signals);
    }
    if (!host.stop()) exit_status = 1;
    if (host.abandoned()) {
      // Something is stuck inside a plugin: leave without unloading it (see Host).
      spdlog::shutdown();
      std::fflush(nullptr);
      std::_Exit(exit_status == 0 ? 1 : exit_status);
    }
  }
  return exit_status;
}
