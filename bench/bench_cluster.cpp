// bench_cluster: task throughput and launch latency of a real cluster on this machine.
//
// One master and N agents (default 2) run as separate tessera-host processes on loopback, in a
// temporary directory, with allocator_drf, leader_standalone and isolator_posix, exactly as a
// user would run them (only [log] level = "warn", so the log does not dominate). A framework in
// this process (sdk::SchedulerClient on its own EventLoop) launches --tasks trivial tasks
// (`true`) as fast as offers allow, packing as many tasks into each offer as fit, and
// acknowledges every update (auto-ack). It records per task when it sent the accept, when it
// received TASK_RUNNING and when it received TASK_FINISHED.
//
// Reported per run, and as the median of --runs runs:
//   tasks/s           tasks / (last TASK_FINISHED received - first offer received)
//   accept->RUNNING   p50 / p99 / max
//   accept->FINISHED  p50 / p99 / max
//   CPU seconds       of the master, the agents (their own threads) and the tasks (reaped
//                     children of the agents), and of this process (the framework)
// and, in the same run of the program, a baseline: posix_spawn + waitpid of /bin/true, 1000
// times (median per spawn and spawns/s), so that the ratio tessera / bare is quoted.
//
// Every task must end TASK_FINISHED; anything else stops the program with exit status 1.
// Every process started and the temporary directory are cleaned up (support/process.h).
//
// With --isolation cgroups (root, writable cgroups) the agents run isolator_cgroups around
// isolator_posix; with --isolation docker (a running dockerd on --docker-socket, with --image
// present) every task is a Docker container of that image running `true`, through
// isolator_docker. The baseline is then the bare cost of the same thing without Tessera: a
// cgroup lifecycle (mkdir + limits + posix_spawn + attach + waitpid + rmdir), or a Docker
// create + start + wait + remove through the Engine API, one at a time and, for Docker, also
// with as many at once as the runtime's workers (4).
//
// Each task execs `true` directly (CommandInfo shell: false), as the bare loop does; with
// --command shell it runs `/bin/sh -c true` instead, and with --command both every run measures
// the two one after the other (the order alternating between runs), so that the cost of the
// shell is read from one invocation on one machine state.
//
// Usage: bench_cluster [--tasks N] [--agents N] [--runs N] [--agent-cpus X] [--agent-mem MB]
//                      [--interval-ms N] [--settle-seconds N] [--keep-logs]
//                      [--isolation posix|cgroups|docker] [--docker-socket PATH] [--image NAME]
//                      [--command argv|shell|both]
// See docs/bench-cluster.md and docs/bench-isolation.md.
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cgroups.h"
#include "docker_engine.h"
#include "support/process.h"
#include "tessera/protocol/operator.h"
#include "tessera/sdk/scheduler.h"

namespace {

using Clock = std::chrono::steady_clock;
using tessera::testing::Process;
using tessera::testing::TempDir;
namespace protocol = tessera::protocol;
namespace sdk = tessera::sdk;
namespace state = tessera::protocol::state;

struct Options {
  int tasks = 10000;
  int agents = 2;
  int runs = 3;
  double agent_cpus = 64;
  double agent_mem = 65536;
  int interval_ms = 50;
  int settle_seconds = 2;
  bool keep_logs = false;
  std::string isolation = "posix";  // posix, cgroups or docker
  std::string docker_socket = "/var/run/docker.sock";
  std::string image = "busybox";
  // How each posix task names `true`: "argv" execs it directly (shell: false), as the bare
  // loop does; "shell" runs `/bin/sh -c true`; "both" alternates the two within each run.
  std::string command = "argv";
};

[[noreturn]] void die(const std::string& message) {
  std::cerr << "bench_cluster: " << message << std::endl;
  std::exit(1);
}

// A failed run: thrown so that every process and the temporary directory are cleaned up on
// the way out; main() prints it and exits 1.
struct RunFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--tasks")
      o.tasks = std::stoi(value());
    else if (a == "--agents")
      o.agents = std::stoi(value());
    else if (a == "--runs")
      o.runs = std::stoi(value());
    else if (a == "--agent-cpus")
      o.agent_cpus = std::stod(value());
    else if (a == "--agent-mem")
      o.agent_mem = std::stod(value());
    else if (a == "--interval-ms")
      o.interval_ms = std::stoi(value());
    else if (a == "--settle-seconds")
      o.settle_seconds = std::stoi(value());
    else if (a == "--keep-logs")
      o.keep_logs = true;
    else if (a == "--isolation")
      o.isolation = value();
    else if (a == "--docker-socket")
      o.docker_socket = value();
    else if (a == "--image")
      o.image = value();
    else if (a == "--command")
      o.command = value();
    else if (a == "--help" || a == "-h") {
      std::cout << "usage: bench_cluster [--tasks N (10000)] [--agents N (2)] [--runs N (3)]\n"
                   "                     [--agent-cpus X (64)] [--agent-mem MB (65536)]\n"
                   "                     [--interval-ms N (50)] [--settle-seconds N (2)]\n"
                   "                     [--keep-logs] [--isolation posix|cgroups|docker]\n"
                   "                     [--docker-socket PATH] [--image NAME (busybox)]\n"
                   "                     [--command argv|shell|both (argv)]\n";
      std::exit(0);
    } else {
      die("unknown option '" + a + "' (try --help)");
    }
  }
  if (o.tasks < 1 || o.agents < 1 || o.runs < 1 || o.interval_ms < 1) die("values must be >= 1");
  if (o.isolation != "posix" && o.isolation != "cgroups" && o.isolation != "docker") {
    die("--isolation must be posix, cgroups or docker");
  }
  if (o.command != "argv" && o.command != "shell" && o.command != "both") {
    die("--command must be argv, shell or both");
  }
  return o;
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t index = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, index == 0 ? 0 : index - 1)];
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  in >> a >> b >> c;
  char text[64];
  std::snprintf(text, sizeof text, "%.2f %.2f %.2f", a, b, c);
  return text;
}

// utime+stime (self) and cutime+cstime (reaped children) of a process, in seconds.
std::pair<double, double> cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');
  if (close == std::string::npos) return {0, 0};
  std::istringstream fields(text.substr(close + 2));
  std::vector<std::string> f;
  for (std::string s; fields >> s;) f.push_back(s);
  // After the command: state(0) ... utime(11) stime(12) cutime(13) cstime(14).
  if (f.size() < 15) return {0, 0};
  double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  return {(std::stod(f[11]) + std::stod(f[12])) / tick,
          (std::stod(f[13]) + std::stod(f[14])) / tick};
}

double self_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// --- Baseline ---------------------------------------------------------------------------------

struct Baseline {
  double median_ms = 0;
  double p99_ms = 0;
  double per_second = 0;
};

Baseline bare_spawn(int count) {
  std::vector<double> each;
  char arg0[] = "/bin/true";
  char* args[] = {arg0, nullptr};
  auto once = [&] {
    pid_t pid = 0;
    if (int rc = posix_spawn(&pid, "/bin/true", nullptr, nullptr, args, environ); rc != 0) {
      die(std::string("posix_spawn /bin/true: ") + std::strerror(rc));
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("/bin/true did not exit 0");
  };
  for (int i = 0; i < 50; ++i) once();  // warm up
  auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    auto t = Clock::now();
    once();
    each.push_back(ms(Clock::now() - t));
  }
  double total = std::chrono::duration<double>(Clock::now() - start).count();
  return {median(each), percentile(each, 99), count / total};
}

// The bare cgroup lifecycle of a task: a cgroup made with a memory and pids limit, entered by a
// fresh /bin/true, and removed once it exited (what isolator_cgroups and isolator_posix do for a
// task, without Tessera).
Baseline bare_cgroup_lifecycle(int count) {
  namespace cg = tessera::isolator_cgroups;
  std::ifstream in("/proc/self/mounts");
  std::stringstream mounts;
  mounts << in.rdbuf();
  auto hierarchy = cg::detect(mounts.str(), "auto");
  if (!hierarchy) die("cgroups: " + hierarchy.error().message);
  auto opened = cg::Cgroups::open(*hierarchy, "tessera-bench-" + std::to_string(::getpid()));
  if (!opened) die("cgroups: " + opened.error().message);
  cg::Cgroups& cgroups = *opened;
  cg::Limits limits;
  limits.memory_bytes = 64 << 20;
  limits.pids_max = 4096;
  char arg0[] = "/bin/true";
  char* args[] = {arg0, nullptr};
  std::vector<double> each;
  auto start = Clock::now();
  for (int i = 0; i < count + 20; ++i) {
    if (i == 20) start = Clock::now();  // the first 20 warm up
    std::string id = "bare" + std::to_string(i);
    auto t = Clock::now();
    pid_t pid = 0;
    if (!cgroups.create(id, limits) ||
        posix_spawn(&pid, "/bin/true", nullptr, nullptr, args, environ) != 0) {
      die("bare cgroup lifecycle failed");
    }
    bool attached = cgroups.attach(id, pid).ok();
    waitpid(pid, nullptr, 0);
    if (!attached || !cgroups.destroy(id)) die("bare cgroup lifecycle failed");
    if (i >= 20) each.push_back(ms(Clock::now() - t));
  }
  double total = std::chrono::duration<double>(Clock::now() - start).count();
  cgroups.remove_parent_if_empty();
  return {median(each), percentile(each, 99), count / total};
}

// The bare Docker cost of a task: create + start + wait + remove of a container of `image`
// running `true` through the Engine API, `parallel` at a time.
Baseline bare_docker(const Options& options, int count, int parallel) {
  tessera::docker::EngineOptions engine_options;
  engine_options.socket_path = options.docker_socket;
  std::vector<double> each;
  std::mutex mutex;
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  auto worker = [&] {
    tessera::docker::Engine engine(engine_options);
    while (next.fetch_add(1) < count && !failed) {
      auto t = Clock::now();
      tessera::docker::ContainerSpec spec;
      spec.image = options.image;
      spec.cmd = {"true"};
      auto id = engine.create(spec);
      bool ok = id && engine.start(*id).ok();
      ok = ok && engine.wait(*id).ok();
      ok = ok && engine.remove(*id, true).ok();
      if (!ok) {
        failed = true;
        std::cerr << "bare docker: " << (id ? "a call failed" : id.error().message) << std::endl;
      }
      std::lock_guard lock(mutex);
      each.push_back(ms(Clock::now() - t));
    }
  };
  auto start = Clock::now();
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(parallel));
  for (int i = 0; i < parallel; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (failed) die("the bare Docker baseline failed (is dockerd up, with the image?)");
  double total = std::chrono::duration<double>(Clock::now() - start).count();
  return {median(each), percentile(each, 99), count / total};
}

// --- One run ----------------------------------------------------------------------------------

struct RunResult {
  double seconds = 0;
  double tasks_per_second = 0;
  double running_p50 = 0, running_p99 = 0, running_max = 0;
  double finished_p50 = 0, finished_p99 = 0, finished_max = 0;
  double master_cpu = 0, agents_cpu = 0, tasks_cpu = 0, framework_cpu = 0;
  size_t offers = 0, accepts = 0;
  size_t max_in_flight = 0;
  std::string load_before, load_after;
  // The bare rate around this run (the mean of the measurements just before and just after it),
  // and this run's throughput over it.
  double bare_per_second = 0;
  double ratio_to_bare = 0;
};

void log_sink(void*, int level, const char* text, size_t size) {
  std::cerr << "framework [" << level << "] " << std::string_view(text, size) << std::endl;
}

class Cluster {
 public:
  Cluster(const Options& options, const TempDir& dir) : options_(options), dir_(dir) {}
  ~Cluster() { stop(); }

  void start() {
    std::string master =
        "[node]\nname = \"master\"\nroles = [\"master\"]\n"
        "leader = \"leader_standalone\"\n"
        "work_dir = \"" +
        (dir_ / "master").string() +
        "\"\n"
        "plugin_dirs = [\"" TESSERA_PLUGIN_DIR
        "\"]\n"
        "endpoints_file = \"" +
        (dir_ / "master.endpoints").string() +
        "\"\n"
        "[log]\nlevel = \"warn\"\n"
        "[master]\nallocator = \"allocator_drf\"\n"
        "endpoint = \"tcp://127.0.0.1:0\"\n"
        "[plugins.allocator_drf]\nallocation_interval_ms = " +
        std::to_string(options_.interval_ms) + "\n";
    auto config = dir_.write("master.toml", master);
    master_ = std::make_unique<Process>(std::vector<std::string>{TESSERA_HOST_BIN, config.string()},
                                        dir_ / "master.log");
    std::regex line("master\\.endpoint = \"([^\"]+)\"");
    auto deadline = Clock::now() + std::chrono::seconds(20);
    while (endpoint_.empty()) {
      std::smatch m;
      std::string text = tessera::testing::read_file(dir_ / "master.endpoints");
      if (std::regex_search(text, m, line))
        endpoint_ = m[1];
      else if (Clock::now() > deadline || master_->wait(std::chrono::milliseconds(0))) {
        throw RunFailed("the master did not start:\n" + master_->output());
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    char resources[160];
    std::snprintf(resources, sizeof resources, "cpus:%g;mem:%g;disk:1024;ports:[31000-31099]",
                  options_.agent_cpus, options_.agent_mem);
    for (int i = 0; i < options_.agents; ++i) {
      std::string name = "agent" + std::to_string(i);
      std::string text = "[node]\nname = \"" + name +
                         "\"\nroles = [\"agent\"]\n"
                         "leader = \"leader_standalone\"\n"
                         "work_dir = \"" +
                         (dir_ / name).string() +
                         "\"\n"
                         "plugin_dirs = [\"" TESSERA_PLUGIN_DIR
                         "\"]\n"
                         "[log]\nlevel = \"warn\"\n"
                         "[agent]\nisolators = [" +
                         isolators() + "]\nhostname = \"" + name +
                         "\"\n"
                         "resources = \"" +
                         resources + "\"\n" + runtimes() +
                         "[plugins.leader_standalone]\nmaster = \"" + endpoint_ +
                         "\"\n"
                         "[plugins.isolator_posix]\nkill_on_stop = true\n" +
                         plugin_tables();
      auto path = dir_.write(name + ".toml", text);
      agents_.push_back(std::make_unique<Process>(
          std::vector<std::string>{TESSERA_HOST_BIN, path.string()}, dir_ / (name + ".log")));
    }
  }

  // Stops the agents, then the master; complains about any unclean exit.
  void stop() {
    for (auto& agent : agents_) {
      if (!agent) continue;
      auto code = agent->stop(std::chrono::seconds(20));
      if (code != 0) {
        std::cerr << "bench_cluster: an agent exited with "
                  << (code ? std::to_string(*code) : "a timeout") << ":\n"
                  << agent->output() << std::endl;
      }
      agent.reset();
    }
    if (master_) {
      auto code = master_->stop(std::chrono::seconds(20));
      if (code != 0) {
        std::cerr << "bench_cluster: the master exited with "
                  << (code ? std::to_string(*code) : "a timeout") << ":\n"
                  << master_->output() << std::endl;
      }
      master_.reset();
    }
  }

  const std::string& endpoint() const { return endpoint_; }
  Process& master() { return *master_; }

  // The agents' [agent] isolators list (inside the brackets), runtimes included.
  std::string isolators() const {
    if (options_.isolation == "cgroups") return "\"isolator_posix\", \"isolator_cgroups\"";
    if (options_.isolation == "docker") return "\"isolator_posix\", \"isolator_docker\"";
    return "\"isolator_posix\"";
  }
  std::string runtimes() const {
    if (options_.isolation != "docker") return "";
    return "runtimes = { posix = \"isolator_posix\", docker = \"isolator_docker\" }\n";
  }
  std::string plugin_tables() const {
    if (options_.isolation == "cgroups") {
      return "[plugins.isolator_cgroups]\nparent = \"tessera-bench-cluster-" +
             std::to_string(::getpid()) + "\"\n";
    }
    if (options_.isolation == "docker") {
      return "[plugins.isolator_docker]\nsocket = \"" + options_.docker_socket +
             "\"\nkill_on_stop = true\n";
    }
    return "";
  }
  std::vector<std::unique_ptr<Process>>& agents() { return agents_; }

 private:
  const Options& options_;
  const TempDir& dir_;
  std::unique_ptr<Process> master_;
  std::vector<std::unique_ptr<Process>> agents_;
  std::string endpoint_;
};

struct TaskTimes {
  Clock::time_point accepted{}, running{}, finished{};
};

RunResult run_once(const Options& options, int run_index, bool shell, const TempDir& dir) {
  Cluster cluster(options, dir);
  cluster.start();

  struct Context {
    void* handle = zmq_ctx_new();
    ~Context() { zmq_ctx_term(handle); }
  } zmq_context;
  void* context = zmq_context.handle;
  RunResult result;
  {
    sdk::EventLoop loop;
    sdk::Bus bus{context, &loop, sdk::Logger(nullptr, log_sink, TESSERA_LOG_WARN),
                 "bench-framework"};

    auto run_until = [&](const std::function<bool()>& done, std::chrono::milliseconds timeout) {
      if (done()) return true;
      bool ok = false;
      auto deadline = Clock::now() + timeout;
      auto tick = loop.every(std::chrono::milliseconds(5), [&] {
        if (done()) {
          ok = true;
          loop.request_stop();
        } else if (Clock::now() > deadline) {
          loop.request_stop();
        }
      });
      loop.run();
      loop.reset_stop();
      loop.cancel(tick);
      return ok;
    };

    // Wait until every agent is registered (asked through the operator API, since the logs
    // are at warn), so the first offer covers every agent.
    {
      sdk::detail::DealerConnection operator_api(bus, "operator");
      if (auto s = operator_api.open(cluster.endpoint()); !s) throw RunFailed(s.error().message);
      size_t registered = 0;
      bool asking = false;
      auto ask = loop.every(std::chrono::milliseconds(20), [&] {
        if (asking) return;
        asking = true;
        operator_api.request(
            protocol::operator_api::GetState{},
            [&](tessera::Result<tessera::Envelope> reply) {
              asking = false;
              if (!reply) return;
              auto body = reply->body<protocol::operator_api::State>();
              if (!body) return;
              size_t active = 0;
              for (const auto& a : body->agents) active += a.active;
              registered = active;
            },
            std::chrono::milliseconds(1000));
      });
      bool ok = run_until([&] { return registered >= static_cast<size_t>(options.agents); },
                          std::chrono::seconds(30));
      loop.cancel(ask);
      operator_api.close();
      if (!ok) {
        std::string logs = cluster.master().output();
        for (auto& a : cluster.agents()) logs += "\n--- agent ---\n" + a->output();
        throw RunFailed("only " + std::to_string(registered) + " of " +
                        std::to_string(options.agents) + " agents registered in 30 s:\n" + logs);
      }
    }

    // The tasks: `true`, asking cpus 0.01..0.10 and mem 1..8 MB (cycling).
    std::vector<protocol::TaskInfo> tasks(options.tasks);
    for (int i = 0; i < options.tasks; ++i) {
      auto& t = tasks[i];
      t.task_id = "t" + std::to_string(i);
      t.name = t.task_id;
      t.resources.scalars["cpus"] = 0.01 * (1 + i % 10);
      t.resources.scalars["mem"] = 1 + i % 8;
      // Like for like: the bare loop execs /bin/true itself, without a shell.
      t.command.shell = shell;
      t.command.value = "true";
      t.kill_grace_seconds = 1;
      if (options.isolation == "docker") {
        t.container.type = "DOCKER";
        t.container.image = options.image;
        // The daemon refuses a memory limit under 6 MB.
        t.resources.scalars["mem"] = 8 + i % 8;
      }
    }
    std::vector<TaskTimes> times(options.tasks);
    size_t next = 0;  // tasks[next..] are not launched yet
    size_t finished = 0, running = 0;
    std::string failure;
    std::optional<Clock::time_point> first_offer;
    Clock::time_point last_finished{};
    bool suppressed = false;

    sdk::FrameworkInfo info;
    info.name = "bench-cluster";
    sdk::SchedulerOptions scheduler_options;
    scheduler_options.master = cluster.endpoint();
    sdk::SchedulerClient client(bus, info, scheduler_options);
    client.on_offers = [&](const std::vector<protocol::scheduler::Offer>& offers) {
      auto now = Clock::now();
      if (!first_offer) first_offer = now;
      for (const auto& offer : offers) {
        ++result.offers;
        if (next >= tasks.size()) {
          client.decline({offer.offer_id}, 3600);
          continue;
        }
        // Tasks are launched in order, as many as fit; the first that does not fit ends it.
        protocol::Resources left = offer.resources;
        std::vector<protocol::TaskInfo> launch;
        while (next < tasks.size() && left.contains(tasks[next].resources)) {
          left -= tasks[next].resources;
          times[next].accepted = now;
          launch.push_back(tasks[next]);
          ++next;
        }
        if (launch.empty()) {
          client.decline({offer.offer_id}, 1);
        } else {
          ++result.accepts;
          client.accept({offer.offer_id}, launch, 1);
        }
      }
      if (next >= tasks.size() && !suppressed) {
        suppressed = true;
        client.suppress();
      }
    };
    client.on_update = [&](const protocol::TaskStatus& status) {
      auto now = Clock::now();
      if (status.task_id.size() < 2 || status.task_id[0] != 't') return;
      size_t index = std::stoul(status.task_id.substr(1));
      if (index >= times.size()) return;
      TaskTimes& t = times[index];
      if (status.state == state::kRunning) {
        if (t.running == Clock::time_point{}) {
          t.running = now;
          ++running;
          result.max_in_flight = std::max(result.max_in_flight, running - finished);
        }
      } else if (status.state == state::kFinished) {
        if (t.finished == Clock::time_point{}) {
          t.finished = now;
          last_finished = now;
          ++finished;
          if (status.exit_code != 0 && failure.empty()) {
            failure = "task " + status.task_id + " FINISHED with exit code " +
                      std::to_string(status.exit_code);
          }
        }
      } else if (state::terminal(status.state) || status.state == state::kLost ||
                 status.state == state::kUnreachable) {
        if (failure.empty()) {
          failure = "task " + status.task_id + " ended " + status.state + " (" + status.reason +
                    "): " + status.message;
        }
      }
    };
    client.on_error = [&](const std::string& message) { failure = "framework error: " + message; };
    client.start();

    result.load_before = loadavg();
    double framework_cpu_before = self_cpu_seconds();
    auto timeout = std::chrono::milliseconds(60000 + 20LL * options.tasks);
    bool done = run_until(
        [&] { return !failure.empty() || finished == static_cast<size_t>(options.tasks); },
        timeout);
    result.load_after = loadavg();
    result.framework_cpu = self_cpu_seconds() - framework_cpu_before;
    if (!failure.empty() || !done) {
      std::string why = !failure.empty() ? failure
                                         : "timed out: " + std::to_string(finished) + " of " +
                                               std::to_string(options.tasks) + " finished, " +
                                               std::to_string(next) + " launched";
      std::string logs = "\n--- master ---\n" + cluster.master().output();
      for (auto& a : cluster.agents()) logs += "--- agent ---\n" + a->output();
      throw RunFailed("run " + std::to_string(run_index) + " FAILED: " + why + logs);
    }

    result.master_cpu = cpu_seconds(cluster.master().pid()).first;
    for (auto& a : cluster.agents()) {
      auto [self, children] = cpu_seconds(a->pid());
      result.agents_cpu += self;
      result.tasks_cpu += children;
    }
    result.seconds = std::chrono::duration<double>(last_finished - *first_offer).count();
    result.tasks_per_second = options.tasks / result.seconds;
    std::vector<double> to_running, to_finished;
    for (const auto& t : times) {
      if (t.running != Clock::time_point{}) to_running.push_back(ms(t.running - t.accepted));
      to_finished.push_back(ms(t.finished - t.accepted));
    }
    if (to_running.size() != times.size()) {
      // A RUNNING update is always sent before the terminal one (agent README); say so if not.
      std::cerr << "bench_cluster: note: " << times.size() - to_running.size()
                << " task(s) finished without a TASK_RUNNING seen\n";
    }
    result.running_p50 = percentile(to_running, 50);
    result.running_p99 = percentile(to_running, 99);
    result.running_max = percentile(to_running, 100);
    result.finished_p50 = percentile(to_finished, 50);
    result.finished_p99 = percentile(to_finished, 99);
    result.finished_max = percentile(to_finished, 100);

    // Warnings in the logs are worth knowing about (the logs are at warn).
    size_t warnings = cluster.master().count("warn") + cluster.master().count("error");
    for (auto& a : cluster.agents()) warnings += a->count("warn") + a->count("error");
    if (warnings > 0) {
      std::cerr << "bench_cluster: run " << run_index << ": " << warnings
                << " warning/error line(s) in the node logs\n";
      if (options.keep_logs) {
        std::cerr << "--- master ---\n" << cluster.master().output();
        for (auto& a : cluster.agents()) std::cerr << "--- agent ---\n" << a->output();
      }
    }
    client.teardown();
    run_until([] { return false; }, std::chrono::milliseconds(100));
  }
  cluster.stop();
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parse(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  std::printf(
      "bench_cluster: %d task(s) of `true`, %d agent(s) of cpus:%g;mem:%g, %d run(s), "
      "allocation_interval_ms %d, %ld core(s), load average %s\n",
      options.tasks, options.agents, options.agent_cpus, options.agent_mem, options.runs,
      options.interval_ms, cores, loadavg().c_str());

  Baseline bare = bare_spawn(1000);
  std::printf(
      "baseline: posix_spawn+waitpid of /bin/true x1000: median %.3f ms, p99 %.3f ms, "
      "%.0f spawns/s\n",
      bare.median_ms, bare.p99_ms, bare.per_second);
  // The bare cost of the isolation asked for, which the run's throughput is compared with.
  std::string bare_what = "posix_spawn+waitpid of /bin/true";
  if (options.isolation == "cgroups") {
    bare = bare_cgroup_lifecycle(options.tasks);
    bare_what = "cgroup lifecycle (mkdir+limits+spawn+attach+wait+rmdir)";
  } else if (options.isolation == "docker") {
    Baseline serial = bare_docker(options, std::min(options.tasks, 50), 1);
    std::printf(
        "baseline: Docker create+start+wait+remove one at a time x%d: median %.1f ms, p99 %.1f "
        "ms, %.1f containers/s\n",
        std::min(options.tasks, 50), serial.median_ms, serial.p99_ms, serial.per_second);
    bare = bare_docker(options, options.tasks, 4);
    bare_what = "Docker create+start+wait+remove, 4 at a time";
  }
  if (options.isolation != "posix") {
    std::printf("baseline: %s x%d: median %.3f ms, p99 %.3f ms, %.1f/s\n", bare_what.c_str(),
                options.tasks, bare.median_ms, bare.p99_ms, bare.per_second);
  }

  std::vector<std::string> modes;
  if (options.command == "both") {
    modes = {"argv", "shell"};
  } else {
    modes = {options.command};
  }
  // On a shared machine the bare rate moves by 2x within a minute: for posix and cgroups it is
  // measured again after every run, and each run is compared with the mean of the measurements
  // just before and just after it. (Docker's is too slow to repeat.)
  auto bare_again = [&]() -> Baseline {
    if (options.isolation == "posix") return bare_spawn(1000);
    if (options.isolation == "cgroups") return bare_cgroup_lifecycle(options.tasks);
    return bare;
  };
  double bare_before = bare.per_second;
  std::map<std::string, std::vector<RunResult>> results;
  // Every run's directory (its sandboxes) is kept until the program ends. Removed between runs,
  // the thousands of inodes just freed made the next run's sandboxes several times slower to
  // create on an ext4 without a journal (each new inode skips the ones deleted in the last
  // minutes, checked one by one: docs/bench-isolation.md), a cost no agent pays in a steady
  // state, since an agent removes no sandbox.
  std::vector<std::unique_ptr<TempDir>> run_dirs;
  for (int r = 1; r <= options.runs; ++r) {
    // Odd runs start with the first mode, even runs with the second: neither always runs on the
    // file system the other has just filled with sandboxes.
    std::vector<std::string> order = modes;
    if (r % 2 == 0) std::reverse(order.begin(), order.end());
    for (const auto& mode : order) {
      // Each run starts on a quiet file system: what the previous run wrote is flushed first,
      // and its fsyncs would otherwise be paid by this run's.
      ::sync();
      std::this_thread::sleep_for(std::chrono::seconds(options.settle_seconds));
      RunResult x;
      try {
        run_dirs.push_back(std::make_unique<TempDir>());
        x = run_once(options, r, mode == "shell", *run_dirs.back());
      } catch (const std::exception& e) {
        std::cerr << "bench_cluster: " << e.what() << std::endl;
        return 1;
      }
      std::printf(
          "run %d (%s): %.0f tasks/s (%.2f s), accept->RUNNING p50 %.1f p99 %.1f max %.1f ms, "
          "accept->FINISHED p50 %.1f p99 %.1f max %.1f ms, %zu offers, %zu accepts, "
          "max %zu running, load %s -> %s\n",
          r, mode.c_str(), x.tasks_per_second, x.seconds, x.running_p50, x.running_p99,
          x.running_max, x.finished_p50, x.finished_p99, x.finished_max, x.offers, x.accepts,
          x.max_in_flight, x.load_before.c_str(), x.load_after.c_str());
      std::printf("       CPU s: master %.2f, agents %.2f, tasks %.2f, framework %.2f\n",
                  x.master_cpu, x.agents_cpu, x.tasks_cpu, x.framework_cpu);
      double bare_after = bare_again().per_second;
      x.bare_per_second = (bare_before + bare_after) / 2;
      x.ratio_to_bare = x.tasks_per_second / x.bare_per_second;
      std::printf("       bare %.1f/s before, %.1f/s after: tessera / bare %.2f\n", bare_before,
                  bare_after, x.ratio_to_bare);
      bare_before = bare_after;
      results[mode].push_back(x);
    }
  }

  for (const auto& mode : modes) {
    const std::vector<RunResult>& runs = results[mode];
    auto med = [&](double RunResult::*field) {
      std::vector<double> v;
      for (const auto& r : runs) v.push_back(r.*field);
      return median(v);
    };
    double tps = med(&RunResult::tasks_per_second);
    std::printf("\n| %d tasks, %d agents, median of %d run(s) | value |\n|---|---|\n",
                options.tasks, options.agents, options.runs);
    std::printf("| command | %s |\n", mode == "shell" ? "`/bin/sh -c true`" : "`true` (argv)");
    std::printf("| wall time, first offer -> last TASK_FINISHED | %.2f s |\n",
                med(&RunResult::seconds));
    std::printf("| **tasks/s** | **%.0f** |\n", tps);
    std::printf("| accept -> RUNNING p50 / p99 / max | %.1f / %.1f / %.1f ms |\n",
                med(&RunResult::running_p50), med(&RunResult::running_p99),
                med(&RunResult::running_max));
    std::printf("| accept -> FINISHED p50 / p99 / max | %.1f / %.1f / %.1f ms |\n",
                med(&RunResult::finished_p50), med(&RunResult::finished_p99),
                med(&RunResult::finished_max));
    std::printf(
        "| CPU s per run: master / agents / tasks / framework | %.2f / %.2f / %.2f / %.2f |\n",
        med(&RunResult::master_cpu), med(&RunResult::agents_cpu), med(&RunResult::tasks_cpu),
        med(&RunResult::framework_cpu));
    std::printf("| isolation | %s |\n", options.isolation.c_str());
    std::printf("| bare %s | %.3f ms median, %.3f ms p99, %.1f/s |\n", bare_what.c_str(),
                bare.median_ms, bare.p99_ms, bare.per_second);
    std::printf("| tessera / bare throughput (the first bare measurement) | %.2f |\n",
                tps / bare.per_second);
    std::printf("| tessera / bare around each run, median | %.2f (bare %.1f/s) |\n",
                med(&RunResult::ratio_to_bare), med(&RunResult::bare_per_second));
    // The 500 tasks/s goal is the posix runtime's (issue 4); the others are compared with their
    // bare cost above.
    if (options.isolation == "posix") {
      std::printf("| goal: >= 500 tasks/s | %s |\n", tps >= 500 ? "met" : "NOT met");
    }
  }
  return 0;
}
