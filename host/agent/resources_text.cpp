#include "resources_text.h"

#include <cmath>
#include <fstream>
#include <thread>

namespace tessera::host::agent {

protocol::Resources detect_defaults() {
  protocol::Resources out;
  unsigned cpus = std::thread::hardware_concurrency();
  out.scalars["cpus"] = cpus == 0 ? 1.0 : static_cast<double>(cpus);
  double total_mb = 0;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (meminfo >> key >> kb) {
    std::getline(meminfo, unit);
    if (key == "MemTotal:") {
      total_mb = static_cast<double>(kb) / 1024.0;
      break;
    }
  }
  if (total_mb <= 0) total_mb = 2048;
  // Leave the system 1 GiB, or half of a small machine.
  double mem = total_mb >= 2048 ? total_mb - 1024 : total_mb / 2;
  out.scalars["mem"] = std::floor(mem);
  out.scalars["disk"] = 10240;
  out.ranges["ports"] = {{31000, 32000}};
  return out;
}

protocol::Resources with_defaults(protocol::Resources configured,
                                  const protocol::Resources& defaults) {
  for (const char* name : {"cpus", "mem", "disk"}) {
    if (configured.scalars.count(name) == 0 && configured.ranges.count(name) == 0) {
      configured.scalars[name] = defaults.scalar(name);
    }
  }
  if (configured.scalars.count("ports") == 0 && configured.ranges.count("ports") == 0) {
    auto it = defaults.ranges.find("ports");
    if (it != defaults.ranges.end()) configured.ranges["ports"] = it->second;
  }
  return configured;
}

}  // namespace tessera::host::agent
