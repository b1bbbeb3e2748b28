// MasterDetector: the one way agents, frameworks (SchedulerClient) and the CLI find the leading
// master.
//
// Where masters are looked for, by the text a user gives (make_master_detector):
//   ""                               the leader plugin of this host (leader.get on
//                                    inproc://tessera.leader, and its leader.info events)
//   "tcp://a:5050,tcp://b:5050"      a list, tried in turn ("a:5050" means tcp://a:5050;
//                                    ipc:// and inproc:// addresses are taken as they are)
//   "zk://..." and other schemes     whatever the program registered for that scheme
//                                    (DetectorOptions::schemes, or once for the whole program
//                                    with registered_detector_schemes()): the hook for
//                                    detectors that ask the leader plugin's own back end, such
//                                    as ZooKeeper (the CLI registers "zk")
//
// How a client uses one (the detector does no I/O to masters itself: the client's own first
// request, a subscribe, a register, an operator call, is the probe):
//   detector.next(found)             the master to try now (may answer before next() returns)
//   on a normal answer               detector.leading(endpoint): it is remembered and tried first
//   on no answer                     detector.unreachable(endpoint): the next one is tried
//   on master.not_leader             detector.not_leader(endpoint, answer): true means "go to
//                                    answer.leader now" (a redirect); false means wait and try
//                                    again (no leader known yet, or redirects going in circles)
// and on_change tells it when the detector learns by itself that the leader moved.
// MasterCall wraps this for one request and one answer (what the CLI does).
//
// Threading and lifetime: created, used and destroyed on the bus's loop thread; callbacks run
// there. The Bus and its loop must outlive a detector, and a detector the clients using it.
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tessera/message.h"
#include "tessera/protocol/master.h"
#include "tessera/protocol/store.h"
#include "tessera/result.h"
#include "tessera/sdk/channels.h"
#include "tessera/sdk/config.h"
#include "tessera/sdk/connection.h"
#include "tessera/sdk/logger.h"

namespace tessera::sdk {

// What a master address may look like, for error messages and help texts.
inline constexpr const char* kMasterAddressForms =
    "HOST:PORT or tcp://HOST:PORT, or a comma-separated list of them such as "
    "tcp://10.0.0.1:5051,tcp://10.0.0.2:5051";

namespace detail {

inline std::string trim_spaces(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(" \t");
  return text.substr(begin, end - begin + 1);
}

}  // namespace detail

// Parses a master address or a comma-separated list of them into ZeroMQ endpoints, in order,
// without repeats: "a:5050, tcp://b:5050" -> {"tcp://a:5050", "tcp://b:5050"}. An http(s)://
// address is refused with what is expected instead (masters are reached over ZeroMQ, not HTTP).
inline Result<std::vector<std::string>> parse_master_addresses(const std::string& text) {
  auto invalid = [](const std::string& message) {
    return make_error(ErrorCode::kInvalidArgument, message);
  };
  std::vector<std::string> endpoints;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = detail::trim_spaces(text.substr(start, comma - start));
    start = comma + 1;
    if (item.empty()) continue;
    std::string endpoint;
    size_t scheme_end = item.find("://");
    if (scheme_end == std::string::npos) {
      // HOST:PORT, checked as config.h checks the address of a tcp:// endpoint.
      std::string problem = detail::tcp_problem(item, EndpointUse::connect);
      if (!problem.empty()) {
        problem = problem.substr(0, problem.find(": expected"));
        return invalid(quote(item) + (problem.rfind("has no", 0) == 0 ? " " : ": ") + problem +
                       ": expected " + kMasterAddressForms);
      }
      endpoint = "tcp://" + item;
    } else {
      std::string scheme = item.substr(0, scheme_end);
      std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (scheme == "http" || scheme == "https") {
        return invalid(quote(item) + " is an HTTP address, but masters are reached over " +
                       "ZeroMQ at their [master] endpoint: give " + kMasterAddressForms);
      }
      if (scheme != "tcp" && scheme != "ipc" && scheme != "inproc") {
        return invalid(quote(item) + " has the scheme " + quote(scheme) +
                       ", which this program cannot use to find masters: give " +
                       kMasterAddressForms +
                       (scheme == "zk" ? std::string(" (inside a tessera-host, an empty address "
                                                     "follows the node's leader plugin, such as "
                                                     "leader_zookeeper)")
                                       : std::string()));
      }
      endpoint = scheme + item.substr(scheme_end);
      std::string problem = detail::endpoint_problem(endpoint, EndpointUse::connect);
      if (!problem.empty()) return invalid(problem);
    }
    if (std::find(endpoints.begin(), endpoints.end(), endpoint) == endpoints.end()) {
      endpoints.push_back(endpoint);
    }
  }
  if (endpoints.empty()) {
    return invalid("no master address given: expected " + std::string(kMasterAddressForms));
  }
  return endpoints;
}

class MasterDetector {
 public:
  using Found = std::function<void(Result<std::string>)>;
  // Redirects followed in a row without reaching a leader before giving up on them (masters
  // whose views disagree during an election can point at each other).
  static constexpr int kMaxRedirects = 3;

  explicit MasterDetector(Bus& bus) : bus_(bus) {}
  virtual ~MasterDetector() = default;
  MasterDetector(const MasterDetector&) = delete;
  MasterDetector& operator=(const MasterDetector&) = delete;

  // Finds the master to try now: the leader last reached or redirected to, else the source's
  // choice. `found` gets an endpoint, or an error when there is none to try yet (the caller
  // waits and asks again); it may be called before next() returns.
  void next(Found found) {
    if (!preferred_.empty()) return found(preferred_);
    lookup(std::move(found));
  }

  // `endpoint` answered as the leading master: it is tried first from now on.
  void leading(const std::string& endpoint) {
    preferred_ = endpoint;
    redirects_ = 0;
  }

  // `endpoint` did not answer: another master is tried next.
  void unreachable(const std::string& endpoint) {
    if (preferred_ == endpoint) preferred_.clear();
    redirects_ = 0;
    forget(endpoint);
  }

  // `endpoint` answered master.not_leader. True: `answer.leader` is to be tried at once (it
  // is what next() gives now). False: no leader to go to; the caller waits before next().
  bool not_leader(const std::string& endpoint, const protocol::master::NotLeader& answer) {
    // A detector that watches the election knows better than a master that may not have heard
    // of it yet: right after a leader dies, the next one's standby view still names the dead
    // one, and following that would send the client to a master that never answers.
    std::string watched = watched_leader();
    if (!watched.empty() && answer.leader != watched) {
      bus_.log.info("master at {} is not the leader yet; the election names {}",
                    printable(endpoint), printable(watched));
      redirects_ = 0;
      return false;
    }
    if (!answer.leader.empty() && answer.leader != endpoint && redirects_ < kMaxRedirects) {
      ++redirects_;
      bus_.log.info("master at {} is not the leader; following it to {}", endpoint, answer.leader);
      preferred_ = answer.leader;
      return true;
    }
    bus_.log.info("master at {} is not the leader{}", printable(endpoint),
                  answer.leader.empty()
                      ? " and knows no leader yet"
                      : "; not following it again to " + printable(answer.leader));
    if (preferred_ == endpoint || redirects_ >= kMaxRedirects) preferred_.clear();
    redirects_ = 0;
    forget(endpoint);
    return false;
  }

  // The detector learned by itself that the leader moved (to `endpoint`; "" when unknown).
  std::function<void(const std::string& endpoint)> on_change;

  // Where masters are looked for, for messages: "tcp://a:5050,tcp://b:5050".
  virtual std::string describe() const = 0;
  // How many masters next() can give without a redirect (1 for the leader plugin): a caller
  // with one deadline splits it between them.
  virtual size_t candidates() const { return 1; }

 protected:
  // The source's choice of master to try (see next()).
  virtual void lookup(Found found) = 0;
  // The source's choice `endpoint` failed: choose another next time.
  virtual void forget(const std::string& endpoint) {}
  // For subclasses that watch the election: the leader it names now ("" when unknown, or when
  // the source does not watch), which a master.not_leader answer cannot overrule.
  virtual std::string watched_leader() const { return {}; }
  // For subclasses that watch the leader: forgets the remembered leader and tells on_change.
  void moved(const std::string& endpoint) {
    preferred_.clear();
    redirects_ = 0;
    if (on_change) on_change(endpoint);
  }

  Bus& bus_;

 private:
  std::string preferred_;
  int redirects_ = 0;
};

// A fixed list of masters, tried in turn from the first.
class MasterList final : public MasterDetector {
 public:
  MasterList(Bus& bus, std::vector<std::string> endpoints)
      : MasterDetector(bus), endpoints_(std::move(endpoints)) {}

  std::string describe() const override {
    std::string out;
    for (const auto& endpoint : endpoints_) out += (out.empty() ? "" : ",") + endpoint;
    return out;
  }
  size_t candidates() const override { return endpoints_.size(); }

 protected:
  void lookup(Found found) override {
    if (endpoints_.empty()) {
      return found(make_error(ErrorCode::kInvalidArgument, "no master address given"));
    }
    found(endpoints_[current_]);
  }
  void forget(const std::string& endpoint) override {
    if (!endpoints_.empty() && endpoints_[current_] == endpoint) {
      current_ = (current_ + 1) % endpoints_.size();
    }
  }

 private:
  std::vector<std::string> endpoints_;
  size_t current_ = 0;
};

// The leader plugin of this host: asks it (leader.get) and follows its leader.info events.
class LeaderPluginDetector final : public MasterDetector {
 public:
  LeaderPluginDetector(Bus& bus, std::string leader_endpoint,
                       std::chrono::milliseconds timeout = std::chrono::seconds(2))
      : MasterDetector(bus), endpoint_(std::move(leader_endpoint)), timeout_(timeout) {}

  std::string describe() const override { return "the leader plugin at " + endpoint_; }

 protected:
  void lookup(Found found) override {
    if (auto s = open(); !s) return found(s.error());
    leader_.request(
        protocol::store::GetLeader{},
        [this, found = std::move(found)](Result<Envelope> reply) {
          if (!reply) {
            return found(
                make_error(ErrorCode::kUnavailable, "asking the leader: " + reply.error().message));
          }
          auto leader = reply->body<protocol::store::Leader>();
          if (!reply->is<protocol::store::Leader>() || !leader) {
            return found(
                make_error(ErrorCode::kUnavailable,
                           "asking the leader: unexpected answer " + quote(reply->type())));
          }
          known_ = leader->known ? leader->endpoint : "";
          if (!leader->known || leader->endpoint.empty()) {
            return found(make_error(ErrorCode::kUnavailable, "no leading master yet"));
          }
          found(leader->endpoint);
        },
        timeout_);
  }

 private:
  Status open() {
    if (leader_.is_open()) return {};
    if (auto s = leader_.open(endpoint_); !s) return s;
    // The events of the leader plugin at X are published at X.events
    // (protocol::store::kEventsEndpoint for the default one).
    events_ = std::make_unique<Subscriber>(bus_, "detector.leader.events");
    events_->subscribe<protocol::store::Leader>(
        [this](const Envelope&, const protocol::store::Leader& leader) {
          std::string now = leader.known ? leader.endpoint : "";
          if (now == known_) return;
          known_ = now;
          moved(now);
        });
    return events_->connect(endpoint_ + ".events");
  }

  std::string endpoint_;
  std::chrono::milliseconds timeout_;
  DealerConnection leader_{bus_, "detector.leader"};
  std::unique_ptr<Subscriber> events_;
  std::string known_;
};

using DetectorFactory =
    std::function<Result<std::unique_ptr<MasterDetector>>(Bus& bus, const std::string& address)>;

struct DetectorOptions {
  // The leader plugin asked when no address is given.
  std::string leader_endpoint = protocol::store::kEndpoint;
  std::chrono::milliseconds leader_timeout{2000};
  // Detectors for other address schemes, by scheme ("zk" for "zk://..."): the hook through
  // which a leader plugin's own detection (ZooKeeper) is offered outside a host.
  std::map<std::string, DetectorFactory> schemes;
};

// Detectors a program registers once for every make_master_detector() call it makes, by
// scheme: the `tessera` CLI, which links the ZooKeeper client, registers "zk" at the start of
// main(), before it creates any detector and before any thread starts. DetectorOptions::schemes
// wins over them. Each binary has its own registry (a plugin's is empty unless it registers):
// inside a host, a plugin finds the master through the node's leader plugin instead (an empty
// address), which is where leader_zookeeper's detection lives.
inline std::map<std::string, DetectorFactory>& registered_detector_schemes() {
  static std::map<std::string, DetectorFactory> schemes;
  return schemes;
}

// The detector for `masters` (see the top of this file); the error says what was expected.
inline Result<std::unique_ptr<MasterDetector>> make_master_detector(
    Bus& bus, const std::string& masters, const DetectorOptions& options = {}) {
  std::string text = detail::trim_spaces(masters);
  if (text.empty()) {
    return std::unique_ptr<MasterDetector>(std::make_unique<LeaderPluginDetector>(
        bus, options.leader_endpoint, options.leader_timeout));
  }
  size_t scheme_end = text.find("://");
  if (scheme_end != std::string::npos) {
    std::string scheme = text.substr(0, scheme_end);
    auto it = options.schemes.find(scheme);
    if (it != options.schemes.end()) return it->second(bus, text);
    auto registered = registered_detector_schemes().find(scheme);
    if (registered != registered_detector_schemes().end()) return registered->second(bus, text);
  }
  auto endpoints = parse_master_addresses(text);
  if (!endpoints) return endpoints.error();
  return std::unique_ptr<MasterDetector>(std::make_unique<MasterList>(bus, std::move(*endpoints)));
}

// One request to the leading master and its answer: tries the detector's masters, follows
// master.not_leader redirects, and calls `done` with the first answer that is not
// master.not_leader (with the endpoint that gave it), or with an error once `deadline` has
// passed: "no answer from master at tcp://a:5050,tcp://b:5050". Each attempt waits
// `attempt_timeout`; a not_leader answer without a leader waits `pause` before the next try.
//
// Lifetime: keep the MasterCall (and the detector) alive until `done` is called; destroying it
// earlier drops the request and `done` is not called.
class MasterCall {
 public:
  using Done = std::function<void(Result<Envelope> answer, const std::string& endpoint)>;

  MasterCall(Bus& bus, MasterDetector& detector) : bus_(bus), detector_(detector) {}
  ~MasterCall() { cancel(); }
  MasterCall(const MasterCall&) = delete;
  MasterCall& operator=(const MasterCall&) = delete;

  template <typename T>
  void start(const T& request, std::chrono::milliseconds attempt_timeout,
             std::chrono::milliseconds deadline, Done done,
             std::chrono::milliseconds pause = std::chrono::milliseconds(200)) {
    cancel();
    done_ = std::move(done);
    attempt_timeout_ = attempt_timeout;
    pause_ = pause;
    deadline_ = EventLoop::Clock::now() + deadline;
    problem_.clear();
    no_leader_ = false;
    send_ = [this, request] {
      connection_.request(
          request, [this](Result<Envelope> reply) { answered(std::move(reply)); },
          remaining(attempt_timeout_));
    };
    attempt();
  }

  void cancel() {
    if (timer_ != 0) bus_.loop->cancel(timer_);
    timer_ = 0;
    connection_.close();
    done_ = nullptr;
  }

  // The last problem met (for a message with more detail).
  const std::string& last_problem() const { return problem_; }
  // Whether that problem was masters answering that none of them leads (they are up, but no
  // leader is known): not the same as masters that do not answer.
  bool found_no_leader() const { return no_leader_; }

 private:
  std::chrono::milliseconds remaining(std::chrono::milliseconds at_most) const {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - EventLoop::Clock::now());
    return std::max(std::chrono::milliseconds(1), std::min(at_most, left));
  }

  void attempt() {
    timer_ = 0;
    if (!done_) return;
    if (EventLoop::Clock::now() >= deadline_) return give_up();
    detector_.next([this](Result<std::string> endpoint) {
      if (!done_) return;
      if (!endpoint) {
        problem_ = endpoint.error().message;
        return wait();
      }
      if (auto s = connection_.open(*endpoint); !s) {
        problem_ = s.error().message;
        detector_.unreachable(*endpoint);
        return wait();
      }
      send_();
    });
  }

  void answered(Result<Envelope> reply) {
    std::string endpoint = connection_.endpoint();
    if (!reply) {
      problem_ = reply.error().message;
      no_leader_ = false;
      detector_.unreachable(endpoint);
      return attempt();
    }
    if (reply->is<protocol::master::NotLeader>()) {
      auto body = reply->body<protocol::master::NotLeader>();
      protocol::master::NotLeader answer = body ? *body : protocol::master::NotLeader{};
      // The answering master's words are wire text: shown escaped and bounded.
      problem_ = "master at " + endpoint + ": " +
                 (answer.message.empty() ? protocol::master::not_leader_message(answer.leader)
                                         : printable(answer.message, 300));
      no_leader_ = true;
      if (detector_.not_leader(endpoint, answer)) return attempt();
      return wait();
    }
    detector_.leading(endpoint);
    finish(std::move(reply), endpoint);
  }

  void wait() {
    if (EventLoop::Clock::now() + pause_ >= deadline_) return give_up();
    timer_ = bus_.loop->after(pause_, [this] { attempt(); });
  }

  void give_up() {
    finish(make_error(ErrorCode::kUnavailable,
                      no_leader_ ? "no leading master at " + detector_.describe() + ": " + problem_
                                 : "no answer from master at " + detector_.describe()),
           "");
  }

  void finish(Result<Envelope> answer, const std::string& endpoint) {
    Done done = std::move(done_);
    done_ = nullptr;
    connection_.close();
    if (done) done(std::move(answer), endpoint);
  }

  Bus& bus_;
  MasterDetector& detector_;
  DealerConnection connection_{bus_, "master"};
  std::function<void()> send_;
  Done done_;
  std::chrono::milliseconds attempt_timeout_{2000};
  std::chrono::milliseconds pause_{200};
  EventLoop::Clock::time_point deadline_{};
  EventLoop::TimerId timer_ = 0;
  std::string problem_;
  bool no_leader_ = false;
};

}  // namespace tessera::sdk
