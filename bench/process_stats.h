// What the benches read about a process they started, from /proc; and which programs they start.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace tessera::bench {

// Another build tree's programs (a bench's --build DIR), so that one bench binary measures two
// builds alternately: DIR/bin/tessera-host, DIR/lib/tessera/plugins and
// DIR/bin/tessera-agent-emulator. False, with the missing one printed, when one is missing.
inline bool build_programs(const std::string& build, std::string& host_bin, std::string& plugin_dir,
                           std::string& emulator_bin) {
  host_bin = build + "/bin/tessera-host";
  plugin_dir = build + "/lib/tessera/plugins";
  emulator_bin = build + "/bin/tessera-agent-emulator";
  for (const std::string& path : {host_bin, plugin_dir, emulator_bin}) {
    if (access(path.c_str(), F_OK) != 0) {
      std::fprintf(stderr, "--build: %s is missing\n", path.c_str());
      return false;
    }
  }
  return true;
}

// The resident set size of `pid`, in MiB (0 when it cannot be read).
inline double rss_mb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

// The CPU time (user + system) `pid` has used, in seconds (0 when it cannot be read).
inline double cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // The command (field 2) may hold spaces: the fields are counted after its closing ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields;
  std::string field;
  for (size_t i = close + 2; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == ' ') {
      fields.push_back(field);
      field.clear();
    } else {
      field += text[i];
    }
  }
  // utime and stime are fields 14 and 15 of stat, 12th and 13th after the command.
  if (fields.size() < 13) return 0;
  return (std::stod(fields[11]) + std::stod(fields[12])) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace tessera::bench
