// Test support: a framework in the test process, driven by the SDK's SchedulerClient on the
// test's own loop, recording everything the master tells it.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tessera/sdk/scheduler.h"

namespace tessera::testing {

class TestFramework {
 public:
  // `options.master` is set to `master`; the rest is the SDK's defaults unless given.
  TestFramework(const std::string& master, sdk::FrameworkInfo info,
                sdk::SchedulerOptions options = {})
      : context_(zmq_ctx_new()), bus_{context_, &loop_, {}, "test-framework"} {
    options.master = master;
    client_ = std::make_unique<sdk::SchedulerClient>(bus_, std::move(info), options);
    client_->on_offers = [this](const std::vector<protocol::scheduler::Offer>& offers) {
      for (const auto& offer : offers) {
        offers_received_.push_back(offer);
        if (on_offer) {
          on_offer(offer);
        } else {
          client_->decline({offer.offer_id}, 0.2);
        }
      }
    };
    client_->on_update = [this](const protocol::TaskStatus& status) {
      updates_[status.task_id].push_back(status);
      all_updates_.push_back(status);
    };
    client_->on_rescind = [this](const std::string& offer_id) { rescinded_.push_back(offer_id); };
    client_->on_error = [this](const std::string& message) { errors_.push_back(message); };
    client_->on_agent_lost = [this](const std::string& agent) { agents_lost_.push_back(agent); };
    client_->start();
  }
  ~TestFramework() {
    client_.reset();
    zmq_ctx_term(context_);
  }

  // Runs the loop until `done()` or `timeout`. Returns whether `done()` became true.
  bool run_until(const std::function<bool()>& done,
                 std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    if (done()) return true;
    bool result = false;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto tick = loop_.every(std::chrono::milliseconds(5), [&] {
      if (done()) {
        result = true;
        loop_.request_stop();
      } else if (std::chrono::steady_clock::now() > deadline) {
        loop_.request_stop();
      }
    });
    loop_.run();
    loop_.reset_stop();
    loop_.cancel(tick);
    return result;
  }

  bool subscribed() {
    return run_until([&] { return client_->subscribed(); });
  }

  // The latest state of a task ("" if none yet).
  std::string state(const std::string& task_id) const {
    auto it = updates_.find(task_id);
    return it == updates_.end() || it->second.empty() ? "" : it->second.back().state;
  }
  const protocol::TaskStatus& last(const std::string& task_id) const {
    return updates_.at(task_id).back();
  }
  bool saw(const std::string& task_id, const std::string& state) const {
    auto it = updates_.find(task_id);
    if (it == updates_.end()) return false;
    for (const auto& s : it->second) {
      if (s.state == state) return true;
    }
    return false;
  }
  bool wait_for_state(const std::string& task_id, const std::string& state,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    return run_until([&] { return saw(task_id, state); }, timeout);
  }

  sdk::SchedulerClient& client() { return *client_; }
  sdk::EventLoop& loop() { return loop_; }
  void* zmq_context() { return context_; }

  // Called for every offer received (default: decline it for 0.2 s).
  std::function<void(const protocol::scheduler::Offer&)> on_offer;

  const std::vector<protocol::scheduler::Offer>& offers_received() const {
    return offers_received_;
  }
  const std::vector<protocol::TaskStatus>& all_updates() const { return all_updates_; }
  // Every update of one task, in arrival order (duplicates included).
  const std::vector<protocol::TaskStatus>& updates(const std::string& task_id) {
    return updates_[task_id];
  }
  // The offer ids the master rescinded, in order.
  const std::vector<std::string>& rescinded() const { return rescinded_; }
  const std::vector<std::string>& errors() const { return errors_; }
  const std::vector<std::string>& agents_lost() const { return agents_lost_; }

 private:
  void* context_;
  sdk::EventLoop loop_;
  sdk::Bus bus_;
  std::unique_ptr<sdk::SchedulerClient> client_;
  std::vector<protocol::scheduler::Offer> offers_received_;
  std::map<std::string, std::vector<protocol::TaskStatus>> updates_;
  std::vector<protocol::TaskStatus> all_updates_;
  std::vector<std::string> rescinded_;
  std::vector<std::string> errors_;
  std::vector<std::string> agents_lost_;
};

// A command task asking for `cpus` and `mem`.
inline protocol::TaskInfo command_task(const std::string& id, const std::string& command,
                                       double cpus = 0.1, double mem = 16) {
  protocol::TaskInfo task;
  task.task_id = id;
  task.name = id;
  task.resources.scalars["cpus"] = cpus;
  task.resources.scalars["mem"] = mem;
  task.command.value = command;
  task.kill_grace_seconds = 1;
  return task;
}

}  // namespace tessera::testing
