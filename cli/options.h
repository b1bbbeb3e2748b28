// What the `tessera` command line means: master addresses and the resources a task asks for
// (resource texts are read by protocol::parse_resources, the parser the whole cluster shares). Pure
// functions, unit-tested on their own (tests/cli/cli_unit_test.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tessera/protocol/operator.h"
#include "tessera/protocol/resources.h"
#include "tessera/result.h"

namespace tessera::cli {

inline constexpr const char* kDefaultMaster = "tcp://127.0.0.1:5051";

// The masters to talk to: `flag` when given, else `env` (the value of TESSERA_MASTER), else
// tcp://127.0.0.1:5051. Each is HOST:PORT or tcp://HOST:PORT, several are separated by commas
// (sdk::parse_master_addresses); the result is the list in tcp:// form, comma-separated. An
// http:// address or a bad port is an error naming where it came from and what is expected.
Result<std::string> resolve_master(const std::string& flag, const char* env);

// The resources `tessera exec` asks for, from its options (0 leaves a scalar out). Ports are a
// count, chosen from the offer (see pick_ports).
struct TaskNeeds {
  double cpus = 0;
  double mem = 0;
  double disk = 0;
  uint64_t ports = 0;
  // Any other resource, from --resources ("gpus:1;fpgas:2"; ranges taken as given).
  protocol::Resources other;
  // Every amount asked for except the port count: cpus, mem, disk and `other`.
  protocol::Resources scalars() const;
  // "cpus:0.5;mem:64;ports:2", the text of error messages.
  std::string describe() const;
};

// The first `count` ports of `offered` (a port range list), as ranges; nullopt when there are
// fewer.
std::optional<std::vector<protocol::Range>> pick_ports(const std::vector<protocol::Range>& offered,
                                                       uint64_t count);

// The resources a task with `needs` takes from an offer of `offered`, or nullopt when it does
// not fit.
std::optional<protocol::Resources> fit(const TaskNeeds& needs, const protocol::Resources& offered);

// What `offered` lacks for `needs`, one item per short resource: "mem (512 offered, 1024
// needed)", "ports (0 offered, 2 needed)"; empty when the task fits.
std::vector<std::string> shortfall(const TaskNeeds& needs, const protocol::Resources& offered);

// What role `role`'s quota leaves too little of for `needs`, one item per resource: "cpus
// (quota 1, 0.8 in use, 0.5 needed)"; empty when the role has no quota or room for the task.
std::vector<std::string> quota_shortfall(const TaskNeeds& needs,
                                         const protocol::operator_api::RoleState& role);

// Splits "K=V" (for --env). Errors name the bad item.
Result<std::pair<std::string, std::string>> parse_env(const std::string& item);

// A quantity as tables and messages print it (0.5, 64, 1234567): protocol::format_scalar.
std::string number(double value);

}  // namespace tessera::cli
