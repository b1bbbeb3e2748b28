#include "exec.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <random>

#include "logs.h"
#include "session.h"
#include "tessera/protocol/files.h"
#include "tessera/sdk/scheduler.h"

namespace tessera::cli {

namespace state = protocol::state;

protocol::CommandInfo command_info(const std::vector<std::string>& command,
                                   const std::map<std::string, std::string>& environment) {
  protocol::CommandInfo info;
  info.environment = environment;
  if (command.size() == 1) {
    info.shell = true;
    info.value = command[0];
  } else if (!command.empty()) {
    info.shell = false;
    info.value = command[0];
    info.arguments.assign(command.begin() + 1, command.end());
  }
  return info;
}

protocol::ContainerInfo container_info(const ExecOptions& options) {
  protocol::ContainerInfo info;
  if (!options.docker_image.empty()) {
    info.type = "DOCKER";
    info.image = options.docker_image;
    info.network = options.network;
  }
  return info;
}

int exit_status_for(const protocol::TaskStatus& status) {
  if (status.state == state::kFinished) return 0;
  if (status.state == state::kFailed) {
    if (status.exit_code > 0 && status.exit_code <= 255) return status.exit_code;
    return kExitTaskProblem;
  }
  if (status.state == state::kKilled) return kExitKilled;
  return kExitTaskProblem;
}

std::string status_line(const protocol::TaskStatus& status) {
  std::string line = status.state + " task '" + status.task_id + "'";
  if (!status.agent_id.empty()) line += " on agent '" + status.agent_id + "'";
  if (state::terminal(status.state) && status.exit_code >= 0) {
    line += ", exit code " + std::to_string(status.exit_code);
  }
  if (!status.reason.empty()) line += ", " + status.reason;
  if (!status.message.empty()) line += ": " + status.message;
  return line;
}

namespace {

using Ms = std::chrono::milliseconds;

Ms seconds(double s) { return Ms(static_cast<int64_t>(s * 1000)); }

std::string random_suffix() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", rd());
  return buf;
}

// Blocks SIGINT and SIGTERM for the run and reads them from a signalfd on the loop.
class SignalGuard {
 public:
  SignalGuard() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    fd_ = signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK);
  }
  ~SignalGuard() {
    if (fd_ >= 0) ::close(fd_);
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  int fd() const { return fd_; }
  // The signal read, or 0.
  int read() {
    signalfd_siginfo info{};
    if (::read(fd_, &info, sizeof info) != sizeof info) return 0;
    return static_cast<int>(info.ssi_signo);
  }

 private:
  sigset_t set_{}, old_{};
  int fd_ = -1;
};

class Exec {
 public:
  Exec(const ExecOptions& options, Session& session, std::ostream& out, std::ostream& err)
      : options_(options),
        session_(session),
        out_(out),
        err_(err),
        client_(session.bus(), framework_info(options), scheduler_options(options)) {
    task_id_ = options.name + "." + random_suffix();
    client_.on_subscribed = [this](const std::string& id) { subscribed(id); };
    client_.on_offers = [this](const auto& offers) { offered(offers); };
    client_.on_update = [this](const protocol::TaskStatus& s) { updated(s); };
    client_.on_error = [this](const std::string& message) {
      err_ << "tessera: master: " << message << std::endl;
      finish(subscribed_ ? kExitTaskProblem : kExitMaster, false);
    };
    client_.on_disconnected = [this] {
      err_ << "tessera: lost the master at " << client_.master_endpoint()
           << "; re-subscribing as framework '" << client_.framework_id() << "'" << std::endl;
    };
    client_.on_subscribe_failed = [this](const std::string& message) { last_failure_ = message; };
    client_.on_agent_lost = [this](const std::string& agent) {
      if (launched_ && agent == agent_id_) out_ << "agent '" << agent << "' lost" << std::endl;
    };
  }

  int run(SignalGuard& signals) {
    auto& loop = session_.loop();
    if (signals.fd() >= 0)
      loop.watch_fd(signals.fd(), [this, &signals] { interrupted(signals.read()); });
    connect_timer_ = loop.after(seconds(options_.connect_timeout_seconds), [this] {
      connect_timer_ = 0;
      if (subscribed_) return;
      // Masters that answered but none leading are not "unreachable": say what they said.
      if (last_failure_.find("not the leader") != std::string::npos) {
        err_ << "tessera: no leading master at " << options_.master << ": " << last_failure_
             << std::endl;
      } else {
        err_ << "tessera: " << no_answer(options_.master) << std::endl;
      }
      finish(kExitMaster, false);
    });
    client_.start();
    loop.run();
    loop.reset_stop();
    client_.stop(Ms(1000));
    return exit_status_;
  }

 private:
  static sdk::FrameworkInfo framework_info(const ExecOptions& options) {
    sdk::FrameworkInfo info;
    info.name = "tessera-exec";
    info.roles = {options.role};
    info.user = options.user;
    return info;
  }
  static sdk::SchedulerOptions scheduler_options(const ExecOptions& options) {
    sdk::SchedulerOptions s;
    s.master = options.master;
    // Each master of a list gets its share of the connect timeout, so that the last one is
    // still tried when the first ones are down.
    auto masters =
        static_cast<int64_t>(std::count(options.master.begin(), options.master.end(), ',') + 1);
    s.subscribe_timeout =
        std::min(Ms(2000), std::max(Ms(100), seconds(options.connect_timeout_seconds) / masters));
    s.backoff_initial = Ms(100);
    s.backoff_max = Ms(2000);
    return s;
  }

  void subscribed(const std::string& framework_id) {
    auto& loop = session_.loop();
    if (connect_timer_ != 0) loop.cancel(connect_timer_);
    connect_timer_ = 0;
    if (subscribed_) {
      // Re-subscribed after losing the master: ask where the task is.
      if (launched_) client_.reconcile({{task_id_, agent_id_}});
      return;
    }
    subscribed_ = true;
    out_ << "subscribed as framework '" << framework_id << "'; waiting for an offer fitting "
         << options_.needs.describe() << std::endl;
    // Still waiting after a moment: the role's quota may be what holds the task back (the
    // allocator offers a role no more than its quota), which offers alone do not tell.
    quota_timer_ = loop.every(Ms(2000), [this] {
      if (!launched_ && !finishing_) check_quota();
    });
    if (options_.offer_timeout_seconds > 0) {
      offer_timer_ = loop.after(seconds(options_.offer_timeout_seconds), [this] {
        offer_timer_ = 0;
        if (launched_) return;
        err_ << "tessera: no offer fitting " << options_.needs.describe() << " within "
             << number(options_.offer_timeout_seconds) << " s; " << why_waiting() << std::endl;
        finish(kExitNoOffer, true);
      });
    }
  }

  void offered(const std::vector<protocol::scheduler::Offer>& offers) {
    std::vector<std::string> others;
    for (const auto& offer : offers) {
      if (launched_ || finishing_) {
        others.push_back(offer.offer_id);
        continue;
      }
      auto take = fit(options_.needs, offer.resources);
      if (!take) {
        note_short_offer(offer);
        others.push_back(offer.offer_id);
        continue;
      }
      launch(offer, *take);
    }
    // Refused briefly while still waiting (resources may free up), for long once launched.
    if (!others.empty()) client_.decline(others, launched_ ? 60 : 1);
  }

  // Remembers the offer that comes closest (fewest short resources, then the most cpus and
  // memory), and says so when it changes, so that a user sees why the task waits.
  void note_short_offer(const protocol::scheduler::Offer& offer) {
    auto missing = shortfall(options_.needs, offer.resources);
    double size = offer.resources.scalar("cpus") + offer.resources.scalar("mem") / 1024;
    bool closer = !best_offer_ || missing.size() < best_missing_.size() ||
                  (missing.size() == best_missing_.size() && size > best_size_);
    if (!closer) return;
    best_offer_ = offer;
    best_missing_ = std::move(missing);
    best_size_ = size;
    tell_why();
  }

  std::string why_waiting() const {
    std::string quota;
    for (const auto& item : quota_missing_) quota += (quota.empty() ? "" : ", ") + item;
    if (!quota.empty()) quota = "role '" + options_.role + "''s quota leaves too little " + quota;
    if (!best_offer_) {
      if (!quota.empty()) return "no offer was received: " + quota;
      return "no offer was received: the cluster's resources are in use, or held back for other "
             "roles or by role '" +
             options_.role + "''s quota (see tessera roles)";
    }
    std::string items;
    for (const auto& item : best_missing_) items += (items.empty() ? "" : ", ") + item;
    return "the largest offer seen, " + best_offer_->resources.to_string() + " on agent '" +
           best_offer_->agent_id + "', is short of " + items + (quota.empty() ? "" : "; " + quota);
  }

  // Says why again when it changed.
  void tell_why() {
    std::string text = why_waiting();
    if (text == last_why_) return;
    last_why_ = text;
    out_ << "waiting: " << text << std::endl;
  }

  // Asks the master for its roles and notes what the task's role's quota leaves too little of.
  void check_quota() {
    if (asking_roles_ || !master_client()) return;
    asking_roles_ = true;
    // Only the roles: the whole state of a large cluster is megabytes, every 2 s.
    master_->request(
        protocol::operator_api::GetStateSummary{.roles_only = true},
        [this](Result<Envelope> reply) {
          asking_roles_ = false;
          if (!reply || !reply->is<protocol::operator_api::StateSummary>()) return;
          auto summary = reply->body<protocol::operator_api::StateSummary>();
          if (!summary || launched_) return;
          quota_missing_.clear();
          for (const auto& role : summary->state.roles) {
            if (role.name == options_.role) quota_missing_ = quota_shortfall(options_.needs, role);
          }
          tell_why();
        },
        Ms(2000));
  }

  // The connection to the leading master for operator and file requests; null when it is
  // not known yet.
  sdk::Client* master_client() {
    std::string endpoint = client_.master_endpoint();
    if (endpoint.empty()) return nullptr;
    if (!master_ || master_endpoint_ != endpoint) {
      master_ = std::make_unique<sdk::Client>(session_.bus(), "exec.master");
      if (!master_->connect(endpoint)) {
        master_.reset();
        return nullptr;
      }
      master_endpoint_ = endpoint;
    }
    return master_.get();
  }

  // --- The task's output, read from its sandbox through the master while it runs. ---

  struct Output {
    const char* file;
    std::ostream* to;
    int64_t offset = 0;
    std::string tail;  // the last bytes read, for the tail shown when the task fails
  };

  void start_output() {
    output_timer_ = session_.loop().every(Ms(300), [this] {
      if (!reading_) read_output([] {});
    });
  }

  // Reads what stdout and stderr gained since the last read, then calls `done`.
  void read_output(std::function<void()> done) {
    if (!master_client()) return done();
    reading_ = true;
    read_one(stdout_, [this, done = std::move(done)](bool) {
      read_one(stderr_, [this, done](bool) {
        reading_ = false;
        done();
      });
    });
  }

  // Reads the next bytes of one file; `then(true)` when some came.
  void read_one(Output& output, std::function<void(bool)> then) {
    protocol::files::Request request;
    request.operation = protocol::files::kRead;
    request.task_id = task_id_;
    request.framework_id = client_.framework_id();
    request.path = output.file;
    request.offset = output.offset;
    request.length = uint64_t{64} * 1024;
    master_->request(
        request,
        [this, &output, then = std::move(then)](Result<Envelope> reply) {
          if (!reply) files_silent_ = true;
          auto answer = reply && reply->is<protocol::files::Answer>()
                            ? reply->body<protocol::files::Answer>()
                            : Result<protocol::files::Answer>(make_error("no answer"));
          if (!answer || !answer->code.empty() || answer->data.empty()) return then(false);
          if (!answer->sandbox.empty()) sandbox_ = answer->sandbox;
          *output.to << answer->data << std::flush;
          output.offset += static_cast<int64_t>(answer->data.size());
          output.tail = (output.tail + answer->data);
          if (output.tail.size() > 8192) output.tail.erase(0, output.tail.size() - 8192);
          then(true);
        },
        Ms(2000));
  }

  // After the task ended: reads what is left of its output (a few rounds at most), then shows
  // where its sandbox is and the tail of its stderr when it failed, then finishes.
  void drain_output(int code, int rounds_left) {
    if (!launched_ || files_silent_ || rounds_left == 0 || reading_) {
      if (reading_ && rounds_left > 0) {
        session_.loop().after(Ms(50),
                              [this, code, rounds_left] { drain_output(code, rounds_left - 1); });
        return;
      }
      return ended(code);
    }
    int64_t before = stdout_.offset + stderr_.offset;
    read_output([this, code, rounds_left, before] {
      bool more = stdout_.offset + stderr_.offset > before;
      if (more) return drain_output(code, rounds_left - 1);
      ended(code);
    });
  }

  void ended(int code) {
    if (code != 0 && !sandbox_.empty()) {
      err_ << "tessera: the task's sandbox is " << sandbox_ << " on agent '" << agent_id_ << "'"
           << std::endl;
      std::string tail = last_lines(stderr_.tail, 10);
      if (!tail.empty()) err_ << "tessera: the end of its stderr:\n" << tail << std::flush;
    }
    finish(code, true);
  }

  void launch(const protocol::scheduler::Offer& offer, const protocol::Resources& take) {
    protocol::TaskInfo task;
    task.task_id = task_id_;
    task.name = options_.name;
    task.agent_id = offer.agent_id;
    task.resources = take;
    task.command = command_info(options_.command, options_.environment);
    task.command.user = options_.user;
    task.container = container_info(options_);
    agent_id_ = offer.agent_id;
    launched_ = true;
    if (offer_timer_ != 0) session_.loop().cancel(offer_timer_);
    offer_timer_ = 0;
    if (quota_timer_ != 0) session_.loop().cancel(quota_timer_);
    quota_timer_ = 0;
    out_ << "launching task '" << task_id_ << "' on agent '" << offer.agent_id << "' ("
         << offer.hostname << ") with " << take.to_string() << std::endl;
    client_.accept({offer.offer_id}, {task}, 60);
    client_.suppress();
    start_output();
    protocol::TaskStatus staging;
    staging.task_id = task_id_;
    staging.agent_id = agent_id_;
    staging.state = state::kStaging;
    show(staging);
  }

  void show(const protocol::TaskStatus& status) {
    if (status.state == last_state_) return;
    last_state_ = status.state;
    out_ << status_line(status) << std::endl;
  }

  void updated(const protocol::TaskStatus& status) {
    if (status.task_id != task_id_) return;  // acknowledged all the same
    if (!status.agent_id.empty()) agent_id_ = status.agent_id;
    show(status);
    if (!state::terminal(status.state)) return;
    int code = exit_status_for(status);
    if (signal_ != 0) code = 128 + signal_;
    // Finish after the automatic acknowledgement of this update has been sent, and what the
    // task wrote last has been shown.
    session_.loop().after(Ms(0), [this, code] { drain_output(code, 20); });
  }

  void interrupted(int signal) {
    if (signal == 0) return;
    if (signal_ != 0 || !launched_) {
      // Nothing to wait for (or a second Ctrl-C): leave now.
      err_ << "tessera: interrupted" << std::endl;
      return finish(128 + signal, true);
    }
    signal_ = signal;
    out_ << "killing task '" << task_id_ << "'" << std::endl;
    client_.kill(task_id_, agent_id_);
    session_.loop().after(Ms(15000), [this] {
      err_ << "tessera: task '" << task_id_ << "' did not end within 15 s of the kill" << std::endl;
      finish(128 + signal_, true);
    });
  }

  void finish(int code, bool teardown) {
    if (finishing_) return;
    finishing_ = true;
    if (output_timer_ != 0) session_.loop().cancel(output_timer_);
    output_timer_ = 0;
    exit_status_ = code;
    if (teardown && client_.subscribed()) {
      client_.teardown();
    } else {
      client_.stop(Ms(1000));
    }
    session_.loop().request_stop();
  }

  const ExecOptions& options_;
  Session& session_;
  std::ostream& out_;
  std::ostream& err_;
  sdk::SchedulerClient client_;
  std::string task_id_;
  std::string last_failure_;  // the last failed subscription attempt, for the timeout message
  std::string agent_id_;
  std::string last_state_;
  bool subscribed_ = false;
  bool launched_ = false;
  bool finishing_ = false;
  int signal_ = 0;
  int exit_status_ = kExitTaskProblem;
  sdk::EventLoop::TimerId connect_timer_ = 0;
  sdk::EventLoop::TimerId offer_timer_ = 0;
  std::optional<protocol::scheduler::Offer> best_offer_;
  std::vector<std::string> best_missing_;
  double best_size_ = 0;
  std::string last_why_;
  std::unique_ptr<sdk::Client> master_;
  std::string master_endpoint_;
  sdk::EventLoop::TimerId quota_timer_ = 0;
  bool asking_roles_ = false;
  std::vector<std::string> quota_missing_;  // what the role's quota leaves too little of
  Output stdout_{"stdout", &out_, 0, {}};
  Output stderr_{"stderr", &err_, 0, {}};
  std::string sandbox_;
  bool reading_ = false;
  bool files_silent_ = false;  // the master did not answer a read: no waiting for more
  sdk::EventLoop::TimerId output_timer_ = 0;
};

}  // namespace

int run_exec(const ExecOptions& options, int log_level, std::ostream& out, std::ostream& err) {
  SignalGuard signals;
  Session session(log_level);
  int code;
  {
    Exec exec(options, session, out, err);
    code = exec.run(signals);
  }
  return code;
}

}  // namespace tessera::cli
