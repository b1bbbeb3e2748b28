#include "cgroups.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace tessera::isolator_cgroups {

namespace {

std::string errno_text(int error) { return std::strerror(error); }

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// One write(2) of the whole value: cgroup files take a value per write.
Status write_text(const std::filesystem::path& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return make_error("cannot open '" + path.string() + "': " + errno_text(errno));
  ssize_t n = ::write(fd, value.data(), value.size());
  int error = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    return make_error("cannot write '" + value + "' to '" + path.string() +
                      "': " + errno_text(error));
  }
  return {};
}

std::optional<int64_t> read_number(const std::filesystem::path& path) {
  std::ifstream in(path);
  int64_t value = 0;
  if (!(in >> value)) return std::nullopt;
  return value;
}

// The value of `key` in a flat keyed file ("key value" lines: cpu.stat, memory.events, ...).
std::optional<int64_t> read_key(const std::filesystem::path& path, const std::string& key) {
  std::ifstream in(path);
  std::string name;
  int64_t value = 0;
  while (in >> name >> value) {
    if (name == key) return value;
  }
  return std::nullopt;
}

std::set<std::string> split(const std::string& text, char by) {
  std::set<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, by)) {
    if (!item.empty()) out.insert(item);
  }
  return out;
}

}  // namespace

std::string cgroup_name(const std::string& container_id) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : container_id) {
    if (std::isalnum(c) != 0 || c == '_' || c == '-' || (c == '.' && !out.empty())) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string container_id_of(const std::string& name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%' && i + 2 < name.size() &&
        std::isxdigit(static_cast<unsigned char>(name[i + 1])) != 0 &&
        std::isxdigit(static_cast<unsigned char>(name[i + 2])) != 0) {
      out += static_cast<char>(std::stoi(name.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += name[i];
    }
  }
  return out;
}

Result<Hierarchy> detect(const std::string& mounts, const std::string& want,
                         const std::filesystem::path& prefix) {
  std::map<std::string, std::filesystem::path> v1;
  std::optional<std::filesystem::path> v2;
  std::stringstream lines(mounts);
  std::string line;
  while (std::getline(lines, line)) {
    std::stringstream fields(line);
    std::string source, target, type, options;
    if (!(fields >> source >> target >> type >> options)) continue;
    std::filesystem::path where = prefix.empty()
                                      ? std::filesystem::path(target)
                                      : prefix / std::filesystem::path(target).relative_path();
    if (type == "cgroup") {
      for (const std::string& option : split(options, ',')) {
        for (const std::string& controller : required_controllers()) {
          if (option == controller) v1[controller] = where;
        }
      }
    } else if (type == "cgroup2") {
      v2 = where;
    }
  }
  std::vector<std::string> v1_missing;
  for (const std::string& c : required_controllers()) {
    if (v1.count(c) == 0) v1_missing.push_back(c);
  }
  std::vector<std::string> v2_missing;
  if (v2) {
    std::set<std::string> offered = split(read_text(*v2 / "cgroup.controllers"), ' ');
    std::set<std::string> trimmed;
    for (std::string c : offered) {
      c.erase(std::remove(c.begin(), c.end(), '\n'), c.end());
      if (!c.empty()) trimmed.insert(c);
    }
    // cpuacct is part of cpu on v2.
    for (const char* c : {"cpu", "memory", "pids"}) {
      if (trimmed.count(c) == 0) v2_missing.push_back(c);
    }
  }
  auto join = [](const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  };
  bool v1_ok = v1_missing.empty();
  bool v2_ok = v2 && v2_missing.empty();
  if ((want == "auto" || want == "v1") && v1_ok) {
    return Hierarchy{Version::kV1, v1};
  }
  if ((want == "auto" || want == "v2") && v2_ok) {
    Hierarchy h{Version::kV2, {}};
    for (const std::string& c : required_controllers()) h.controllers[c] = *v2;
    return h;
  }
  std::string why = "no cgroup hierarchy offers the controllers cpu, cpuacct, memory and pids (";
  why += v1_missing.size() == required_controllers().size()
             ? "no v1 hierarchy"
             : "v1 lacks " + (v1_missing.empty() ? std::string("nothing") : join(v1_missing));
  why += "; ";
  why +=
      !v2 ? "no v2 hierarchy" : "v2 lacks " + (v2_missing.empty() ? "nothing" : join(v2_missing));
  why += want == "auto" ? ")" : "; version '" + want + "' was asked for)";
  return make_error(why);
}

Limits limits_for(const protocol::Resources& resources, const LimitSettings& settings) {
  Limits limits;
  limits.cpu_period_us = settings.cpu_period_us;
  auto cpus = resources.scalars.find("cpus");
  if (cpus != resources.scalars.end() && std::isfinite(cpus->second) && cpus->second > 0) {
    double value = std::min(cpus->second, 100000.0);
    limits.cpu_shares =
        std::clamp<uint64_t>(static_cast<uint64_t>(std::llround(value * 1024)), 2, 262144);
    if (settings.cpu_hard_limit) {
      // At least 1 ms per period: the kernel refuses less.
      limits.cpu_quota_us = std::max<int64_t>(
          1000,
          static_cast<int64_t>(std::llround(value * static_cast<double>(settings.cpu_period_us))));
    }
  }
  auto mem = resources.scalars.find("mem");
  if (mem != resources.scalars.end() && std::isfinite(mem->second) && mem->second > 0) {
    // At least 4 MiB: below that a shell cannot even start.
    double bytes = std::min(mem->second, 1e10) * 1024 * 1024;
    limits.memory_bytes = std::max<int64_t>(4 << 20, static_cast<int64_t>(bytes));
  }
  if (settings.pids_max > 0) limits.pids_max = settings.pids_max;
  return limits;
}

uint64_t weight_for_shares(uint64_t shares) {
  shares = std::clamp<uint64_t>(shares, 2, 262144);
  return 1 + ((shares - 2) * 9999) / 262142;
}

Result<Cgroups> Cgroups::open(Hierarchy hierarchy, std::filesystem::path parent) {
  Cgroups cgroups(std::move(hierarchy), std::move(parent));
  std::set<std::filesystem::path> roots;
  for (const auto& [name, root] : cgroups.hierarchy_.controllers) roots.insert(root);
  for (const auto& root : roots) {
    std::error_code ec;
    std::filesystem::create_directories(root / cgroups.parent_, ec);
    if (ec) {
      return make_error("cannot create the cgroup '" + (root / cgroups.parent_).string() +
                        "': " + ec.message());
    }
    if (cgroups.hierarchy_.version == Version::kV2) {
      // Each level from the root down to the parent hands cpu, memory and pids to its children.
      std::filesystem::path level = root;
      for (const auto& part : cgroups.parent_) {
        if (auto s = write_text(level / "cgroup.subtree_control", "+cpu +memory +pids"); !s) {
          return s.error().context("enabling controllers");
        }
        level /= part;
      }
      if (auto s = write_text(level / "cgroup.subtree_control", "+cpu +memory +pids"); !s) {
        return s.error().context("enabling controllers");
      }
    }
    // A probe: making and removing a cgroup is what every task needs.
    std::filesystem::path probe = root / cgroups.parent_ / (".probe-" + std::to_string(::getpid()));
    if (::mkdir(probe.c_str(), 0755) != 0 && errno != EEXIST) {
      return make_error("cannot create a cgroup in '" + (root / cgroups.parent_).string() +
                        "': " + errno_text(errno));
    }
    ::rmdir(probe.c_str());
  }
  return cgroups;
}

std::filesystem::path Cgroups::directory(const std::string& controller,
                                         const std::string& container_id) const {
  return hierarchy_.controllers.at(controller) / parent_ / cgroup_name(container_id);
}

std::vector<std::filesystem::path> Cgroups::directories(const std::string& container_id) const {
  std::set<std::filesystem::path> seen;
  std::vector<std::filesystem::path> out;
  for (const auto& [name, root] : hierarchy_.controllers) {
    auto dir = root / parent_ / cgroup_name(container_id);
    if (seen.insert(dir).second) out.push_back(dir);
  }
  return out;
}

Status Cgroups::create(const std::string& container_id, const Limits& limits) {
  for (const auto& dir : directories(container_id)) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return make_error("cannot create the cgroup '" + dir.string() + "': " + errno_text(errno));
    }
  }
  return apply(container_id, limits);
}

Status Cgroups::apply(const std::string& container_id, const Limits& limits) {
  auto cpu = directory("cpu", container_id);
  auto memory = directory("memory", container_id);
  auto pids = directory("pids", container_id);
  if (hierarchy_.version == Version::kV1) {
    if (auto s = write_text(cpu / "cpu.shares", std::to_string(limits.cpu_shares)); !s) return s;
    if (auto s = write_text(cpu / "cpu.cfs_period_us", std::to_string(limits.cpu_period_us)); !s) {
      return s;
    }
    if (auto s =
            write_text(cpu / "cpu.cfs_quota_us", std::to_string(limits.cpu_quota_us.value_or(-1)));
        !s) {
      return s;
    }
    if (limits.memory_bytes) {
      if (auto s =
              write_text(memory / "memory.limit_in_bytes", std::to_string(*limits.memory_bytes));
          !s) {
        return s;
      }
      // Swap would let it go on beyond the limit: no swap where the kernel accounts it.
      if (std::filesystem::exists(memory / "memory.memsw.limit_in_bytes")) {
        (void)write_text(memory / "memory.memsw.limit_in_bytes",
                         std::to_string(*limits.memory_bytes));
      }
    }
    if (auto s = write_text(pids / "pids.max",
                            limits.pids_max ? std::to_string(*limits.pids_max) : "max");
        !s) {
      return s;
    }
    return {};
  }
  if (auto s = write_text(cpu / "cpu.weight", std::to_string(weight_for_shares(limits.cpu_shares)));
      !s) {
    return s;
  }
  std::string max = (limits.cpu_quota_us ? std::to_string(*limits.cpu_quota_us) : "max") + " " +
                    std::to_string(limits.cpu_period_us);
  if (auto s = write_text(cpu / "cpu.max", max); !s) return s;
  if (auto s = write_text(memory / "memory.max",
                          limits.memory_bytes ? std::to_string(*limits.memory_bytes) : "max");
      !s) {
    return s;
  }
  if (limits.memory_bytes && std::filesystem::exists(memory / "memory.swap.max")) {
    (void)write_text(memory / "memory.swap.max", "0");
  }
  return write_text(pids / "pids.max", limits.pids_max ? std::to_string(*limits.pids_max) : "max");
}

Status Cgroups::attach(const std::string& container_id, pid_t pid) {
  for (const auto& dir : directories(container_id)) {
    if (auto s = write_text(dir / "cgroup.procs", std::to_string(pid)); !s) return s;
  }
  return {};
}

Usage Cgroups::usage(const std::string& container_id) const {
  Usage usage;
  if (hierarchy_.version == Version::kV1) {
    if (auto ns = read_number(directory("cpuacct", container_id) / "cpuacct.usage")) {
      usage.cpu_seconds = static_cast<double>(*ns) / 1e9;
    }
    auto memory = directory("memory", container_id);
    usage.memory_bytes = read_number(memory / "memory.usage_in_bytes").value_or(-1);
    usage.memory_peak_bytes = read_number(memory / "memory.max_usage_in_bytes").value_or(-1);
    return usage;
  }
  if (auto us = read_key(directory("cpu", container_id) / "cpu.stat", "usage_usec")) {
    usage.cpu_seconds = static_cast<double>(*us) / 1e6;
  }
  auto memory = directory("memory", container_id);
  usage.memory_bytes = read_number(memory / "memory.current").value_or(-1);
  usage.memory_peak_bytes = read_number(memory / "memory.peak").value_or(-1);
  return usage;
}

int64_t Cgroups::oom_kills(const std::string& container_id) const {
  auto memory = directory("memory", container_id);
  if (hierarchy_.version == Version::kV1) {
    return read_key(memory / "memory.oom_control", "oom_kill").value_or(0);
  }
  return read_key(memory / "memory.events", "oom_kill").value_or(0);
}

bool Cgroups::exists(const std::string& container_id) const {
  std::error_code ec;
  return std::filesystem::is_directory(directory("memory", container_id), ec);
}

std::vector<pid_t> Cgroups::processes(const std::string& container_id) const {
  std::set<pid_t> out;
  for (const auto& dir : directories(container_id)) {
    std::ifstream in(dir / "cgroup.procs");
    pid_t pid = 0;
    while (in >> pid) out.insert(pid);
  }
  return {out.begin(), out.end()};
}

Status Cgroups::destroy(const std::string& container_id) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  std::string problem;
  for (const auto& dir : directories(container_id)) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) continue;
    while (true) {
      std::vector<pid_t> left;
      {
        std::ifstream in(dir / "cgroup.procs");
        pid_t pid = 0;
        while (in >> pid) left.push_back(pid);
      }
      for (pid_t pid : left) ::kill(pid, SIGKILL);
      if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        problem = "cannot remove the cgroup '" + dir.string() + "': " + errno_text(errno);
        break;
      }
      // The killed processes leave the cgroup once the kernel has torn them down.
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (!problem.empty()) return make_error(problem);
  return {};
}

void Cgroups::remove_parent_if_empty() const {
  std::set<std::filesystem::path> roots;
  for (const auto& [name, root] : hierarchy_.controllers) roots.insert(root);
  for (const auto& root : roots) {
    // rmdir fails on a cgroup with children or processes: only empty levels go.
    for (auto level = parent_; !level.empty() && level != level.root_path();
         level = level.parent_path()) {
      if (::rmdir((root / level).c_str()) != 0) break;
    }
  }
}

std::vector<std::string> Cgroups::containers() const {
  std::vector<std::string> out;
  std::error_code ec;
  auto parent = hierarchy_.controllers.at("memory") / parent_;
  for (const auto& entry : std::filesystem::directory_iterator(parent, ec)) {
    if (!entry.is_directory(ec)) continue;
    std::string name = entry.path().filename().string();
    if (name.rfind(".probe-", 0) == 0) continue;
    out.push_back(container_id_of(name));
  }
  return out;
}

}  // namespace tessera::isolator_cgroups
