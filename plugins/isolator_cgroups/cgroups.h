// Cgroups: each container in a cgroup of its own, on cgroup v1 (one hierarchy per controller)
// or v2 (one unified hierarchy), detected at start.
//
// A plain library: no plugin, no messages. The plugin (cgroups_isolator.h) drives it on its
// loop thread; it is not thread-safe. Every path it writes is under `root` (normally
// /sys/fs/cgroup; a temporary tree in unit tests) and under the agent's own parent cgroup, so
// two agents on one machine never touch each other's cgroups.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tessera/protocol/resources.h"
#include "tessera/result.h"

namespace tessera::isolator_cgroups {

enum class Version { kV1, kV2 };

// Where the controllers are: for v1 the mount point of each controller's hierarchy (cpu and
// cpuacct are often one), for v2 the unified mount for all of them.
struct Hierarchy {
  Version version = Version::kV1;
  std::map<std::string, std::filesystem::path> controllers;  // cpu, cpuacct, memory, pids
};

// The controllers every container gets.
inline const std::vector<std::string>& required_controllers() {
  static const std::vector<std::string> names = {"cpu", "cpuacct", "memory", "pids"};
  return names;
}

// Reads a mount table (the text of /proc/self/mounts) and finds the hierarchies. `want` is
// "auto" (v1 when every required controller has a v1 hierarchy, else v2 when the unified
// hierarchy offers cpu, memory and pids in its cgroup.controllers), "v1" or "v2". Mount points
// are taken as they are in the table, under `prefix` when not empty (unit tests give a temp
// dir). Fails, saying what is missing, when no version offers all the controllers.
Result<Hierarchy> detect(const std::string& mounts, const std::string& want,
                         const std::filesystem::path& prefix = "");

// The limits a container gets from its resources.
struct Limits {
  uint64_t cpu_shares = 1024;           // v1 cpu.shares; v2 cpu.weight is derived from it
  std::optional<int64_t> cpu_quota_us;  // CFS quota per period (the hard cap), if any
  int64_t cpu_period_us = 100000;
  std::optional<int64_t> memory_bytes;  // hard limit; beyond it the OOM killer ends it
  std::optional<int64_t> pids_max;
};

struct LimitSettings {
  bool cpu_hard_limit = false;
  int64_t cpu_period_us = 100000;
  int64_t pids_max = 0;  // 0: no limit
};

// cpus -> shares (1024 per cpu, at least 2) and, with a hard limit, the quota; mem (MB) -> bytes.
// Amounts come from the agent, which checked them; out-of-range ones are clamped.
Limits limits_for(const protocol::Resources& resources, const LimitSettings& settings);

// v2's cpu.weight (1..10000) for v1 shares (2..262144), as the kernel and runc map them.
uint64_t weight_for_shares(uint64_t shares);

struct Usage {
  double cpu_seconds = -1;
  int64_t memory_bytes = -1;
  int64_t memory_peak_bytes = -1;
};

class Cgroups {
 public:
  // `parent` is the agent's own cgroup (relative, e.g. "tessera/1f2e..."), created under every
  // controller's hierarchy. On v2 the controllers are enabled for it (cgroup.subtree_control
  // of each ancestor). Fails when it cannot be created or a probe cgroup cannot be made in it:
  // cgroups are not writable here.
  static Result<Cgroups> open(Hierarchy hierarchy, std::filesystem::path parent);

  const Hierarchy& hierarchy() const { return hierarchy_; }

  // The container's cgroup directories, one per distinct hierarchy.
  std::vector<std::filesystem::path> directories(const std::string& container_id) const;
  std::filesystem::path directory(const std::string& controller,
                                  const std::string& container_id) const;

  // Creates the container's cgroups (an existing one is reused) and writes its limits.
  Status create(const std::string& container_id, const Limits& limits);
  Status apply(const std::string& container_id, const Limits& limits);
  // Moves `pid` (and so its future children) into every cgroup of the container.
  Status attach(const std::string& container_id, pid_t pid);
  Usage usage(const std::string& container_id) const;
  // How many times the OOM killer ended a process of the container (0 when not known).
  int64_t oom_kills(const std::string& container_id) const;
  // Whether the container's memory cgroup exists.
  bool exists(const std::string& container_id) const;
  // The pids in the container's cgroups.
  std::vector<pid_t> processes(const std::string& container_id) const;
  // Kills every process left in the container's cgroups and removes them. Fails (after
  // waiting up to about 2 s for the processes to go) when one cannot be removed.
  Status destroy(const std::string& container_id);
  // Removes the parent cgroup (and the levels above it that it made, when empty); a parent
  // with cgroups left in it stays.
  void remove_parent_if_empty() const;
  // The containers that have a cgroup under the parent (found in the memory hierarchy).
  std::vector<std::string> containers() const;

 private:
  Cgroups(Hierarchy hierarchy, std::filesystem::path parent)
      : hierarchy_(std::move(hierarchy)), parent_(std::move(parent)) {}

  Hierarchy hierarchy_;
  std::filesystem::path parent_;
};

// A container id as one safe path component (bytes outside [A-Za-z0-9_.-] as %XX) and back.
std::string cgroup_name(const std::string& container_id);
std::string container_id_of(const std::string& cgroup_name);

}  // namespace tessera::isolator_cgroups
