// Test support: real ZooKeeper servers (Debian's `zookeeper` package, run with Java) on
// loopback, for leader_zookeeper's tests and the HA end-to-end tests.
//
// ZooKeeperServers starts one standalone server or an ensemble of three, each on free ports,
// with its data dir and config in the test's TempDir, tickTime=500 (so session timeouts from
// 1 s to 10 s are accepted), and waits until each one serves (a `Mode:` line in the answer to
// `srvr`; `ruok` answers before the server serves). Each server is a Process (its own session,
// killed with the test, see process.h); kill(), pause() and start() act on one of them.
//
// Where Java or ZooKeeper is missing, TESSERA_REQUIRE_ZOOKEEPER() skips the test with the
// reason, except when CI=true, where it fails: CI installs them (scripts/setup.sh).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/process.h"

namespace tessera::testing {

class ZooKeeperServers {
 public:
  static constexpr const char* kJava = "/usr/bin/java";
  static constexpr const char* kJar = "/usr/share/java/zookeeper.jar";

  // Why ZooKeeper cannot run here ("" when it can).
  static std::string missing() {
    if (::access(kJava, X_OK) != 0) return std::string(kJava) + " is missing (install Java)";
    if (::access(kJar, R_OK) != 0) {
      return std::string(kJar) + " is missing (apt-get install zookeeper)";
    }
    return "";
  }

  // A TCP port on loopback that was free a moment ago.
  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t size = sizeof address;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0) {
      port = ntohs(address.sin_port);
    }
    ::close(fd);
    return port;
  }

  // Sends a four-letter command to a server and returns its whole answer ("" when none).
  static std::string four_letters(int port, const std::string& command) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    timeval timeout{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string answer;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
        ::send(fd, command.data(), command.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(command.size())) {
      char buffer[4096];
      ssize_t n;
      while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) answer.append(buffer, n);
    }
    ::close(fd);
    return answer;
  }

  // Starts `count` servers (1: standalone; 3: an ensemble) in `dir`, and waits until each
  // serves.
  ZooKeeperServers(const TempDir& dir, int count = 1) : dir_(dir) {
    for (int i = 0; i < count; ++i) {
      servers_.push_back(Server{free_port(), free_port(), free_port(), nullptr, 0});
    }
    for (int i = 0; i < count; ++i) write_config(i);
    for (int i = 0; i < count; ++i) launch(i);
    for (int i = 0; i < count; ++i) {
      if (!wait_serving(i)) {
        throw std::runtime_error("ZooKeeper server " + std::to_string(i + 1) +
                                 " did not serve within 60 s:\n" + output(i));
      }
    }
  }

  // "127.0.0.1:P1,127.0.0.1:P2,...": the `servers` key of leader_zookeeper.
  std::string connect_string() const {
    std::string out;
    for (const Server& s : servers_) {
      out += (out.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(s.client);
    }
    return out;
  }
  // "zk://127.0.0.1:P1,.../PATH".
  std::string address(const std::string& path) const { return "zk://" + connect_string() + path; }
  size_t size() const { return servers_.size(); }
  int port(size_t i) const { return servers_[i].client; }

  // The server's role from `srvr` ("leader", "follower", "standalone"; "" when it does not
  // serve).
  std::string mode(size_t i) const {
    std::string answer = four_letters(servers_[i].client, "srvr");
    size_t at = answer.find("Mode: ");
    if (at == std::string::npos) return "";
    size_t end = answer.find('\n', at);
    return answer.substr(at + 6, end == std::string::npos ? std::string::npos : end - at - 6);
  }

  bool wait_serving(size_t i, std::chrono::milliseconds timeout = std::chrono::seconds(60)) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!mode(i).empty()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  // The watches server i holds, by path: path -> how many sessions watch it (`wchp`).
  std::map<std::string, int> watches(size_t i) const {
    std::map<std::string, int> out;
    std::istringstream lines(four_letters(servers_[i].client, "wchp"));
    std::string line;
    std::string path;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      if (line[0] == '/') {
        path = line;
        out[path];
      } else if (!path.empty()) {
        ++out[path];
      }
    }
    return out;
  }

  // The ensemble's leader (the index of the server whose mode is "leader"), or -1.
  int leader() const {
    for (size_t i = 0; i < servers_.size(); ++i) {
      if (mode(i) == "leader") return static_cast<int>(i);
    }
    return -1;
  }

  // SIGKILL to server i (its process ends; start() runs it again on the same data and ports).
  void kill(size_t i) { servers_[i].process.reset(); }
  void start(size_t i) { launch(i); }
  // SIGSTOP / SIGCONT: a server that hangs without closing its connections.
  void pause(size_t i) const { servers_[i].process->signal(SIGSTOP); }
  void resume(size_t i) const { servers_[i].process->signal(SIGCONT); }
  bool running(size_t i) const { return servers_[i].process != nullptr; }

  std::string output(size_t i) const {
    return servers_[i].process ? servers_[i].process->output() : std::string();
  }

 private:
  struct Server {
    int client;
    int quorum;
    int election;
    std::unique_ptr<Process> process;
    int starts;
  };

  std::filesystem::path server_dir(size_t i) const {
    return dir_ / ("zookeeper-" + std::to_string(i + 1));
  }

  void write_config(size_t i) {
    std::filesystem::path dir = server_dir(i);
    std::filesystem::create_directories(dir / "data");
    std::string config =
        "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir=" + (dir / "data").string() +
        "\nclientPort=" + std::to_string(servers_[i].client) +
        "\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
        "4lw.commands.whitelist=ruok,srvr,stat,mntr,wchp\nmaxClientCnxns=0\n";
    if (servers_.size() > 1) {
      for (size_t j = 0; j < servers_.size(); ++j) {
        config += "server." + std::to_string(j + 1) +
                  "=127.0.0.1:" + std::to_string(servers_[j].quorum) + ":" +
                  std::to_string(servers_[j].election) + "\n";
      }
      dir_.write(("zookeeper-" + std::to_string(i + 1)) + "/data/myid", std::to_string(i + 1));
    }
    dir_.write("zookeeper-" + std::to_string(i + 1) + "/zoo.cfg", config);
  }

  void launch(size_t i) {
    Server& server = servers_[i];
    ++server.starts;
    std::filesystem::path dir = server_dir(i);
    server.process = std::make_unique<Process>(
        std::vector<std::string>{
            kJava, "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Dzookeeper.root.logger=INFO,CONSOLE",
            // A standalone server in a test needs no fsync of every write.
            "-Dzookeeper.forceSync=no", "-cp",
            "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/"
            "slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain", (dir / "zoo.cfg").string()},
        dir / ("server." + std::to_string(server.starts) + ".log"));
  }

  const TempDir& dir_;
  std::vector<Server> servers_;
};

}  // namespace tessera::testing

// Skips the test where ZooKeeper cannot run, and fails it in CI (CI=true), where it must.
#define TESSERA_REQUIRE_ZOOKEEPER()                                                   \
  do {                                                                                \
    std::string tessera_zk_missing = ::tessera::testing::ZooKeeperServers::missing(); \
    if (!tessera_zk_missing.empty()) {                                                \
      const char* tessera_ci = std::getenv("CI");                                     \
      if (tessera_ci != nullptr && std::string(tessera_ci) == "true") {               \
        FAIL() << "ZooKeeper is required in CI: " << tessera_zk_missing;              \
      }                                                                               \
      GTEST_SKIP() << "ZooKeeper cannot run here: " << tessera_zk_missing;            \
    }                                                                                 \
  } while (false)
