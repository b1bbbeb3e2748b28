// Leadership: tells a plugin when its host starts and stops leading the cluster.
//
// A host leads while the leader plugin says its master is the elected one (`leader.info` with
// `this_node`). Framework plugins (Marathon, Chronos) act only then: they launch, persist and
// answer their API while leading, and stop when deposed; a standby host's plugins wait.
//
//   sdk::Leadership leadership(bus(), clock());
//   leadership.on_elected = [&](uint64_t epoch) { recover_then_serve(); };
//   leadership.on_deposed = [&] { stop_acting(); };
//   if (auto s = leadership.start(); !s) return s;
//
// How it knows: it subscribes to `leader.info` events (inproc://tessera.leader.events), asks
// `leader.get` at start, and asks again every `resync_interval`, because a publish/subscribe
// event sent before the subscription took is lost. Answers and events older than the epoch
// already seen are ignored, so a slow answer cannot undo a newer event. The master role itself
// also campaigns through it (campaign()), and so learns its epoch the same way.
//
// The epoch (the leader's term, see protocol/store.h) is what the host's writes to the store
// carry for fencing: sdk::Store::fence_with(leadership). A new term while leading (the leader
// plugin re-elected this host after losing it in between) is reported as on_deposed then
// on_elected, since whatever was done in between belongs to someone else.
//
// Threading and lifetime: created, used and destroyed on the bus's loop thread; callbacks run
// there and may call any member, but must not destroy the Leadership. The Bus, its loop and the
// clock must outlive it; destroying it cancels its timers and closes its sockets.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "tessera/message.h"
#include "tessera/protocol/store.h"
#include "tessera/result.h"
#include "tessera/sdk/channels.h"
#include "tessera/sdk/clock.h"

namespace tessera::sdk {

struct LeadershipOptions {
  std::string leader_endpoint = protocol::store::kEndpoint;
  std::string events_endpoint = protocol::store::kEventsEndpoint;
  // How long one leader.get or leader.campaign waits for its answer.
  std::chrono::milliseconds request_timeout{2000};
  // How often leader.get is asked again (covers events lost before the subscription took).
  std::chrono::milliseconds resync_interval{2000};
  // How long an unanswered campaign waits before it is sent again.
  std::chrono::milliseconds campaign_retry{500};
};

class Leadership {
 public:
  Leadership(Bus& bus, Clock& clock, LeadershipOptions options = {})
      : bus_(bus), clock_(clock), options_(std::move(options)) {}
  ~Leadership() { stop(); }
  Leadership(const Leadership&) = delete;
  Leadership& operator=(const Leadership&) = delete;

  // This host starts leading, in term `epoch`.
  std::function<void(uint64_t epoch)> on_elected;
  // This host stops leading (another master was elected, or the leader is unknown).
  std::function<void()> on_deposed;
  // Every new view of who leads, on any host (endpoint, id, epoch); before on_elected or
  // on_deposed when both apply.
  std::function<void(const protocol::store::Leader&)> on_leader;

  // Connects to the leader plugin and starts following it. Returns at once.
  Status start() {
    if (active_) return {};
    if (!requests_) {
      requests_ = std::make_unique<Client>(bus_, "leadership");
      if (auto s = requests_->connect(options_.leader_endpoint); !s) {
        requests_.reset();
        return s.context("leadership");
      }
      events_ = std::make_unique<Subscriber>(bus_, "leadership.events");
      events_->subscribe<protocol::store::Leader>(
          [this](const Envelope&, const protocol::store::Leader& leader) { learn(leader); });
      if (auto s = events_->connect(options_.events_endpoint); !s) {
        requests_.reset();
        events_.reset();
        return s.context("leadership");
      }
    }
    active_ = true;
    ask();
    resync_ = clock_.every(options_.resync_interval, [this] { ask(); });
    return {};
  }

  // Asks the leader plugin to elect this host's master (the master role does this; framework
  // plugins only follow). Starts following if not yet started. Sent again every
  // `campaign_retry` until answered; the answer is taken like any other view of the leader.
  Status campaign(const std::string& master_id, const std::string& endpoint) {
    if (auto s = start(); !s) return s;
    campaign_ = protocol::store::Campaign{master_id, endpoint};
    campaigning_ = true;
    send_campaign();
    return {};
  }

  // Asks the leader plugin to take leadership from this host (as Marathon's DELETE /v2/leader
  // abdicates): its master enters the election again as the last candidate, so another master
  // leads if there is one, and the only one is elected again in a new term. Either way this
  // host is deposed (on_deposed), and on_elected follows if it is elected again. False when
  // this host does not lead; the plugin's answer is taken like any other view of the leader.
  bool resign() {
    if (!active_ || !leading_) return false;
    requests_->request(
        protocol::store::Resign{leader_.master_id},
        [this](Result<Envelope> reply) { take(reply, "leader.resign"); }, options_.request_timeout);
    return true;
  }

  // Stops following: timers cancelled, and no callback is called after it (answers and events
  // that still arrive are ignored). The sockets stay open until the destructor or the next
  // start(), so stop() is safe inside a callback.
  void stop() {
    if (resync_ != 0) clock_.cancel(resync_);
    if (campaign_timer_ != 0) clock_.cancel(campaign_timer_);
    resync_ = campaign_timer_ = 0;
    campaigning_ = false;
    active_ = false;
    leading_ = false;
  }

  bool leading() const { return leading_; }
  // The term this host leads (or last led) in; 0 when it never led.
  uint64_t epoch() const { return led_epoch_; }
  // The latest view of the leader (known = false until the leader plugin has answered).
  const protocol::store::Leader& leader() const { return leader_; }
  // How many answers of the leader plugin (to leader.get and leader.campaign) were taken, stale
  // ones included: a test waits on it to know that an answer has been seen.
  uint64_t answers() const { return answers_; }

 private:
  void ask() {
    if (!active_ || asking_) return;
    asking_ = true;
    requests_->request(
        protocol::store::GetLeader{},
        [this](Result<Envelope> reply) {
          asking_ = false;
          take(reply, "leader.get");
        },
        options_.request_timeout);
  }

  void send_campaign() {
    campaign_timer_ = 0;
    if (!campaigning_ || !active_) return;
    requests_->request(
        campaign_,
        [this](Result<Envelope> reply) {
          if (!campaigning_) return;
          if (!take(reply, "leader.campaign")) {
            campaign_timer_ = clock_.after(options_.campaign_retry, [this] { send_campaign(); });
            return;
          }
          campaigning_ = false;
        },
        options_.request_timeout);
  }

  // Takes an answer of the leader plugin; false when there was none usable.
  bool take(Result<Envelope>& reply, const char* what) {
    if (!reply) {
      bus_.log.debug("leadership: no answer to {} yet: {}", what, reply.error().message);
      return false;
    }
    auto leader = reply->body<protocol::store::Leader>();
    if (!reply->is<protocol::store::Leader>() || !leader) {
      bus_.log.warn("leadership: unexpected answer {} to {}", quote(reply->type()), what);
      return false;
    }
    ++answers_;
    learn(*leader);
    return true;
  }

  void learn(const protocol::store::Leader& leader) {
    if (!active_) return;
    if (leader.epoch < leader_.epoch) return;  // older than what is known: a slow answer
    bool changed = leader.known != leader_.known || leader.master_id != leader_.master_id ||
                   leader.endpoint != leader_.endpoint || leader.this_node != leader_.this_node ||
                   leader.epoch != leader_.epoch || !heard_;
    heard_ = true;
    if (!changed) return;
    leader_ = leader;
    bool leads = leader.known && leader.this_node;
    bool new_term = leads && leading_ && leader.epoch != led_epoch_;
    if (on_leader) on_leader(leader_);
    if (leading_ && (!leads || new_term)) {
      leading_ = false;
      bus_.log.info("leadership: this host no longer leads (the leader is {})",
                    leader.known ? quote(leader.master_id) + " at " + printable(leader.endpoint)
                                 : std::string("unknown"));
      if (on_deposed) on_deposed();
    }
    // The callbacks above may have stopped this object.
    if (leads && !leading_ && active_) {
      leading_ = true;
      led_epoch_ = leader.epoch;
      bus_.log.info("leadership: this host leads (master {}, epoch {})", quote(leader.master_id),
                    leader.epoch);
      if (on_elected) on_elected(leader.epoch);
    }
  }

  Bus& bus_;
  Clock& clock_;
  LeadershipOptions options_;
  std::unique_ptr<Client> requests_;
  std::unique_ptr<Subscriber> events_;
  bool active_ = false;
  bool asking_ = false;
  bool heard_ = false;
  bool campaigning_ = false;
  protocol::store::Campaign campaign_;
  Clock::TimerId resync_ = 0;
  Clock::TimerId campaign_timer_ = 0;
  protocol::store::Leader leader_;
  bool leading_ = false;
  uint64_t led_epoch_ = 0;
  uint64_t answers_ = 0;
};

}  // namespace tessera::sdk
