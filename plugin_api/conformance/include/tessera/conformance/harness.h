// The harness of the conformance suites: the plugin under test runs in a real `tessera-host`
// child process, loaded by the real loader from its plugin directory, and the test speaks the
// plugin's protocol to it over ipc:// like the role it serves would.
//
// What a test starts never outlives it:
// - The host runs in a process group of its own, which HostProcess's destructor SIGKILLs.
// - The host gets PR_SET_PDEATHSIG = SIGKILL, so it dies with the test binary even when the
//   binary is killed with SIGKILL and no destructor runs. (The kernel sends it when the thread
//   that started the host ends: start hosts from the test's main thread, as GoogleTest does.)
// - Its work dir, its node TOML, its log and its ipc sockets live in a TempDir that is removed
//   with the test.
//
// Which tessera-host runs: PluginUnderTest::host when set, else the TESSERA_HOST environment
// variable, else the host the SDK was installed with (the TESSERA_CONFORMANCE_HOST definition
// that the Tessera::conformance target carries).
//
// Threading: everything here is used from the test's thread. The host is another process.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "tessera/message.h"
#include "tessera/result.h"
#include "tessera/sdk/channels.h"
#include "tessera/sdk/event_loop.h"

namespace tessera::conformance {

using namespace std::chrono_literals;

// The plugin a suite checks, as the test names it.
struct PluginUnderTest {
  std::string name;  // the plugin's name: the file is `dir/name.so`
  std::string dir;   // the directory that holds it (the node's plugin_dirs)
  // More TOML lines for the plugin's own table ([plugins.NAME]), e.g. "store_file = \"x\"\n".
  // The harness writes the keys the suite needs itself (see each suite).
  std::string table = {};
  std::string host = {};  // the tessera-host binary; empty: see the file comment
};

// GoogleTest prints the parameter in its messages (and ctest in test names): the name is
// enough: the host says where it looked for the plugin, and a failing start prints its log.
inline void PrintTo(const PluginUnderTest& plugin, std::ostream* out) { *out << plugin.name; }

// Test names end in the plugin's name ("Drf/AllocatorConformance.Test/allocator_drf").
inline std::string plugin_test_name(const ::testing::TestParamInfo<PluginUnderTest>& info) {
  std::string name;
  for (char c : info.param.name) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

inline std::string host_binary(const PluginUnderTest& plugin) {
  if (!plugin.host.empty()) return plugin.host;
  if (const char* from_environment = std::getenv("TESSERA_HOST"); from_environment != nullptr) {
    if (*from_environment != '\0') return from_environment;
  }
#ifdef TESSERA_CONFORMANCE_HOST
  return TESSERA_CONFORMANCE_HOST;
#else
  return "tessera-host";
#endif
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A directory of its own under the system's temporary directory, removed with everything in
// it. Kept short: an ipc:// path must fit in a unix socket address (107 bytes).
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "tessera-conf-XXXXXX").string();
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data()) == nullptr) {
      ADD_FAILURE() << "cannot create a temporary directory from '" << pattern << "'";
      return;
    }
    path_ = buffer.data();
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  std::filesystem::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name) << text;
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

// One child process, its stdout and stderr in `log`.
class HostProcess {
 public:
  HostProcess(const std::vector<std::string>& argv, const std::filesystem::path& log) : log_(log) {
    // Everything the child needs is prepared before fork(): after it, only async-signal-safe
    // calls are made until exec.
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
      ADD_FAILURE() << "cannot open '" << log.string() << "'";
      return;
    }
    pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // The test died before prctl took effect.
      ::dup2(out, STDOUT_FILENO);
      ::dup2(out, STDERR_FILENO);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(out);
    if (pid_ < 0) {
      ADD_FAILURE() << "cannot fork: " << std::strerror(errno);
      pid_ = 0;
      return;
    }
    // Also here, so that the group exists before the destructor may signal it.
    ::setpgid(pid_, pid_);
  }

  ~HostProcess() { kill(); }
  HostProcess(const HostProcess&) = delete;
  HostProcess& operator=(const HostProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::string output() const { return read_file(log_); }

  // Whether it still runs; reaps it (and keeps its status) once it has ended.
  bool running() {
    if (pid_ == 0 || status_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      status_ = status;
      return false;
    }
    return true;
  }

  // SIGTERM, then waits up to `timeout` for it to end. Returns its exit status (-1 when it was
  // killed by a signal or did not end in time, then killed).
  int stop(std::chrono::milliseconds timeout = 30s) {
    if (running()) ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    if (running()) {
      ADD_FAILURE() << "tessera-host did not stop within " << timeout.count() << " ms";
      kill();
      return -1;
    }
    return exit_status();
  }

  // SIGKILL to its whole process group (it and anything it started), then reaps it.
  void kill() {
    if (pid_ == 0) return;
    ::kill(-pid_, SIGKILL);
    if (!status_) {
      int status = 0;
      if (::waitpid(pid_, &status, 0) == pid_) status_ = status;
    }
    pid_ = 0;
  }

  int exit_status() const { return status_ && WIFEXITED(*status_) ? WEXITSTATUS(*status_) : -1; }

 private:
  std::filesystem::path log_;
  pid_t pid_ = 0;
  std::optional<int> status_;
};

// The test's side of the bus: a ZeroMQ context, a loop and a Bus whose messages say they come
// from `sender` (the name a leader plugin checks key prefixes against). Channels created on
// `bus` must be destroyed before the Peer.
class Peer {
 public:
  explicit Peer(std::string sender) : bus(context.handle(), &loop, {}, std::move(sender)) {}

  // Runs the loop until `done()` holds or `timeout` passes; returns done(). Handlers that
  // change what done() looks at need not do anything else: the loop is woken every 10 ms.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      auto tick = loop.after(10ms, [this] { loop.request_stop(); });
      loop.run();
      loop.reset_stop();
      loop.cancel(tick);
    }
    return done();
  }

  // Sends `body` as a request and waits for its reply.
  template <typename T>
  Result<Envelope> call(sdk::Client& client, const T& body,
                        std::chrono::milliseconds timeout = 10s) {
    // Shared with the handler, which the client may still call after this returns (a reply
    // that comes later than this waited).
    auto reply = std::make_shared<std::optional<Result<Envelope>>>();
    client.request(
        body, [reply](Result<Envelope> answer) { *reply = std::move(answer); }, timeout);
    run_until([&] { return reply->has_value(); }, timeout + 5s);
    if (!reply->has_value()) return make_error("no reply to '" + std::string(T::kType) + "'");
    return std::move(**reply);
  }

  // The reply to `body`, decoded as Reply (a test failure, and Reply{}, when there is none).
  template <typename Reply, typename T>
  Reply ask(sdk::Client& client, const T& body, std::chrono::milliseconds timeout = 10s) {
    auto reply = call(client, body, timeout);
    EXPECT_TRUE(reply.ok()) << T::kType << ": " << reply.error().message;
    if (!reply.ok()) return Reply{};
    EXPECT_EQ(reply->type(), Reply::kType) << "the answer to " << T::kType;
    auto decoded = reply->template body<Reply>();
    EXPECT_TRUE(decoded.ok()) << Reply::kType << ": " << decoded.error().message;
    return decoded.ok() ? *decoded : Reply{};
  }

  // In this order: the bus uses both.
  sdk::EventLoop loop;
  zmq::context_t context;
  sdk::Bus bus;
};

// A node that runs one plugin: its TOML written into a TempDir, the host started on it (with
// --without-roles: the test plays the roles), and what the plugin announced read back from the
// node's endpoints file.
class Node {
 public:
  explicit Node(PluginUnderTest plugin) : plugin_(std::move(plugin)) {}

  // Writes the node's configuration: [node]'s common keys (name, work_dir, plugin_dirs,
  // endpoints_file), then `slots` (more [node] keys, and the tables that select the plugin),
  // then the plugin's table: its `endpoint` on ipc:// in this node's directory, and the test's
  // own keys (PluginUnderTest::table).
  void configure(const std::string& slots) {
    config_ = dir_.write(
        "node.toml", "[node]\nname = \"conformance\"\nwork_dir = \"" + (dir_ / "work").string() +
                         "\"\nplugin_dirs = [\"" + plugin_.dir + "\"]\nendpoints_file = \"" +
                         (dir_ / "endpoints").string() + "\"\n" + slots + "[plugins." +
                         plugin_.name + "]\nendpoint = \"" + endpoint() + "\"\n" + plugin_.table);
  }

  // The address the harness gives the plugin in its `endpoint` key.
  std::string endpoint() const { return "ipc://" + (dir_ / "plugin").string(); }

  const TempDir& dir() const { return dir_; }
  const PluginUnderTest& plugin() const { return plugin_; }

  // Starts the host and waits until the plugin announced `key`; a test failure (with the
  // host's log) when the host ends or the deadline passes first.
  void start(const std::string& key, std::chrono::milliseconds timeout = 30s) {
    std::string why = try_start(key, timeout);
    ASSERT_TRUE(why.empty()) << why;
  }

  // The same, but returns why it did not start ("" when it did) for the test to judge. When
  // the host ended first, ended() tells so (a plugin may refuse a machine it cannot serve).
  std::string try_start(const std::string& key, std::chrono::milliseconds timeout = 30s) {
    std::error_code ignored;
    std::filesystem::remove(dir_ / "endpoints", ignored);
    ++starts_;
    std::string log = "host." + std::to_string(starts_) + ".log";
    host_ = std::make_unique<HostProcess>(
        std::vector<std::string>{host_binary(plugin_), "--without-roles", config_.string()},
        dir_ / log);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (announced(key).empty()) {
      if (!host_->running()) {
        std::ostringstream why;
        why << "tessera-host " << host_binary(plugin_) << " ended (status " << host_->exit_status()
            << ") before plugin '" << plugin_.name << "' announced '" << key << "'"
            << (host_->exit_status() == 127 ? " (it could not be run: set TESSERA_HOST)" : "")
            << ":\n"
            << host_->output();
        return why.str();
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return "plugin '" + plugin_.name + "' did not announce '" + key + "' within " +
               std::to_string(timeout.count()) + " ms:\n" + host_->output();
      }
      std::this_thread::sleep_for(10ms);
    }
    return {};
  }

  // Whether the host was started and has ended since.
  bool ended() { return host_ && !host_->running(); }

  // Stops the host with SIGTERM; a test failure when it does not exit with status 0.
  void stop() {
    if (!host_) return;
    int status = host_->stop();
    EXPECT_EQ(status, 0) << "tessera-host did not stop cleanly:\n" << host_->output();
    host_.reset();
  }

  std::string output() const { return host_ ? host_->output() : std::string(); }

  // What the plugin announced under `key`, from the node's endpoints file ("" if nothing).
  std::string announced(const std::string& key) const {
    std::istringstream lines(read_file(dir_ / "endpoints"));
    std::string line;
    const std::string prefix = plugin_.name + "." + key + " = \"";
    while (std::getline(lines, line)) {
      if (line.rfind(prefix, 0) == 0 && line.size() > prefix.size() && line.back() == '"') {
        return line.substr(prefix.size(), line.size() - prefix.size() - 1);
      }
    }
    return {};
  }

 private:
  PluginUnderTest plugin_;
  TempDir dir_;
  std::filesystem::path config_;
  std::unique_ptr<HostProcess> host_;
  int starts_ = 0;
};

}  // namespace tessera::conformance

// Instantiates `suite` (AllocatorConformance, LeaderConformance...) for one plugin: what the
// TESSERA_*_CONFORMANCE macros of each suite expand to. At namespace scope, outside any
// namespace.
#define TESSERA_CONFORMANCE_INSTANTIATE(suite, instance, ...)                                \
  namespace tessera::conformance {                                                           \
  INSTANTIATE_TEST_SUITE_P(instance, suite, ::testing::Values(PluginUnderTest{__VA_ARGS__}), \
                           plugin_test_name);                                                \
  }                                                                                          \
  static_assert(true, "a semicolon may follow")
