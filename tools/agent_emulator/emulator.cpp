#include "emulator.h"

#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <utility>

#include "tessera/message.h"
#include "tessera/protocol/duration.h"
#include "tessera/protocol/files.h"
#include "tessera/protocol/task.h"
#include "tessera/sdk/backoff.h"
#include "tessera/sdk/logger.h"

namespace tessera::emulator {

namespace agent_msg = protocol::agent;
namespace state = protocol::state;

namespace {

constexpr const char* kDurationLabel = "emulator.duration_seconds";
// How long the agents may go without hearing anything from a master they were sent to before
// the detector is told it does not answer.
constexpr std::chrono::seconds kUnreachableAfter{10};
constexpr std::chrono::milliseconds kControlTick{200};
constexpr std::chrono::milliseconds kTimerTick{10};
constexpr std::chrono::milliseconds kSendRetry{50};
// How long a registration waits for its connection before the agent looks again by itself. The
// connection coming up signals the socket's descriptor, and drain() sends the registration then:
// this is only a fallback. Looking every 50 ms instead had each emulator process spin at a full
// core while thousands of connections came up after a master change (each look is a tick of
// the agent, ZMQ_EVENTS and a receive, 10 k agents 20 times a second), on the cores the new
// master needed to answer them.
constexpr std::chrono::milliseconds kConnectionWait{1000};
constexpr std::chrono::milliseconds kReopenRetry{50};
constexpr std::chrono::milliseconds kFirstRegistrationRetry{5000};
constexpr std::chrono::milliseconds kFirstRegistrationRetryMax{30000};

std::string key_of(const std::string& framework_id, const std::string& task_id) {
  return framework_id + '\n' + task_id;
}

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int64_t mono_ms(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::optional<double> seconds_from(const std::string& text) {
  try {
    size_t used = 0;
    double value = std::stod(text, &used);
    if (used != text.size() || !std::isfinite(value) || value < 0 || value > 1e7) {
      return std::nullopt;
    }
    return value;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void stderr_sink(void*, int level, const char* text, size_t size) {
  std::fprintf(stderr, "emulator: %.*s\n", static_cast<int>(size), text);
}

}  // namespace

std::optional<std::chrono::milliseconds> task_duration(const protocol::TaskInfo& task) {
  std::optional<double> seconds;
  if (auto label = task.labels.find(kDurationLabel); label != task.labels.end()) {
    seconds = seconds_from(label->second);
  } else {
    const std::string& command = task.command.value;
    if (command.rfind("sleep ", 0) == 0) {
      std::string rest = command.substr(6);
      rest.erase(0, rest.find_first_not_of(' '));
      rest.erase(rest.find_last_not_of(' ') + 1);
      seconds = seconds_from(rest);
    }
  }
  if (!seconds) return std::nullopt;
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(*seconds * 1000)));
}

AgentEmulator::AgentEmulator(EmulatorOptions options)
    : options_(std::move(options)),
      bus_{nullptr, &loop_, sdk::Logger(nullptr, &stderr_sink, TESSERA_LOG_INFO),
           "agent-emulator"} {}

AgentEmulator::~AgentEmulator() {
  for (Agent& agent : agents_) close_socket(agent);
  detector_.reset();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (context_ != nullptr) zmq_ctx_term(context_);
}

Status AgentEmulator::prepare() {
  if (options_.agents == 0 || options_.agents > 1000000) {
    return make_error(ErrorCode::kInvalidArgument, "agents: expected 1 to 1000000");
  }
  auto resources = protocol::parse_resources(options_.resources);
  if (!resources) return resources.error().context("resources");
  resources_ = *resources;
  if (options_.tasks_per_agent > 0) {
    if (options_.task_framework.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "tasks per agent need the framework id they belong to");
    }
    auto task_resources = protocol::parse_resources(options_.task_resources);
    if (!task_resources) return task_resources.error().context("task resources");
    task_resources_ = *task_resources;
  }
  // Each agent costs two descriptors (its TCP connection and its socket's mailbox), and during
  // a master change the old sockets are still being released (ZeroMQ closes them in the
  // background) while the new ones open: twice that is asked for, the steady need is required
  // (an open that fails meanwhile is retried). A root process may raise its hard limit too.
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  rlim_t needed = static_cast<rlim_t>(options_.agents) * 2 + 256;
  rlim_t wanted = static_cast<rlim_t>(options_.agents) * 4 + 1024;
  if (limit.rlim_cur < wanted) {
    rlimit raised{wanted, std::max(wanted, limit.rlim_max)};
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
      raised = rlimit{std::min(wanted, limit.rlim_max), limit.rlim_max};
      setrlimit(RLIMIT_NOFILE, &raised);
    }
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < needed) {
      return make_error(ErrorCode::kInvalidArgument,
                        std::to_string(options_.agents) + " agents need " + std::to_string(needed) +
                            " file descriptors, but the limit is " +
                            std::to_string(limit.rlim_cur) +
                            ": run fewer agents per process, or raise the limit");
    }
  }
  context_ = zmq_ctx_new();
  if (context_ == nullptr) return make_error("cannot create a ZeroMQ context");
  zmq_ctx_set(context_, ZMQ_MAX_SOCKETS, static_cast<int>(options_.agents * 2 + 64));
  zmq_ctx_set(context_, ZMQ_IO_THREADS, std::max(1, options_.io_threads));
  bus_.zmq_context = context_;
  auto detector = sdk::make_master_detector(bus_, options_.master);
  if (!detector) return detector.error().context("master");
  detector_ = std::move(*detector);
  detector_->on_change = [this](const std::string& endpoint) {
    if (!endpoint.empty() && endpoint != master_) {
      switch_master(endpoint);
    } else if (endpoint.empty()) {
      std::printf("emulator: the leading master is unknown mono_ms=%lld\n",
                  static_cast<long long>(mono_ms(Clock::now())));
      std::fflush(stdout);
    }
  };
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return make_error("epoll_create1 failed");

  std::random_device random;
  uuid_seed_ = (static_cast<uint64_t>(random()) << 32) ^ random();
  random_.seed((static_cast<uint64_t>(random()) << 32) ^ random());
  agents_.resize(options_.agents);
  for (size_t i = 0; i < agents_.size(); ++i) {
    Agent& agent = agents_[i];
    agent.index = i;
    agent.hostname = options_.hostname_prefix + std::to_string(i);
    agent.register_backoff = options_.registration_retry;
    for (size_t t = 0; t < options_.tasks_per_agent; ++t) {
      Task task;
      task.framework_id = options_.task_framework;
      // Named after the agent's hostname, which carries the process's prefix: emulators run
      // side by side for one framework must not report the same task ids, or the master keeps
      // each such task on whichever agent reported it first and ignores the others.
      task.info.task_id = agent.hostname + "-" + std::to_string(t);
      task.info.name = task.info.task_id;
      task.info.resources = task_resources_;
      task.info.command.value = "sleep infinity";
      task.latest = state::kRunning;
      agent.tasks.emplace(key_of(task.framework_id, task.info.task_id), std::move(task));
    }
  }
  stats_.agents = agents_.size();
  return {};
}

void AgentEmulator::run() {
  started_ = Clock::now();
  loop_.watch_fd(epoll_fd_, [this] { on_epoll(); });
  loop_.every(kTimerTick, [this] { run_due(); });
  loop_.every(kControlTick, [this] { control_tick(); });
  if (options_.report_interval.count() > 0) {
    loop_.every(options_.report_interval, [this] { report(true); });
  }
  find_master();
  loop_.run();
  report(true);
}

// --- The master ----------------------------------------------------------------------------

void AgentEmulator::find_master() {
  if (finding_) return;
  finding_ = true;
  detector_->next([this](Result<std::string> endpoint) {
    finding_ = false;
    if (!endpoint) {
      find_after_ = Clock::now() + std::chrono::seconds(1);
      return;
    }
    if (*endpoint != master_) switch_master(*endpoint);
  });
}

void AgentEmulator::switch_master(const std::string& endpoint) {
  master_ = endpoint;
  ++generation_;
  generation_start_ = Clock::now();
  generation_heard_ = false;
  generation_leading_told_ = false;
  all_registered_reported_ = false;
  first_registered_reported_ = false;
  std::printf("emulator: master %s (generation %llu) mono_ms=%lld\n", endpoint.c_str(),
              static_cast<unsigned long long>(generation_),
              static_cast<long long>(mono_ms(generation_start_)));
  std::fflush(stdout);
  auto now = Clock::now();
  for (Agent& agent : agents_) {
    close_socket(agent);
    set_registered(agent, false);
    if (auto s = open_socket(agent); !s) {
      if (++open_failures_ <= 10) {
        bus_.log.warn("agent '{}': {}; trying again", agent.hostname, s.error().message);
      }
      agent.register_at = now + kReopenRetry;
      schedule(agent, agent.register_at);
      continue;
    }
    agent.register_backoff = options_.registration_retry;
    send_register(agent, now);
  }
}

void AgentEmulator::control_tick() {
  auto now = Clock::now();
  if (master_.empty()) {
    if (now >= find_after_) find_master();
    return;
  }
  if (!generation_heard_ && now - generation_start_ > kUnreachableAfter) {
    bus_.log.warn("no answer from master at {}; asking for another", master_);
    detector_->unreachable(master_);
    generation_start_ = now;
    find_after_ = now;
    finding_ = false;
    find_master();
  } else if (now >= find_after_ && find_after_ != Clock::time_point{}) {
    // After a master.not_leader that named nobody: ask again whether the leader moved.
    find_after_ = Clock::time_point{};
    find_master();
  }
}

void AgentEmulator::heard_from_master(Agent& agent) {
  agent.last_contact = Clock::now();
  generation_heard_ = true;
}

void AgentEmulator::on_not_leader(const protocol::master::NotLeader& answer) {
  // Every agent hears it; the detector is told at most twice a second.
  auto now = Clock::now();
  if (now - last_not_leader_ < std::chrono::milliseconds(500)) return;
  last_not_leader_ = now;
  if (detector_->not_leader(master_, answer)) {
    find_master();
  } else if (find_after_ == Clock::time_point{}) {
    find_after_ = Clock::now() + std::chrono::seconds(1);
  }
}

// --- Sockets ---------------------------------------------------------------------------------

Status AgentEmulator::open_socket(Agent& agent) {
  void* socket = zmq_socket(context_, ZMQ_DEALER);
  if (socket == nullptr) {
    return make_error(std::string("cannot open a socket: ") + zmq_strerror(zmq_errno()));
  }
  int zero = 0;
  int one = 1;
  int reconnect = 500;
  int reconnect_max = 5000;
  int64_t max_bytes = static_cast<int64_t>(bus_.limits.max_bytes);
  zmq_setsockopt(socket, ZMQ_LINGER, &zero, sizeof zero);
  // A message sent while the connection is down fails at once rather than queueing: a
  // registration queued while the master is away would reach it late, after newer ones.
  zmq_setsockopt(socket, ZMQ_IMMEDIATE, &one, sizeof one);
  zmq_setsockopt(socket, ZMQ_RECONNECT_IVL, &reconnect, sizeof reconnect);
  zmq_setsockopt(socket, ZMQ_RECONNECT_IVL_MAX, &reconnect_max, sizeof reconnect_max);
  zmq_setsockopt(socket, ZMQ_MAXMSGSIZE, &max_bytes, sizeof max_bytes);
  // A routing id of its own, kept when ZeroMQ reconnects the socket by itself (the TCP
  // connection dropped during a connection storm). Without one the master sees a reconnected
  // DEALER as a new connection: a first registration resent on it was admitted as a second
  // agent while the first, written to the registry, had its answer sent to the old connection
  // and lost; both then held the same tasks ("agent S7488 reports task ..., which runs on agent
  // S6291"). The master keys a registration in progress by connection, so with the same routing
  // id the resend is answered with the first one's id. Unique across processes and runs.
  char routing_id[64];
  int routing_id_size = std::snprintf(routing_id, sizeof routing_id, "emu-%016llx-%zu-%llu",
                                      static_cast<unsigned long long>(uuid_seed_), agent.index,
                                      static_cast<unsigned long long>(++sockets_opened_));
  zmq_setsockopt(socket, ZMQ_ROUTING_ID, routing_id, static_cast<size_t>(routing_id_size));
  if (zmq_connect(socket, master_.c_str()) != 0) {
    std::string problem = zmq_strerror(zmq_errno());
    zmq_close(socket);
    return make_error("cannot connect to '" + master_ + "': " + problem);
  }
  int fd = -1;
  size_t size = sizeof fd;
  zmq_getsockopt(socket, ZMQ_FD, &fd, &size);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = agent.index;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    zmq_close(socket);
    return make_error("cannot watch a socket");
  }
  agent.socket = socket;
  agent.fd = fd;
  return {};
}

void AgentEmulator::close_socket(Agent& agent) {
  if (agent.socket == nullptr) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, agent.fd, nullptr);
  zmq_close(agent.socket);
  agent.socket = nullptr;
  agent.fd = -1;
}

void AgentEmulator::on_epoll() {
  epoll_event events[256];
  for (;;) {
    int count = epoll_wait(epoll_fd_, events, 256, 0);
    if (count <= 0) return;
    for (int i = 0; i < count; ++i) {
      size_t index = events[i].data.u64;
      if (index < agents_.size()) drain(agents_[index]);
    }
    if (count < 256) return;
  }
}

// ZMQ_FD only says that the socket's state may have changed, and a send can consume that
// signal: the socket is read until ZeroMQ says it holds nothing, here and after every send.
void AgentEmulator::drain(Agent& agent) {
  if (agent.register_waiting && !agent.registered && writable(agent)) {
    // Its connection is up: the registration goes now, not at the next retry.
    return send_register(agent, Clock::now());
  }
  while (agent.socket != nullptr) {
    zmq_msg_t message;
    zmq_msg_init(&message);
    if (zmq_msg_recv(&message, agent.socket, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&message);
      return;
    }
    bool more = zmq_msg_more(&message) != 0;
    if (more) {
      // A message of several frames is not the protocol's: skip all of it.
      while (more) {
        zmq_msg_close(&message);
        zmq_msg_init(&message);
        if (zmq_msg_recv(&message, agent.socket, ZMQ_DONTWAIT) < 0) break;
        more = zmq_msg_more(&message) != 0;
      }
      zmq_msg_close(&message);
      ++stats_.dropped;
      continue;
    }
    void* socket = agent.socket;
    handle(agent, zmq_msg_data(&message), zmq_msg_size(&message));
    zmq_msg_close(&message);
    if (agent.socket != socket) return;  // a handler replaced the connection
  }
}

bool AgentEmulator::writable(Agent& agent) {
  if (agent.socket == nullptr) return false;
  int events = 0;
  size_t size = sizeof events;
  if (zmq_getsockopt(agent.socket, ZMQ_EVENTS, &events, &size) != 0) return false;
  return (events & ZMQ_POLLOUT) != 0;
}

template <typename T>
bool AgentEmulator::send(Agent& agent, const T& body) {
  if (agent.socket == nullptr) return false;
  Header header;
  header.sender = "agent";
  header.sequence = ++agent.sequence;
  encode(buffer_, header, body);
  return zmq_send(agent.socket, buffer_.data(), buffer_.size(), ZMQ_DONTWAIT) >= 0;
}

void AgentEmulator::handle(Agent& agent, const void* data, size_t size) {
  auto decoded = Envelope::decode(data, size, bus_.limits);
  if (!decoded) {
    ++stats_.dropped;
    return;
  }
  heard_from_master(agent);
  const Envelope& message = *decoded;
  if (message.is<agent_msg::Ping>()) {
    ++stats_.pings;
    auto ping = message.body<agent_msg::Ping>();
    if (ping && agent.registered) send(agent, agent_msg::Pong{agent.id, ping->sequence});
  } else if (message.is<agent_msg::Registered>()) {
    auto body = message.body<agent_msg::Registered>();
    if (body) on_registered(agent, *body);
  } else if (message.is<agent_msg::RunTask>()) {
    auto body = message.body<agent_msg::RunTask>();
    if (body) run_task(agent, body->framework_id, body->task);
  } else if (message.is<agent_msg::StatusAck>()) {
    auto body = message.body<agent_msg::StatusAck>();
    if (body) on_ack(agent, *body);
  } else if (message.is<agent_msg::KillTask>()) {
    auto body = message.body<agent_msg::KillTask>();
    if (body) kill_task(agent, body->framework_id, body->task_id);
  } else if (message.is<protocol::master::NotLeader>()) {
    auto body = message.body<protocol::master::NotLeader>();
    if (body) on_not_leader(*body);
  } else if (message.is<agent_msg::Refused>()) {
    auto body = message.body<agent_msg::Refused>();
    bus_.log.warn("agent '{}': registration refused: {}", agent.hostname,
                  body ? sdk::printable(body->reason, 300) : std::string("?"));
  } else if (message.is<agent_msg::Shutdown>()) {
    auto body = message.body<agent_msg::Shutdown>();
    shutdown(agent, body ? body->reason : "");
  } else if (message.is<protocol::files::Request>()) {
    auto body = message.body<protocol::files::Request>();
    protocol::files::Answer answer;
    answer.request_id = body ? body->request_id : 0;
    answer.code = protocol::files::code::kNotFound;
    answer.error = "an emulated agent has no sandboxes";
    send(agent, answer);
  } else {
    ++stats_.dropped;
  }
  drain(agent);
}

// --- One agent -------------------------------------------------------------------------------

void AgentEmulator::send_register(Agent& agent, Clock::time_point now) {
  // Not connected yet (with ZMQ_IMMEDIATE a send would fail): wait for the connection instead
  // of building the message again every few milliseconds. After a master change thousands of
  // agents connect at once, and building each one's registration, tasks and all, every 50 ms
  // until its connection was up kept the emulator's thread from sending the ones that could go.
  if (!writable(agent)) {
    agent.register_waiting = true;
    agent.register_at = now + kConnectionWait;
    schedule(agent, agent.register_at);
    // Asking ZeroMQ for the socket's events may take the descriptor's signal of a message in.
    drain(agent);
    return;
  }
  agent.register_waiting = false;
  if (agent.register_body.empty()) {
    agent_msg::Register message;
    message.agent_id = agent.id;
    message.secret = agent.secret;
    message.hostname = agent.hostname;
    message.resources = resources_;
    message.attributes.reserve(options_.attributes.size() + 1);
    for (const auto& [name, value] : options_.attributes) {
      message.attributes.push_back(protocol::scheduler::Attribute{name, value});
    }
    message.attributes.push_back(
        protocol::scheduler::Attribute{"emulator_index", std::to_string(agent.index)});
    message.tasks.reserve(agent.tasks.size());
    for (const auto& [key, task] : agent.tasks) {
      message.tasks.push_back(
          agent_msg::RunningTask{task.framework_id, task.info, task.latest, ""});
    }
    msgpack::sbuffer body;
    msgpack::pack(body, message);
    agent.register_body.assign(body.data(), body.size());
  }
  if (send(agent, PackedBody<agent_msg::Register>{agent.register_body})) {
    agent.register_sequence = agent.sequence;
    // A first registration is not resent soon: the master gives each unanswered one a new id
    // (a second agent, with this connection), so a resend while it writes the first one to its
    // registry would leave a ghost agent that gets offers.
    auto backoff = agent.register_backoff;
    auto longest = std::max(options_.registration_retry_max, options_.registration_retry);
    if (agent.id.empty()) {
      backoff = std::max(backoff, kFirstRegistrationRetry);
      longest = std::max(longest, kFirstRegistrationRetryMax);
    }
    // The first attempt went at once; the resend waits a jittered time, as host/agent's does,
    // so that the thousands of agents that met a new master together do not resend together.
    agent.register_at = now + sdk::jittered(backoff, random_);
    agent.register_backoff = std::min(backoff * 2, longest);
  } else {
    // Not connected yet: ZeroMQ refused the message (ZMQ_IMMEDIATE).
    agent.register_at = now + kSendRetry;
  }
  schedule(agent, agent.register_at);
  drain(agent);
}

void AgentEmulator::on_registered(Agent& agent, const agent_msg::Registered& registered) {
  ++stats_.registrations;
  if (!agent.id.empty() && !registered.agent_id.empty() && registered.agent_id != agent.id) {
    // The master made a second agent of this one (it cannot be told on the wire otherwise).
    ++stats_.id_changes;
    bus_.log.warn("agent '{}' had id '{}' and was given '{}': the master admitted it twice",
                  agent.hostname, sdk::printable(agent.id), sdk::printable(registered.agent_id));
  }
  if (!registered.agent_id.empty() && registered.agent_id != agent.id) {
    agent.id = registered.agent_id;
    agent.register_body.clear();
  }
  if (!registered.secret.empty() && registered.secret != agent.secret) {
    agent.secret = registered.secret;
    agent.register_body.clear();
  }
  auto interval = protocol::wire_duration("ping_interval_seconds", registered.ping_interval_seconds,
                                          protocol::limits::kMaxIntervalSeconds);
  double seconds = interval && interval->seconds > 0 ? interval->seconds : 5.0;
  agent.silence_limit = std::max(std::chrono::milliseconds(1000),
                                 std::chrono::milliseconds(static_cast<int64_t>(seconds * 3000)));
  agent.register_at = Clock::time_point::max();
  agent.register_backoff = options_.registration_retry;
  set_registered(agent, true);
  if (!generation_leading_told_) {
    generation_leading_told_ = true;
    detector_->leading(master_);
  }
  auto now = Clock::now();
  for (auto& [key, task] : agent.tasks) {
    if (task.unacked.empty()) continue;
    task.backoff = options_.status_update_retry;
    task.resend_at = now;
  }
  tick(agent, now);
}

void AgentEmulator::set_registered(Agent& agent, bool registered) {
  if (agent.registered == registered) return;
  agent.registered = registered;
  if (registered) {
    ++stats_.registered;
    if (!first_registered_reported_) {
      // When a new master starts to answer: after its election and its registry read.
      first_registered_reported_ = true;
      std::printf("emulator: first agent registered with %s (generation %llu) mono_ms=%lld\n",
                  master_.c_str(), static_cast<unsigned long long>(generation_),
                  static_cast<long long>(mono_ms(Clock::now())));
      std::fflush(stdout);
    }
    if (stats_.registered == agents_.size() && !all_registered_reported_) {
      all_registered_reported_ = true;
      auto now = Clock::now();
      std::printf(
          "emulator: all %zu agents registered with %s (generation %llu) after %lld ms "
          "mono_ms=%lld\n",
          agents_.size(), master_.c_str(), static_cast<unsigned long long>(generation_),
          static_cast<long long>(
              std::chrono::duration_cast<std::chrono::milliseconds>(now - generation_start_)
                  .count()),
          static_cast<long long>(mono_ms(now)));
      std::fflush(stdout);
    }
  } else {
    --stats_.registered;
    if (all_registered_reported_) {
      all_registered_reported_ = false;
      std::printf("emulator: agent %s is registering again mono_ms=%lld\n", agent.hostname.c_str(),
                  static_cast<long long>(mono_ms(Clock::now())));
      std::fflush(stdout);
    }
  }
}

void AgentEmulator::run_task(Agent& agent, const std::string& framework_id,
                             const protocol::TaskInfo& info) {
  if (info.task_id.empty()) return;
  std::string key = key_of(framework_id, info.task_id);
  if (agent.tasks.count(key) != 0) return;  // a duplicate launch
  ++stats_.launched;
  Task& task = agent.tasks[key];
  task.framework_id = framework_id;
  task.info = info;
  emit(agent, task, state::kStarting, "", "", protocol::source::kAgent);
  emit(agent, task, state::kRunning, "", "", protocol::source::kExecutor);
  if (auto duration = task_duration(info)) {
    task.finish_at = Clock::now() + *duration;
    schedule(agent, task.finish_at);
  }
}

void AgentEmulator::kill_task(Agent& agent, const std::string& framework_id,
                              const std::string& task_id) {
  auto it = agent.tasks.find(key_of(framework_id, task_id));
  if (it == agent.tasks.end()) {
    // As the real agent: an unknown task is reported lost, in an update of its own.
    Task& task = agent.tasks[key_of(framework_id, task_id)];
    task.framework_id = framework_id;
    task.info.task_id = task_id;
    emit(agent, task, state::kLost, protocol::reason::kTaskUnknown, "the agent does not know it",
         protocol::source::kAgent);
    return;
  }
  Task& task = it->second;
  if (state::terminal(task.latest)) return;
  task.finish_at = Clock::time_point::max();
  emit(agent, task, state::kKilling, "", "", protocol::source::kAgent);
  emit(agent, task, state::kKilled, "", "killed by signal 15", protocol::source::kExecutor);
}

void AgentEmulator::on_ack(Agent& agent, const agent_msg::StatusAck& ack) {
  auto it = agent.tasks.find(key_of(ack.framework_id, ack.task_id));
  if (it == agent.tasks.end()) return;
  Task& task = it->second;
  if (task.unacked.empty() || task.unacked.front().uuid != ack.uuid) return;
  ++stats_.acks;
  task.unacked.pop_front();
  task.backoff = options_.status_update_retry;
  if (task.unacked.empty()) {
    task.resend_at = Clock::time_point::max();
    if (state::terminal(task.latest)) {
      agent.tasks.erase(it);
      agent.register_body.clear();
    }
    return;
  }
  send_update(agent, task, Clock::now());
}

void AgentEmulator::shutdown(Agent& agent, const std::string& reason) {
  bus_.log.warn("agent '{}' ({}) told to shut down: {}", agent.hostname, agent.id,
                sdk::printable(reason, 300));
  agent.tasks.clear();
  agent.id.clear();
  agent.secret.clear();
  agent.register_body.clear();
  set_registered(agent, false);
  agent.register_backoff = options_.registration_retry;
  send_register(agent, Clock::now());
}

void AgentEmulator::emit(Agent& agent, Task& task, const std::string& new_state,
                         const std::string& reason, const std::string& message,
                         const std::string& source, int32_t exit_code) {
  protocol::TaskStatus status;
  status.task_id = task.info.task_id;
  status.agent_id = agent.id;
  status.framework_id = task.framework_id;
  status.state = new_state;
  status.reason = reason;
  status.source = source;
  status.message = message;
  status.exit_code = exit_code;
  status.timestamp = wall_seconds();
  // Unique per update: a random seed for this process and a counter.
  char uuid[33];
  std::snprintf(uuid, sizeof uuid, "%016llx%016llx", static_cast<unsigned long long>(uuid_seed_),
                static_cast<unsigned long long>(++uuid_counter_));
  status.uuid = uuid;
  bool was_idle = task.unacked.empty();
  task.unacked.push_back(std::move(status));
  agent.register_body.clear();  // the task is new, or its latest state changes
  bool was_terminal = state::terminal(task.latest);
  task.latest = new_state;
  if (state::terminal(new_state) && !was_terminal) ++stats_.finished;
  if (was_idle) {
    task.backoff = options_.status_update_retry;
    send_update(agent, task, Clock::now());
  }
}

void AgentEmulator::send_update(Agent& agent, Task& task, Clock::time_point now) {
  if (task.unacked.empty()) return;
  if (agent.registered) {
    protocol::TaskStatus& status = task.unacked.front();
    status.agent_id = agent.id;
    if (send(agent, agent_msg::StatusUpdate{agent.id, status, task.latest, ""})) {
      ++stats_.updates_sent;
    }
    task.resend_at = now + task.backoff;
    task.backoff = std::min(task.backoff * 2, options_.status_update_retry_max);
  } else {
    // Sent once registered (on_registered makes every waiting update due).
    task.resend_at = Clock::time_point::max();
  }
  schedule(agent, task.resend_at);
}

void AgentEmulator::tick(Agent& agent, Clock::time_point now) {
  agent.wake = Clock::time_point::max();
  drain(agent);
  if (agent.socket == nullptr && !master_.empty()) {
    // Opening its connection failed (too many sockets at once during a master change): again.
    if (auto s = open_socket(agent); !s) {
      agent.register_at = now + kReopenRetry;
    } else {
      agent.register_at = now;
    }
  }
  if (!agent.registered) {
    if (now >= agent.register_at && agent.socket != nullptr) send_register(agent, now);
  } else if (now - agent.last_contact > agent.silence_limit) {
    // Nothing from the master for three ping intervals: register again, as the real agent.
    set_registered(agent, false);
    agent.register_backoff = options_.registration_retry;
    send_register(agent, now);
  }
  for (auto it = agent.tasks.begin(); it != agent.tasks.end(); ++it) {
    Task& task = it->second;
    if (task.finish_at <= now) {
      task.finish_at = Clock::time_point::max();
      emit(agent, task, state::kFinished, "", "exited with status 0", protocol::source::kExecutor,
           0);
    }
    if (agent.registered && task.resend_at <= now) send_update(agent, task, now);
    // An unregistered agent sends no update (on_registered makes them due again): a resend
    // that fell due in the tick that unregistered it would otherwise wake it at once, again
    // and again, and the emulator would spin in run_due and answer nothing more (a loaded
    // machine makes that tick late, and the coincidence likely).
    schedule(agent, std::min(task.finish_at,
                             agent.registered ? task.resend_at : Clock::time_point::max()));
  }
  if (!agent.registered) {
    schedule(agent, agent.register_at);
  } else {
    schedule(agent, agent.last_contact + agent.silence_limit + std::chrono::milliseconds(1));
  }
}

void AgentEmulator::schedule(Agent& agent, Clock::time_point when) {
  if (when == Clock::time_point::max() || when >= agent.wake) return;
  agent.wake = when;
  wakes_.push(Wake{when, agent.index});
}

void AgentEmulator::run_due() {
  auto now = Clock::now();
  while (!wakes_.empty() && wakes_.top().when <= now) {
    Wake wake = wakes_.top();
    wakes_.pop();
    Agent& agent = agents_[wake.agent];
    // Only the agent's earliest wake-up is live; an earlier entry was superseded.
    if (wake.when != agent.wake) continue;
    tick(agent, now);
  }
}

void AgentEmulator::report(bool summary) {
  stats_.tasks = 0;
  stats_.running = 0;
  for (const Agent& agent : agents_) {
    stats_.tasks += agent.tasks.size();
    for (const auto& [key, task] : agent.tasks) {
      if (task.latest == state::kRunning) ++stats_.running;
    }
  }
  if (!summary) return;
  std::printf(
      "emulator: agents=%zu registered=%zu tasks=%zu running=%zu launched=%llu finished=%llu "
      "updates=%llu acks=%llu registrations=%llu pings=%llu dropped=%llu id_changes=%llu "
      "mono_ms=%lld\n",
      stats_.agents, stats_.registered, stats_.tasks, stats_.running,
      static_cast<unsigned long long>(stats_.launched),
      static_cast<unsigned long long>(stats_.finished),
      static_cast<unsigned long long>(stats_.updates_sent),
      static_cast<unsigned long long>(stats_.acks),
      static_cast<unsigned long long>(stats_.registrations),
      static_cast<unsigned long long>(stats_.pings),
      static_cast<unsigned long long>(stats_.dropped),
      static_cast<unsigned long long>(stats_.id_changes),
      static_cast<long long>(mono_ms(Clock::now())));
  std::fflush(stdout);
}

}  // namespace tessera::emulator
