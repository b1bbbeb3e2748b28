// tessera-agent-emulator: thousands of emulated agents in one process against a real master
// (see emulator.h and README.md beside this file).
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <thread>

#include "emulator.h"
#ifdef TESSERA_WITH_ZOOKEEPER
#include "zk_detector.h"
#endif

namespace emulator = tessera::emulator;

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
#ifdef TESSERA_WITH_ZOOKEEPER
  // --master zk://HOST:PORT,.../PATH: the leader is read from leader_zookeeper's election.
  tessera::sdk::registered_detector_schemes()["zk"] =
      tessera::leader::zk::zookeeper_detector_factory();
#endif
  emulator::EmulatorOptions options;
  CLI::App app{"tessera-agent-emulator: many emulated agents against a real master"};
  app.add_option("--master", options.master,
                 "the master: HOST:PORT, tcp://HOST:PORT, a comma-separated list, or "
                 "zk://HOST:PORT[,HOST:PORT...]/PATH")
      ->required();
  app.add_option("--agents", options.agents, "how many agents")->check(CLI::Range(1, 1000000));
  app.add_option("--resources", options.resources, "what each agent offers (the [agent] form)");
  std::vector<std::string> attributes;
  app.add_option("--attribute", attributes, "NAME=VALUE, an attribute of every agent (repeatable)");
  app.add_option("--hostname-prefix", options.hostname_prefix,
                 "agent N is called PREFIX<N> (default emu-)");
  app.add_option("--tasks-per-agent", options.tasks_per_agent,
                 "RUNNING tasks each agent holds from its first registration (needs "
                 "--task-framework)")
      ->check(CLI::Range(0, 100000));
  app.add_option("--task-framework", options.task_framework,
                 "the framework id those tasks belong to (a framework the master knows)");
  app.add_option("--task-resources", options.task_resources, "what each of those tasks uses");
  int64_t report_ms = 1000;
  app.add_option("--report-ms", report_ms, "summary line every N ms (0: never)")
      ->check(CLI::Range(int64_t{0}, int64_t{3600000}));
  app.add_option("--io-threads", options.io_threads, "ZeroMQ I/O threads")
      ->check(CLI::Range(1, 16));
  CLI11_PARSE(app, argc, argv);
  for (const std::string& attribute : attributes) {
    size_t equals = attribute.find('=');
    if (equals == 0 || equals == std::string::npos) {
      std::fprintf(stderr, "tessera-agent-emulator: --attribute '%s': expected NAME=VALUE\n",
                   attribute.c_str());
      return 2;
    }
    options.attributes[attribute.substr(0, equals)] = attribute.substr(equals + 1);
  }
  options.report_interval = std::chrono::milliseconds(report_ms);

  // Signals go to one thread that stops the loop; every other thread blocks them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  emulator::AgentEmulator agents(options);
  if (auto s = agents.prepare(); !s) {
    std::fprintf(stderr, "tessera-agent-emulator: %s\n", s.error().message.c_str());
    return 2;
  }
  std::thread waiter([&] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    agents.request_stop();
  });
  waiter.detach();
  agents.run();
  return 0;
}
