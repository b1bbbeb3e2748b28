// Which waiting runs fit on a resource offer: cpus, mem and disk, and the job's constraints
// (EQUALS, LIKE, UNLIKE) against the agent's attributes, its hostname included.
//
// Values only, no I/O: the plugin calls it for each offer it receives.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "job.h"
#include "tessera/message.h"
#include "tessera/protocol/scheduler.h"

namespace tessera::chronos {

// What one waiting run asks of an agent.
struct RunDemand {
  double cpus = 0;
  double mem = 0;
  double disk = 0;
  std::vector<Constraint> constraints;
};

// The agent's attributes as constraints see them: every attribute of the offer, and
// `hostname` (unless the agent has an attribute of that name), as Chronos matches it.
std::map<std::string, std::string> offer_attributes(const protocol::scheduler::Offer& offer);

// The demands (by index, in the order given) that fit on the offer together, first fit: each
// demand whose constraints hold takes its resources from what the earlier ones left.
std::vector<size_t> place_on_offer(const protocol::scheduler::Offer& offer,
                                   const std::vector<RunDemand>& demands);

// The resources a run of `demand` asks for, as a task carries them.
protocol::Resources task_resources(const RunDemand& demand);

// The environment of a run's task, as Chronos builds it: the variables Chronos gives every task
// (mesos_task_id and MESOS_TASK_ID, CHRONOS_JOB_NAME, CHRONOS_JOB_OWNER, HOST, the
// CHRONOS_RESOURCE_CPU, _MEM and _DISK the job asks for, written as Java writes a double
// ("128.0", "0.5", "1.0E7"), CHRONOS_JOB_RUN_TIME: the run's scheduled time in milliseconds
// since 1970, CHRONOS_JOB_RUN_ATTEMPT: the attempt from 0), then the job's
// environmentVariables: the first of each name, none replacing Chronos's own.
std::map<std::string, std::string> task_environment(const Job& job, const std::string& task_id,
                                                    TimePoint scheduled, int attempt,
                                                    const std::string& hostname);

}  // namespace tessera::chronos
