// EventBroadcaster: one source of Server-Sent Events, many subscribers, and a bounded replay
// ring so that a client that reconnects with Last-Event-ID gets what it missed.
//
// Ids have the form "EPOCH-SEQ": SEQ counts the events published by this broadcaster from 1,
// EPOCH tells this broadcaster apart from an earlier one (a restarted plugin), so a client
// never resumes from another broadcaster's numbers. On subscribe:
//   no Last-Event-ID                                  live events only
//   an id of this epoch whose successors are all kept replays them, then live events
//   anything else (another epoch, garbage, too old)   one "reset" event, then live events: the
//                                                     client must re-read the state it mirrors
// Every stream starts with the comment line ":ok" so that a client knows it is subscribed.
//
// Threading: the loop thread of the Server that serves the subscriptions. The broadcaster may
// be destroyed before or after the Server: destroying it ends its subscribers' streams.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tessera/sdk/http/message.h"
#include "tessera/sdk/http/server.h"

namespace tessera::sdk::http {

class EventBroadcaster {
 public:
  struct Options {
    size_t replay_events = 1024;                    // past events kept for clients that reconnect
    size_t replay_bytes = size_t{4} * 1024 * 1024;  // and at most this many bytes of them
    std::string epoch;  // the first part of every id; empty: a random one
  };
  // Which events a subscriber wants, by event name; empty: all of them.
  using Filter = std::function<bool(std::string_view event)>;

  EventBroadcaster() : EventBroadcaster(Options{}) {}
  explicit EventBroadcaster(Options options) : state_(std::make_shared<State>()) {
    state_->options = std::move(options);
    state_->epoch = state_->options.epoch;
    if (state_->epoch.empty()) {
      std::random_device random;
      char text[17];
      std::snprintf(text, sizeof text, "%08x%08x", random(), random());
      state_->epoch = text;
    }
  }
  ~EventBroadcaster() {
    for (auto& [key, subscriber] : state_->subscribers) subscriber.stream.finish();
  }
  EventBroadcaster(const EventBroadcaster&) = delete;
  EventBroadcaster& operator=(const EventBroadcaster&) = delete;

  // Sends one event to every subscriber whose filter takes it, keeps it for replay, and returns
  // its id. The bytes leave when the current handler or timer is over (see Stream::write).
  std::string publish(std::string_view event, std::string_view data) {
    State& s = *state_;
    uint64_t seq = ++s.last_seq;
    std::string id = s.id(seq);
    Past past{seq, std::string(event), format_event(data, event, id)};
    std::vector<uint64_t> gone;
    for (auto& [key, subscriber] : s.subscribers) {
      if (subscriber.filter && !subscriber.filter(event)) continue;
      if (!subscriber.stream.write(past.frame)) gone.push_back(key);
    }
    for (uint64_t key : gone) s.subscribers.erase(key);
    if (s.options.replay_events > 0 && past.frame.size() <= s.options.replay_bytes) {
      s.ring_bytes += past.frame.size();
      s.ring.push_back(std::move(past));
      while (s.ring.size() > s.options.replay_events || s.ring_bytes > s.options.replay_bytes) {
        s.ring_bytes -= s.ring.front().frame.size();
        s.ring.pop_front();
      }
    } else {
      // Too large to keep: a client resuming from before it must be reset.
      s.ring.clear();
      s.ring_bytes = 0;
    }
    return id;
  }

  // Answers a subscription request (the handler of a GET route): an event stream that first
  // replays what the client missed, then carries every event published while it is open.
  Response subscribe(const Request& request, Filter filter = {}) {
    std::string last_event_id(request.header("Last-Event-ID"));
    std::weak_ptr<State> weak = state_;
    return Response::event_stream([weak, last_event_id, filter = std::move(filter)](Stream stream) {
      auto state = weak.lock();
      if (!state) {
        stream.finish();
        return;
      }
      stream.write(":ok\n\n");
      state->replay(stream, last_event_id, filter);
      uint64_t key = ++state->next_subscriber;
      state->subscribers.emplace(key, Subscriber{stream, filter});
      stream.on_close([weak, key] {
        if (auto s = weak.lock()) s->subscribers.erase(key);
      });
    });
  }

  size_t subscribers() const { return state_->subscribers.size(); }
  // Bytes written for subscribers and not yet sent to them: in all, and for the one with most.
  struct Backlog {
    size_t total_bytes = 0;
    size_t max_bytes = 0;
  };
  Backlog backlog() const {
    Backlog out;
    for (const auto& [key, subscriber] : state_->subscribers) {
      size_t waiting = subscriber.stream.buffered();
      out.total_bytes += waiting;
      out.max_bytes = std::max(out.max_bytes, waiting);
    }
    return out;
  }
  // The id of the last event published ("EPOCH-0" before the first).
  std::string last_id() const { return state_->id(state_->last_seq); }
  const std::string& epoch() const { return state_->epoch; }

 private:
  struct Past {
    uint64_t seq;
    std::string event;
    std::string frame;
  };
  struct Subscriber {
    Stream stream;
    Filter filter;
  };
  struct State {
    Options options;
    std::string epoch;
    uint64_t last_seq = 0;
    std::deque<Past> ring;
    size_t ring_bytes = 0;
    std::unordered_map<uint64_t, Subscriber> subscribers;
    uint64_t next_subscriber = 0;

    std::string id(uint64_t seq) const { return epoch + "-" + std::to_string(seq); }

    // The sequence number in `id` when it is one of this broadcaster's, not in the future.
    std::optional<uint64_t> sequence_of(std::string_view id) const {
      if (id.size() <= epoch.size() + 1 || id.substr(0, epoch.size()) != epoch ||
          id[epoch.size()] != '-') {
        return std::nullopt;
      }
      std::string_view digits = id.substr(epoch.size() + 1);
      uint64_t seq = 0;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
      if (ec != std::errc() || end != digits.data() + digits.size() || seq > last_seq) {
        return std::nullopt;
      }
      return seq;
    }

    void replay(Stream& stream, const std::string& last_event_id, const Filter& filter) const {
      if (last_event_id.empty()) return;
      auto seq = sequence_of(last_event_id);
      bool complete = seq && (*seq == last_seq || (!ring.empty() && ring.front().seq <= *seq + 1));
      if (!complete) {
        boost::json::object reason;
        // Our ids are short; a longer one is not echoed whole (the header may be kilobytes).
        constexpr size_t kEchoed = 64;
        reason["message"] = last_event_id.size() <= kEchoed
                                ? "events after " + quote(last_event_id) + " are not available"
                                : "events after an id of " + std::to_string(last_event_id.size()) +
                                      " bytes (not one of this stream's) are not available";
        stream.write(format_event(boost::json::serialize(reason), "reset", id(last_seq)));
        return;
      }
      for (const Past& past : ring) {
        if (past.seq <= *seq || (filter && !filter(past.event))) continue;
        stream.write(past.frame);
      }
    }
  };

  std::shared_ptr<State> state_;
};

}  // namespace tessera::sdk::http
