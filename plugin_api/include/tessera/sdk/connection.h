// DealerConnection: one DEALER connection to a master (or any ROUTER) that can be closed and
// reopened while the loop runs, as reconnection needs. Used by the SchedulerClient and the
// master detector's one-shot requests.
//
// Threading and lifetime: created, used and destroyed on the bus's loop thread; reply and push
// handlers run there and may close or reopen the connection. The Bus and its loop must outlive
// it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <zmq.hpp>

#include "tessera/message.h"
#include "tessera/result.h"
#include "tessera/sdk/channels.h"
#include "tessera/sdk/event_loop.h"

namespace tessera::sdk {

// A DEALER connection to one endpoint: requests matched by correlation id (each with its own
// timeout), one-way sends, and pushed messages. Unlike sdk::Client it can be closed and
// reopened while the loop runs (it unwatches its socket), which reconnection needs.
class DealerConnection {
 public:
  using ReplyHandler = std::function<void(Result<Envelope>)>;
  using PushHandler = std::function<void(Envelope&)>;

  DealerConnection(Bus& bus, std::string name) : bus_(bus), name_(std::move(name)) {}
  ~DealerConnection() { close(); }
  DealerConnection(const DealerConnection&) = delete;
  DealerConnection& operator=(const DealerConnection&) = delete;

  // Opens a new socket connected to `endpoint` (closing any previous one).
  Status open(const std::string& endpoint) {
    close();
    try {
      socket_ = Socket(bus_.zmq_context, ZMQ_DEALER);
    } catch (const zmq::error_t& e) {
      return make_error("connection '" + name_ + "': cannot open a socket: " + e.what());
    }
    detail::apply_limits(socket_, bus_.limits);
    if (auto s = detail::connect_socket(socket_, endpoint); !s) {
      socket_.close();
      return s.context("connection '" + name_ + "'");
    }
    endpoint_ = endpoint;
    bus_.loop->watch_messages(socket_, [this] { return receive(); });
    return {};
  }

  // Closes the socket; requests in flight are forgotten (their handlers are not called).
  // With a linger, messages still queued are given that long to leave (ZeroMQ finishes them in
  // the background; terminating the context waits for them).
  void close(std::chrono::milliseconds linger = std::chrono::milliseconds(0)) {
    for (auto& [sequence, pending] : pending_) bus_.loop->cancel(pending.timer);
    pending_.clear();
    if (!socket_) return;
    bus_.loop->unwatch(socket_);
    if (linger.count() > 0) {
      try {
        socket_.ref().set(zmq::sockopt::linger, static_cast<int>(linger.count()));
      } catch (const zmq::error_t&) {
      }
    }
    socket_.close();
  }

  bool is_open() const { return static_cast<bool>(socket_); }
  const std::string& endpoint() const { return endpoint_; }

  template <typename T>
  uint64_t send(const T& body) {
    Header header;
    header.sender = bus_.sender;
    header.sequence = ++sequence_;
    if (!socket_) return header.sequence;
    encode(buffer_, header, body);
    try {
      socket_.ref().send(zmq::message_t(buffer_.data(), buffer_.size()), zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      bus_.log.warn("connection '{}': cannot send '{}': {}", name_, T::kType, e.what());
    }
    return header.sequence;
  }

  template <typename T>
  void request(const T& body, ReplyHandler on_reply, std::chrono::milliseconds timeout) {
    uint64_t sequence = send(body);
    EventLoop::TimerId timer = bus_.loop->after(timeout, [this, sequence] {
      auto it = pending_.find(sequence);
      if (it == pending_.end()) return;
      ReplyHandler handler = std::move(it->second.on_reply);
      std::string type = it->second.type;
      pending_.erase(it);
      handler(make_error("no answer to '" + type + "' from " + endpoint_));
    });
    pending_.emplace(sequence, Pending{T::kType, std::move(on_reply), timer});
  }

  PushHandler on_push;

 private:
  struct Pending {
    std::string type;
    ReplyHandler on_reply;
    EventLoop::TimerId timer;
  };

  // Receives and handles one message; false when none was queued (EventLoop::watch_messages).
  // Handlers may close or reopen this connection, so nothing here touches the socket after
  // calling one (the loop calls again only while the socket is the one it watches).
  bool receive() {
    zmq::message_t payload;
    if (!socket_.ref().recv(payload, zmq::recv_flags::dontwait)) return false;
    handle(payload);
    return true;
  }

  void handle(const zmq::message_t& payload) {
    if (detail::discard_rest(socket_.ref()) != 0) {
      bus_.log.warn("connection '{}': dropped a message with more than one frame", name_);
      return;
    }
    auto decoded = Envelope::decode(payload.data(), payload.size(), bus_.limits);
    if (!decoded) {
      bus_.log.warn("connection '{}': dropped a malformed message: {}", name_,
                    decoded.error().message);
      return;
    }
    uint64_t correlation = decoded->header().correlation;
    if (correlation != 0) {
      auto it = pending_.find(correlation);
      if (it == pending_.end()) {
        bus_.log.debug("connection '{}': late or unknown reply to request {}", name_, correlation);
        if (on_push) on_push(*decoded);  // still a sign of life
        return;
      }
      ReplyHandler handler = std::move(it->second.on_reply);
      bus_.loop->cancel(it->second.timer);
      pending_.erase(it);
      handler(std::move(*decoded));
      return;
    }
    if (on_push) on_push(*decoded);
  }

  Bus& bus_;
  std::string name_;
  std::string endpoint_;
  Socket socket_;
  std::map<uint64_t, Pending> pending_;
  msgpack::sbuffer buffer_;
  uint64_t sequence_ = 0;
};

// The name SchedulerClient's connection had before it was shared.
namespace detail {
using DealerConnection = sdk::DealerConnection;
}  // namespace detail

}  // namespace tessera::sdk
