// The primes scheduler: counts the primes below LIMIT on a Tessera cluster.
//
//   primes_scheduler MASTER EXECUTOR LIMIT RANGES
//     MASTER    the master, e.g. tcp://127.0.0.1:5051
//     EXECUTOR  the primes_executor program, at this path on every agent
//     LIMIT     count the primes in [2, LIMIT)
//     RANGES    how many tasks to split the work into
//
// It subscribes, takes offers and launches one task per range in the framework's executor
// ("primes"), which runs once per agent and takes every range sent there (at most four ranges
// an offer, so that every agent gets some). Each task sends its
// count back as a framework message before it finishes; a range whose task ends without its
// count (failed, lost, or its message dropped: messages are best effort) is launched again. When
// every range is counted it prints "primes below LIMIT: TOTAL" and tears the framework down.
#include <zmq.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/sdk/scheduler.h"

namespace {

namespace state = tessera::protocol::state;

void log_sink(void*, int, const char* text, size_t size) {
  std::cerr << "primes_scheduler: " << std::string_view(text, size) << std::endl;
}

struct Range {
  uint64_t from = 0;
  uint64_t to = 0;
  bool running = false;  // a task has it now
  bool counted = false;
  uint64_t count = 0;
  int attempts = 0;
};

// What one task takes, and what its executor takes (once per agent).
constexpr double kTaskCpus = 0.1;
constexpr double kTaskMem = 16;
// What the executor itself holds on each agent it runs on: the master takes it from the offer
// with the first task that starts it there.
constexpr double kExecutorCpus = 0.1;
constexpr double kExecutorMem = 32;
// The most ranges one offer takes, so that the work spreads over the agents.
constexpr size_t kRangesPerOffer = 4;

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: primes_scheduler MASTER EXECUTOR LIMIT RANGES" << std::endl;
    return 2;
  }
  std::string master = argv[1];
  std::string executor_path = argv[2];
  uint64_t limit = std::stoull(argv[3]);
  uint64_t count = std::max<uint64_t>(1, std::stoull(argv[4]));
  std::vector<Range> ranges;
  uint64_t step = (limit + count - 1) / count;
  for (uint64_t from = 2; from < limit; from += step) {
    ranges.push_back({from, std::min(limit, from + step)});
  }
  std::map<std::string, size_t> task_range;  // task id -> range
  std::set<std::string> agents_used;
  // The agents where the executor runs (from its first launch there until it exits).
  std::set<std::string> executor_on;

  void* context = zmq_ctx_new();
  int status = 1;
  {
    tessera::sdk::EventLoop loop;
    tessera::sdk::Bus bus{context, &loop, tessera::sdk::Logger(nullptr, log_sink, 3),
                          "primes-scheduler"};
    tessera::sdk::FrameworkInfo info;
    info.name = "primes";
    tessera::sdk::SchedulerOptions options;
    options.master = master;
    tessera::sdk::SchedulerClient scheduler(bus, info, options);

    auto done = [&] {
      return std::all_of(ranges.begin(), ranges.end(), [](const Range& r) { return r.counted; });
    };
    auto finish = [&] {
      uint64_t total = 0;
      for (const Range& r : ranges) total += r.count;
      std::cout << "primes below " << limit << ": " << total << " (" << ranges.size()
                << " ranges on " << agents_used.size() << " agent(s))" << std::endl;
      status = 0;
      scheduler.teardown();
      loop.request_stop();
    };

    scheduler.on_offers = [&](const std::vector<tessera::protocol::scheduler::Offer>& offers) {
      for (const auto& offer : offers) {
        double cpus = offer.resources.scalar("cpus");
        double mem = offer.resources.scalar("mem");
        if (executor_on.count(offer.agent_id) == 0) {
          // The first task here starts the executor: both must fit in this offer.
          cpus -= kExecutorCpus;
          mem -= kExecutorMem;
        }
        std::vector<tessera::protocol::TaskInfo> tasks;
        for (size_t i = 0; i < ranges.size(); ++i) {
          Range& r = ranges[i];
          if (r.running || r.counted) continue;
          if (cpus < kTaskCpus || mem < kTaskMem || tasks.size() == kRangesPerOffer) break;
          cpus -= kTaskCpus;
          mem -= kTaskMem;
          tessera::protocol::TaskInfo task;
          task.task_id = "range-" + std::to_string(i) + "-" + std::to_string(++r.attempts);
          task.name = "primes in [" + std::to_string(r.from) + ", " + std::to_string(r.to) + ")";
          task.resources.scalars["cpus"] = kTaskCpus;
          task.resources.scalars["mem"] = kTaskMem;
          task.data = std::to_string(r.from) + " " + std::to_string(r.to);
          task.executor.executor_id = "primes";
          task.executor.name = "primes executor";
          task.executor.command.value = "exec '" + executor_path + "'";
          task.executor.resources.scalars["cpus"] = kExecutorCpus;
          task.executor.resources.scalars["mem"] = kExecutorMem;
          r.running = true;
          task_range[task.task_id] = i;
          tasks.push_back(std::move(task));
        }
        if (tasks.empty()) {
          scheduler.decline({offer.offer_id}, 1);
        } else {
          agents_used.insert(offer.agent_id);
          executor_on.insert(offer.agent_id);
          scheduler.accept({offer.offer_id}, tasks, 1);
        }
      }
    };
    scheduler.on_message = [&](const tessera::protocol::scheduler::FrameworkMessage& m) {
      std::istringstream text(m.data);
      std::string task_id;
      uint64_t primes = 0;
      auto it = text >> task_id >> primes ? task_range.find(task_id) : task_range.end();
      if (it == task_range.end()) {
        std::cerr << "primes_scheduler: a message it cannot read from executor '" << m.executor_id
                  << "'" << std::endl;
        return;
      }
      Range& r = ranges[it->second];
      if (!r.counted) {
        r.counted = true;
        r.count = primes;
      }
      if (done()) finish();
    };
    scheduler.on_update = [&](const tessera::protocol::TaskStatus& s) {
      if (!state::terminal(s.state)) return;
      auto it = task_range.find(s.task_id);
      if (it == task_range.end()) return;
      Range& r = ranges[it->second];
      r.running = false;
      if (!r.counted) {
        std::cerr << "primes_scheduler: task '" << s.task_id << "' ended " << s.state
                  << " without its count (" << s.message << "); launching its range again"
                  << std::endl;
      }
    };
    // An executor that ended holds nothing any more; the next task on its agent starts another.
    scheduler.on_executor_exited = [&](const tessera::protocol::scheduler::ExecutorExited& e) {
      std::cerr << "primes_scheduler: the executor on agent '" << e.agent_id << "' ended ("
                << e.message << ")" << std::endl;
      executor_on.erase(e.agent_id);
    };
    scheduler.on_error = [&](const std::string& message) {
      std::cerr << "primes_scheduler: the master refused the framework: " << message << std::endl;
      loop.request_stop();
    };
    scheduler.start();
    loop.run();
  }
  zmq_ctx_term(context);
  return status;
}
