// A private Docker Engine for a test: dockerd on a unix socket in a TempDir, with its own data
// and exec roots and a cgroup parent of its own, so tests neither see nor touch another daemon's
// containers (see /work/shared/ENVIRONMENT.md: no bridge, no iptables; `none` and `host`
// networks). It imports a busybox image built offline from busybox-static, as `kImage`.
//
// When dockerd or busybox is missing, `available()` is false with the reason; a test skips with
// it, except under CI (CI=true), where the setup script installs both and a skip would hide a
// broken runner, so the test fails instead (TESSERA_REQUIRE_DOCKERD does that).
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "support/process.h"

namespace tessera::testing {

class PrivateDockerd {
 public:
  static constexpr const char* kImage = "tessera/busybox:test";

  PrivateDockerd() {
    for (const char* candidate : {"/usr/sbin/dockerd", "/usr/bin/dockerd"}) {
      if (std::filesystem::exists(candidate)) dockerd_ = candidate;
    }
    for (const char* candidate : {"/bin/busybox", "/usr/bin/busybox"}) {
      if (std::filesystem::exists(candidate)) busybox_ = candidate;
    }
    for (const char* candidate : {"/usr/bin/docker", "/usr/local/bin/docker"}) {
      if (std::filesystem::exists(candidate)) docker_ = candidate;
    }
    if (dockerd_.empty() || busybox_.empty() || docker_.empty()) {
      why_ =
          "dockerd, docker or busybox is not installed (apt-get install docker.io busybox-static)";
      return;
    }
    if (geteuid() != 0) {
      why_ = "dockerd needs root";
      return;
    }
    sweep_stale();
    std::random_device rd;
    cgroup_parent_ = "tessera-test-docker-" + std::to_string(rd());
    std::filesystem::path root = dir_.path();
    process_ = std::make_unique<Process>(
        std::vector<std::string>{
            dockerd_, "--iptables=false", "--ip-forward=false", "--bridge=none",
            "--storage-driver=overlay2", "--cgroup-parent=/" + cgroup_parent_, "-H",
            "unix://" + socket().string(), "--data-root", (root / "data").string(), "--exec-root",
            (root / "exec").string(), "--pidfile", (root / "dockerd.pid").string()},
        root / "dockerd.log");
    bool up = eventually(
        [&] {
          auto [code, out] = run({docker_, "-H", "unix://" + socket().string(), "version"},
                                 root / "version.log", std::chrono::seconds(10));
          return code == 0;
        },
        std::chrono::seconds(60));
    if (!up) {
      why_ = "dockerd did not start: " + read_file(root / "dockerd.log").substr(0, 2000);
      return;
    }
    std::filesystem::create_directories(root / "image" / "bin");
    std::filesystem::copy_file(busybox_, root / "image" / "bin" / "busybox");
    auto [code, out] =
        run({"/bin/sh", "-c",
             "cd " + (root / "image").string() +
                 " && for c in sh echo cat sleep true false yes head nc httpd "
                 "env id ls wc dd seq; do ln -s busybox bin/$c; done && tar -c . | " +
                 docker_ + " -H unix://" + socket().string() + " import - " + kImage},
            root / "import.log", std::chrono::seconds(60));
    if (code != 0) {
      why_ = "cannot import the busybox image: " + out;
      return;
    }
    ready_ = true;
  }

  ~PrivateDockerd() {
    if (!process_) return;
    // Containers first (a stopped daemon leaves their shims), then the daemon.
    std::string sock = "unix://" + socket().string();
    run({"/bin/sh", "-c",
         docker_ + " -H " + sock + " ps -aq | xargs -r " + docker_ + " -H " + sock + " rm -f"},
        dir_ / "cleanup.log", std::chrono::seconds(60));
    process_->stop(std::chrono::seconds(30));
    process_.reset();
    // A daemon that could not stop cleanly leaves mounts in its directories (its data root, the
    // default network namespace): unmounted before the TempDir removes what is below them.
    for (const std::string& mount_point : mounts_under(dir_.path())) {
      umount2(mount_point.c_str(), MNT_DETACH);
    }
    std::error_code ec;
    for (const auto& hierarchy : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
      remove_cgroup_tree(hierarchy.path() / cgroup_parent_);
    }
  }
  PrivateDockerd(const PrivateDockerd&) = delete;
  PrivateDockerd& operator=(const PrivateDockerd&) = delete;

  bool available() const { return ready_; }
  const std::string& why_not() const { return why_; }
  std::filesystem::path socket() const { return dir_.path() / "docker.sock"; }
  const std::string& cgroup_parent() const { return cgroup_parent_; }
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  static std::string cmdline(const std::filesystem::path& proc) {
    std::string text = read_file(proc / "cmdline");
    std::replace(text.begin(), text.end(), '\0', ' ');
    return text;
  }

  // What a test binary that was killed left (its teardown never ran): the shims and containers
  // of its daemon, its mounts and its cgroups. Whatever belongs to a private daemon that is no
  // longer running is ended and removed; live daemons (another test's) are left alone.
  static void sweep_stale() {
    // The names ("tessera-test-NNN", a TempDir) of live daemons' directories, and their cgroup
    // parents ("tessera-test-docker-NNN").
    std::set<std::string> live;
    std::vector<std::pair<pid_t, std::string>> shims;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
      pid_t pid = static_cast<pid_t>(std::atoi(entry.path().filename().c_str()));
      if (pid <= 0) continue;
      std::string args = cmdline(entry.path());
      std::smatch match;
      static const std::regex test_dir("(tessera-test-[0-9]+)/");
      static const std::regex parent("--cgroup-parent=/(tessera-test-docker-[0-9]+)");
      if (args.find("dockerd") != std::string::npos) {
        if (std::regex_search(args, match, test_dir)) live.insert(match[1]);
        if (std::regex_search(args, match, parent)) live.insert(match[1]);
      } else if (args.find("containerd-shim") != std::string::npos &&
                 std::regex_search(args, match, test_dir)) {
        shims.emplace_back(pid, match[1]);
      }
    }
    for (const auto& [pid, dir] : shims) {
      if (live.count(dir) == 0) ::kill(pid, SIGKILL);
    }
    for (const auto& hierarchy : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
      for (const auto& group : std::filesystem::directory_iterator(hierarchy.path(), ec)) {
        std::string name = group.path().filename();
        if (name.rfind("tessera-test-docker-", 0) != 0 || live.count(name) != 0) continue;
        for (auto it = std::filesystem::recursive_directory_iterator(group.path(), ec);
             it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
          if (it->path().filename() != "cgroup.procs") continue;
          std::ifstream procs(it->path());
          for (pid_t member = 0; procs >> member;) ::kill(member, SIGKILL);
        }
        eventually(
            [&] {
              remove_cgroup_tree(group.path());
              return !std::filesystem::exists(group.path());
            },
            std::chrono::seconds(5));
      }
    }
    std::ifstream mounts("/proc/self/mounts");
    std::vector<std::string> stale;
    std::string device, mount_point, rest;
    static const std::regex test_dir("(tessera-test-[0-9]+)/");
    while (mounts >> device >> mount_point && std::getline(mounts, rest)) {
      std::smatch match;
      if (std::regex_search(mount_point, match, test_dir) && live.count(match[1]) == 0) {
        stale.push_back(mount_point);
      }
    }
    std::sort(stale.rbegin(), stale.rend());
    for (const auto& m : stale) umount2(m.c_str(), MNT_DETACH);
  }

  // Mount points at or below `dir`, deepest first.
  static std::vector<std::string> mounts_under(const std::filesystem::path& dir) {
    std::vector<std::string> out;
    std::ifstream mounts("/proc/self/mounts");
    std::string device, mount_point, rest;
    while (mounts >> device >> mount_point && std::getline(mounts, rest)) {
      if (mount_point.rfind(dir.string(), 0) == 0) out.push_back(mount_point);
    }
    std::sort(out.rbegin(), out.rend());
    return out;
  }

  // A cgroup directory and the (empty) ones below it; cgroup files cannot be removed, only
  // directories, deepest first.
  static void remove_cgroup_tree(const std::filesystem::path& top) {
    std::error_code ec;
    if (!std::filesystem::is_directory(top, ec)) return;
    std::vector<std::filesystem::path> dirs;
    for (auto it = std::filesystem::recursive_directory_iterator(top, ec);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec)) dirs.push_back(it->path());
    }
    std::sort(dirs.rbegin(), dirs.rend());
    for (const auto& d : dirs) ::rmdir(d.c_str());
    ::rmdir(top.c_str());
  }

  TempDir dir_;
  std::string dockerd_, busybox_, docker_;
  std::string cgroup_parent_;
  std::unique_ptr<Process> process_;
  std::string why_;
  bool ready_ = false;
};

// One daemon per test binary, started by the first test that asks for it (`shared_dockerd()`)
// and stopped, with its containers, mounts and cgroups, when the binary's tests are over:
// starting one costs about a second.
class SharedDockerdEnvironment : public ::testing::Environment {
 public:
  static PrivateDockerd& get() {
    if (!instance_) instance_ = std::make_unique<PrivateDockerd>();
    return *instance_;
  }
  void TearDown() override { instance_.reset(); }

 private:
  static inline std::unique_ptr<PrivateDockerd> instance_;
};
[[maybe_unused]] inline const ::testing::Environment* const kSharedDockerdEnvironment =
    ::testing::AddGlobalTestEnvironment(new SharedDockerdEnvironment);

inline PrivateDockerd& shared_dockerd() { return SharedDockerdEnvironment::get(); }

inline bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

}  // namespace tessera::testing

// Skips the test when the daemon is not available, or fails it under CI.
#define TESSERA_REQUIRE_DOCKERD(daemon)                                      \
  do {                                                                       \
    if (!(daemon).available()) {                                             \
      if (::tessera::testing::running_in_ci()) FAIL() << (daemon).why_not(); \
      GTEST_SKIP() << (daemon).why_not();                                    \
    }                                                                        \
  } while (0)
