// Channels: request/reply and publish/subscribe over ZeroMQ, carrying Tessera envelopes.
//
// Each channel handles one message per call from its EventLoop; the loop calls it again while
// the socket holds more (see EventLoop::run for why).
//
//   Server      ROUTER, bound.   Answers requests; can also push to a peer it has heard from.
//               A lane (bind_lane) is a second ROUTER for a few peers that must not wait
//               behind the many.
//   Client      DEALER, connected. Requests with replies matched by correlation id (many in
//               flight, each with a timeout), one-way sends, and messages the server pushes.
//   Publisher   PUB, bound.      Publishes events; the topic frame is the message type.
//   Subscriber  SUB, connected.  Receives the event types it subscribed to.
//
// Endpoints are ZeroMQ addresses: inproc://NAME between plugins of one host (they share the
// host's context), tcp://HOST:PORT between hosts (port `*` or 0 picks a free port; bind()
// returns the resolved address).
//
// Robustness: anything that is not a well-formed envelope (garbage bytes, a wrong frame count,
// a body whose fields have the wrong types, a type nobody handles) is logged and dropped, and
// the channel keeps serving; dropped() counts such messages. Wire-supplied text in those log
// lines (peer ids, message types) is escaped and truncated (quote() in logger.h).
//
// Limits: every channel bounds what one received message may cost (MessageLimits in
// message.h; Bus::limits for every channel of a plugin, set_limits() for one). Its max_bytes
// is the socket's ZMQ_MAXMSGSIZE, so over tcp ZeroMQ disconnects a peer whose frame is larger
// before reading it (the peer reconnects by itself and the channel keeps serving the others;
// nothing is logged, ZeroMQ does not say why a peer left). Over inproc ZeroMQ applies no such
// limit, so each channel checks the frame's size again before decoding, and logs and drops a
// frame that is too large. A message that is within max_bytes but declares too many values or
// nests too deep is dropped before it is unpacked.
//
// Threading and lifetime: a channel is created, used and destroyed on its plugin's loop thread;
// the Bus (and its EventLoop) must outlive it. A channel stops being watched by the loop when it
// is destroyed, so one may be replaced while the loop runs.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <zmq.hpp>

#include "tessera/message.h"
#include "tessera/result.h"
#include "tessera/sdk/event_loop.h"
#include "tessera/sdk/logger.h"

namespace tessera::sdk {

// What channels need from their owner: the ZeroMQ context, the loop that serves them, a logger
// and the sender name written into every message, and the limits on what a received message
// may cost that each channel starts with.
struct Bus {
  Bus() = default;
  Bus(void* context, EventLoop* event_loop, Logger logger, std::string sender_name,
      MessageLimits message_limits = {})
      : zmq_context(context),
        loop(event_loop),
        log(logger),
        sender(std::move(sender_name)),
        limits(message_limits) {}

  void* zmq_context = nullptr;
  EventLoop* loop = nullptr;
  Logger log;
  std::string sender;
  MessageLimits limits;
};

namespace detail {

inline Result<std::string> bind_socket(Socket& socket, const std::string& endpoint) {
  std::string address = endpoint;
  // ZeroMQ spells "any port" as '*'; accept the port 0 users know from everything else.
  if (address.rfind("tcp://", 0) == 0 && address.size() > 2 &&
      address.compare(address.size() - 2, 2, ":0") == 0) {
    address.replace(address.size() - 1, 1, "*");
  }
  try {
    socket.ref().bind(address);
    return socket.ref().get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return make_error("cannot bind '" + endpoint + "': " + e.what());
  }
}

// Gives the socket ZeroMQ's share of `limits`: a tcp peer sending a larger frame is
// disconnected. Takes effect for endpoints bound or connected afterwards.
inline void apply_limits(Socket& socket, const MessageLimits& limits) {
  constexpr auto kLargest = static_cast<size_t>(std::numeric_limits<int64_t>::max());
  socket.ref().set(zmq::sockopt::maxmsgsize,
                   static_cast<int64_t>(std::min(limits.max_bytes, kLargest)));
}

inline Status connect_socket(Socket& socket, const std::string& endpoint) {
  try {
    socket.ref().connect(endpoint);
  } catch (const zmq::error_t& e) {
    return make_error("cannot connect to '" + endpoint + "': " + e.what());
  }
  return {};
}

// Receives every remaining frame of the message in progress (used to discard malformed ones).
inline size_t discard_rest(zmq::socket_ref socket) {
  size_t count = 0;
  while (socket.get(zmq::sockopt::rcvmore) != 0) {
    zmq::message_t part;
    (void)socket.recv(part, zmq::recv_flags::none);
    ++count;
  }
  return count;
}

template <typename Incoming>
using Handler = std::function<void(const Incoming&)>;

// A ROUTER's name for a peer in logs: ZeroMQ's generated ids (five bytes, the first zero) say
// nothing, and a peer that chose its own id chose its bytes.
inline std::string peer_name(const std::string& peer) {
  return peer.size() == 5 && peer[0] == 0 ? "(anonymous)" : quote(peer, 64);
}

}  // namespace detail

// One request a Server received.
struct Request {
  std::string peer;  // the ZeroMQ routing id of the client
  Envelope message;
};

class Server {
 public:
  // Connections a tcp endpoint queues before they are accepted (ZMQ_BACKLOG).
  static constexpr int kListenBacklog = 4096;

  Server(Bus& bus, std::string name) : bus_(bus), name_(std::move(name)), limits_(bus.limits) {}
  ~Server() {
    if (socket_) bus_.loop->unwatch(socket_);
    if (lane_) bus_.loop->unwatch(lane_);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds to `endpoint` (may be called for several endpoints) and returns the resolved address.
  Result<std::string> bind(const std::string& endpoint) {
    open();
    auto bound = detail::bind_socket(socket_, endpoint);
    if (!bound) return bound.error().context("server '" + name_ + "'");
    return bound;
  }

  // Binds `endpoint` on the server's lane: a socket of its own whose requests the loop serves in
  // turn with the others (at most EventLoop::kMessagesPerTurn messages of each socket a turn),
  // instead of queueing them fairly behind every peer of the bound endpoints. ZeroMQ's ROUTER takes
  // one message from each connected peer in turn, so a request from the HTTP API would reach a
  // master after one message of each agent that has one queued. Handlers, replies and pushes work
  // as for any peer; a lane's peers are named with kLanePrefix before their routing id, which sends
  // use to pick the socket.
  Result<std::string> bind_lane(const std::string& endpoint) {
    open();
    if (!lane_) {
      lane_ = make_router();
      bus_.loop->watch_messages(lane_, [this] { return receive(lane_, true); });
    }
    auto bound = detail::bind_socket(lane_, endpoint);
    if (!bound) return bound.error().context("server '" + name_ + "'");
    return bound;
  }
  // The lane's mark before a peer's routing id. A ZeroMQ-generated id is 5 bytes starting with a
  // zero byte, so it is never longer than the mark; a routing id chosen by a peer of the bound
  // endpoints that starts with it is refused (dropped), so no peer can pass for a lane's.
  static constexpr std::string_view kLanePrefix{"\0lane", 5};

  // Calls `handler(request, body)` for every request of type T.
  template <typename T, typename F>
  void on(F handler) {
    handlers_[T::kType] = [this, handler = std::move(handler)](const Request& request) {
      auto body = request.message.body<T>();
      if (!body) return drop(request.peer, body.error().message);
      handler(request, *body);
    };
  }

  template <typename T>
  bool reply(const Request& request, const T& body) {
    return send_to(request.peer, request.message.header().sequence, body);
  }

  // Replies later to a request whose peer and sequence number were kept (e.g. after waiting
  // for a write to the store).
  template <typename T>
  bool reply_later(const std::string& peer, uint64_t request_sequence, const T& body) {
    return send_to(peer, request_sequence, body);
  }

  // Sends an unsolicited message to a peer that has already sent something to this server.
  template <typename T>
  bool send(const std::string& peer, const T& body) {
    return send_to(peer, 0, body);
  }

  uint64_t dropped() const { return dropped_; }
  // Messages that could not be queued for sending (peer unknown or its queue full).
  uint64_t unsent() const { return unsent_; }
  // Messages queued for sending (replies and unsolicited ones).
  uint64_t sent() const { return sequence_ - unsent_; }
  const std::string& name() const { return name_; }

  // How many messages may queue for each peer before sends to it fail (0: no limit; ZeroMQ's
  // default is 1000). Call before bind().
  void set_high_water_mark(int messages) {
    open();
    high_water_mark_ = messages;
    socket_.ref().set(zmq::sockopt::sndhwm, messages);
    socket_.ref().set(zmq::sockopt::rcvhwm, messages);
  }

  // What one received message may cost (default: the Bus's). Call before bind().
  void set_limits(const MessageLimits& limits) {
    limits_ = limits;
    if (socket_) detail::apply_limits(socket_, limits_);
    if (lane_) detail::apply_limits(lane_, limits_);
  }
  const MessageLimits& limits() const { return limits_; }

 private:
  void open() {
    if (socket_) return;
    socket_ = make_router();
    bus_.loop->watch_messages(socket_, [this] { return receive(socket_, false); });
  }

  Socket make_router() {
    Socket socket(bus_.zmq_context, ZMQ_ROUTER);
    // Sends to a peer that is not connected fail instead of vanishing, so they are counted.
    socket.ref().set(zmq::sockopt::router_mandatory, true);
    // After a master failover every agent of the cluster connects at the same instant: with
    // ZeroMQ's default listen backlog of 100 the kernel drops most of their SYNs, and TCP
    // retries them only after 1, 3, 7 s. The kernel caps this at net.core.somaxconn.
    socket.ref().set(zmq::sockopt::backlog, kListenBacklog);
    if (high_water_mark_ >= 0) {
      socket.ref().set(zmq::sockopt::sndhwm, high_water_mark_);
      socket.ref().set(zmq::sockopt::rcvhwm, high_water_mark_);
    }
    detail::apply_limits(socket, limits_);
    return socket;
  }

  static bool lane_peer(const std::string& peer) {
    return peer.size() > kLanePrefix.size() &&
           peer.compare(0, kLanePrefix.size(), kLanePrefix) == 0;
  }

  // Receives and handles one message of `from`; false when none was queued (the loop calls
  // again while more are, EventLoop::watch_messages).
  bool receive(Socket& from, bool lane) {
    zmq::message_t identity;
    if (!from.ref().recv(identity, zmq::recv_flags::dontwait)) return false;
    handle(from, lane, identity);
    return true;
  }

  void handle(Socket& from, bool lane, const zmq::message_t& identity) {
    auto s = from.ref();
    Request request;
    request.peer = identity.to_string();
    if (s.get(zmq::sockopt::rcvmore) == 0)
      return drop(request.peer, "message has no payload frame");
    zmq::message_t payload;
    (void)s.recv(payload, zmq::recv_flags::none);
    if (detail::discard_rest(s) != 0) {
      return drop(request.peer, "message has more than one payload frame");
    }
    if (lane) {
      request.peer.insert(0, kLanePrefix);
    } else if (lane_peer(request.peer)) {
      return drop(request.peer, "its routing id starts with the mark of the server's lane");
    }
    auto decoded = Envelope::decode(payload.data(), payload.size(), limits_);
    if (!decoded) return drop(request.peer, decoded.error().message);
    request.message = std::move(*decoded);
    auto it = handlers_.find(request.message.type());
    if (it == handlers_.end()) {
      return drop(request.peer, "no handler for message type " + quote(request.message.type()));
    }
    it->second(request);
  }

  template <typename T>
  bool send_to(const std::string& peer, uint64_t correlation, const T& body) {
    Header header;
    header.sender = bus_.sender;
    header.sequence = ++sequence_;
    header.correlation = correlation;
    encode(buffer_, header, body);
    bool lane = lane_ && lane_peer(peer);
    auto s = lane ? lane_.ref() : socket_.ref();
    std::string_view id = lane ? std::string_view(peer).substr(kLanePrefix.size()) : peer;
    try {
      if (!s.send(zmq::buffer(id), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
        return unsendable(T::kType, "its queue is full");
      }
      (void)s.send(zmq::message_t(buffer_.data(), buffer_.size()), zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      return unsendable(T::kType, e.num() == EHOSTUNREACH ? "it is not connected" : e.what());
    }
    return true;
  }

  bool unsendable(const char* type, const std::string& why) {
    ++unsent_;
    bus_.log.warn("server '{}': cannot send '{}' to a peer: {}", name_, type, why);
    return false;
  }

  void drop(const std::string& peer, const std::string& why) {
    ++dropped_;
    bus_.log.warn("server '{}': dropped a malformed message from peer {}: {}", name_,
                  detail::peer_name(peer), why);
  }

  Bus& bus_;
  std::string name_;
  Socket socket_;
  Socket lane_;
  int high_water_mark_ = -1;  // ZeroMQ's default until set
  MessageLimits limits_;
  std::unordered_map<std::string, detail::Handler<Request>> handlers_;
  msgpack::sbuffer buffer_;
  uint64_t sequence_ = 0;
  uint64_t dropped_ = 0;
  uint64_t unsent_ = 0;
};

class Client {
 public:
  using ReplyHandler = std::function<void(Result<Envelope>)>;

  Client(Bus& bus, std::string name) : bus_(bus), name_(std::move(name)), limits_(bus.limits) {}
  ~Client() {
    if (sweeper_ != 0) bus_.loop->cancel(sweeper_);
    if (socket_) bus_.loop->unwatch(socket_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Status connect(const std::string& endpoint) {
    open();
    return detail::connect_socket(socket_, endpoint).context("client '" + name_ + "'");
  }

  // How many messages may queue before sends fail (0: no limit; ZeroMQ's default is 1000).
  // Call before connect(). A failed send is logged and counted in unsent().
  void set_high_water_mark(int messages) {
    open();
    socket_.ref().set(zmq::sockopt::sndhwm, messages);
    socket_.ref().set(zmq::sockopt::rcvhwm, messages);
  }

  // What one received message may cost (default: the Bus's). Call before connect(). A reply
  // larger than max_bytes over tcp makes ZeroMQ drop the connection (and reconnect), so its
  // request times out: raise the limit for a server trusted to send large replies.
  void set_limits(const MessageLimits& limits) {
    limits_ = limits;
    if (socket_) detail::apply_limits(socket_, limits_);
  }
  const MessageLimits& limits() const { return limits_; }

  // The routing id the server (a ROUTER) knows this connection by (ZMQ_ROUTING_ID: 1 to 255
  // bytes, the first not zero), kept when ZeroMQ reconnects the socket by itself after its TCP
  // connection dropped. Without one the server gets a new generated id for the reconnected
  // socket and takes it for another peer. Choose it unique (and unguessable: a ROUTER refuses
  // a second connection under an id in use). Call before connect().
  Status set_routing_id(const std::string& id) {
    if (id.empty() || id.size() > 255 || id.front() == '\0') {
      return make_error(
          ErrorCode::kInvalidArgument,
          "client '" + name_ + "': a routing id has 1 to 255 bytes, the first not zero");
    }
    open();
    try {
      socket_.ref().set(zmq::sockopt::routing_id, zmq::buffer(id));
    } catch (const zmq::error_t& e) {
      return make_error("client '" + name_ + "': cannot set its routing id: " + e.what());
    }
    return {};
  }

  // Sends a request and calls `on_reply` with the reply, or with an error when none arrives
  // within `timeout`. Returns the request's sequence number.
  template <typename T>
  uint64_t request(const T& body, ReplyHandler on_reply,
                   std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    uint64_t sequence = send(body);
    auto deadline = EventLoop::Clock::now() + timeout;
    pending_.emplace(sequence, Pending{deadline, T::kType, std::move(on_reply)});
    deadlines_.emplace(deadline, sequence);
    return sequence;
  }

  // Sends a one-way message. Returns its sequence number.
  template <typename T>
  uint64_t send(const T& body) {
    Header header;
    header.sender = bus_.sender;
    header.sequence = ++sequence_;
    encode(buffer_, header, body);
    std::string why;
    try {
      if (!socket_.ref().send(zmq::message_t(buffer_.data(), buffer_.size()),
                              zmq::send_flags::dontwait)) {
        why = "its queue is full";
      }
    } catch (const zmq::error_t& e) {
      why = e.what();
    }
    if (!why.empty()) {
      ++unsent_;
      bus_.log.warn("client '{}': cannot send '{}': {}", name_, T::kType, why);
    }
    return header.sequence;
  }

  // Calls `handler(message, body)` for every unsolicited message of type T from the server.
  template <typename T, typename F>
  void on(F handler) {
    handlers_[T::kType] = [this, handler = std::move(handler)](const Envelope& message) {
      auto body = message.body<T>();
      if (!body) return drop(body.error().message);
      handler(message, *body);
    };
  }

  size_t in_flight() const { return pending_.size(); }
  uint64_t dropped() const { return dropped_; }
  uint64_t unsent() const { return unsent_; }

 private:
  struct Pending {
    EventLoop::Clock::time_point deadline;
    const char* type;
    ReplyHandler on_reply;
  };

  void open() {
    if (socket_) return;
    socket_ = Socket(bus_.zmq_context, ZMQ_DEALER);
    detail::apply_limits(socket_, limits_);
    bus_.loop->watch_messages(socket_, [this] { return receive(); });
    sweeper_ = bus_.loop->every(std::chrono::milliseconds(50), [this] { expire(); });
  }

  // Receives and handles one message; false when none was queued (the loop calls again while
  // more are, EventLoop::watch_messages).
  bool receive() {
    zmq::message_t payload;
    if (!socket_.ref().recv(payload, zmq::recv_flags::dontwait)) return false;
    handle(payload);
    return true;
  }

  void handle(const zmq::message_t& payload) {
    if (detail::discard_rest(socket_.ref()) != 0) return drop("message has more than one frame");
    auto decoded = Envelope::decode(payload.data(), payload.size(), limits_);
    if (!decoded) return drop(decoded.error().message);
    uint64_t correlation = decoded->header().correlation;
    if (correlation != 0) {
      auto it = pending_.find(correlation);
      if (it == pending_.end()) {
        bus_.log.debug("client '{}': late or unknown reply to request {}", name_, correlation);
        return;
      }
      ReplyHandler handler = std::move(it->second.on_reply);
      deadlines_.erase({it->second.deadline, correlation});
      pending_.erase(it);
      handler(std::move(*decoded));
      return;
    }
    auto it = handlers_.find(decoded->type());
    if (it == handlers_.end()) return drop("no handler for message type " + quote(decoded->type()));
    it->second(*decoded);
  }

  void expire() {
    // Only the requests past their deadline are looked at: thousands may be in flight.
    auto now = EventLoop::Clock::now();
    std::vector<std::pair<uint64_t, Pending>> expired;
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      uint64_t sequence = deadlines_.begin()->second;
      deadlines_.erase(deadlines_.begin());
      auto it = pending_.find(sequence);
      if (it == pending_.end()) continue;
      expired.emplace_back(sequence, std::move(it->second));
      pending_.erase(it);
    }
    for (auto& [sequence, pending] : expired) {
      pending.on_reply(make_error("client '" + name_ + "': request " + std::to_string(sequence) +
                                  " '" + pending.type + "' timed out"));
    }
  }

  void drop(const std::string& why) {
    ++dropped_;
    bus_.log.warn("client '{}': dropped a malformed message: {}", name_, why);
  }

  Bus& bus_;
  std::string name_;
  Socket socket_;
  MessageLimits limits_;
  std::unordered_map<uint64_t, Pending> pending_;
  // The pending requests' sequence numbers ordered by deadline, for expire().
  std::set<std::pair<EventLoop::Clock::time_point, uint64_t>> deadlines_;
  std::unordered_map<std::string, detail::Handler<Envelope>> handlers_;
  msgpack::sbuffer buffer_;
  uint64_t sequence_ = 0;
  uint64_t dropped_ = 0;
  uint64_t unsent_ = 0;
  EventLoop::TimerId sweeper_ = 0;
};

class Publisher {
 public:
  Publisher(Bus& bus, std::string name) : bus_(bus), name_(std::move(name)) {}

  // How many events may queue per subscriber before ZeroMQ drops new ones (0: no limit;
  // ZeroMQ's default is 1000). Takes effect for endpoints bound after the call.
  void set_high_water_mark(int messages) {
    open();
    socket_.ref().set(zmq::sockopt::sndhwm, messages);
  }

  Result<std::string> bind(const std::string& endpoint) {
    open();
    auto bound = detail::bind_socket(socket_, endpoint);
    if (!bound) return bound.error().context("publisher '" + name_ + "'");
    return bound;
  }

  // Publishes an event; subscribers that are not keeping up lose events past the high-water
  // mark (pub/sub is for events, not for what must arrive: use a Client/Server for that).
  // Note that ZeroMQ learns what a subscriber consumed only every so often, so a burst larger
  // than the mark can lose events even to a subscriber that keeps up.
  template <typename T>
  void publish(const T& body) {
    open();
    Header header;
    header.sender = bus_.sender;
    header.sequence = ++sequence_;
    encode(buffer_, header, body);
    auto s = socket_.ref();
    s.send(zmq::buffer(std::string_view(T::kType)), zmq::send_flags::sndmore);
    s.send(zmq::message_t(buffer_.data(), buffer_.size()), zmq::send_flags::dontwait);
  }

 private:
  void open() {
    if (socket_) return;
    socket_ = Socket(bus_.zmq_context, ZMQ_PUB);
    // A PUB socket reads only subscriptions, but a hostile subscriber could send anything.
    detail::apply_limits(socket_, bus_.limits);
  }

  Bus& bus_;
  std::string name_;
  Socket socket_;
  msgpack::sbuffer buffer_;
  uint64_t sequence_ = 0;
};

class Subscriber {
 public:
  Subscriber(Bus& bus, std::string name) : bus_(bus), name_(std::move(name)), limits_(bus.limits) {}
  ~Subscriber() {
    if (socket_) bus_.loop->unwatch(socket_);
  }
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  Status connect(const std::string& endpoint) {
    open();
    return detail::connect_socket(socket_, endpoint).context("subscriber '" + name_ + "'");
  }

  // How many events may queue here before ZeroMQ drops new ones (0: no limit). Call before
  // connect().
  void set_high_water_mark(int messages) {
    open();
    socket_.ref().set(zmq::sockopt::rcvhwm, messages);
  }

  // What one received event may cost (default: the Bus's). Call before connect().
  void set_limits(const MessageLimits& limits) {
    limits_ = limits;
    if (socket_) detail::apply_limits(socket_, limits_);
  }
  const MessageLimits& limits() const { return limits_; }

  // Calls `handler(message, body)` for every event of type T.
  template <typename T, typename F>
  void subscribe(F handler) {
    open();
    socket_.ref().set(zmq::sockopt::subscribe, std::string(T::kType));
    handlers_[T::kType] = [this, handler = std::move(handler)](const Envelope& message) {
      auto body = message.body<T>();
      if (!body) return drop(body.error().message);
      handler(message, *body);
    };
  }

  uint64_t dropped() const { return dropped_; }

 private:
  void open() {
    if (socket_) return;
    socket_ = Socket(bus_.zmq_context, ZMQ_SUB);
    detail::apply_limits(socket_, limits_);
    bus_.loop->watch_messages(socket_, [this] { return receive(); });
  }

  // Receives and handles one event; false when none was queued (the loop calls again while
  // more are, EventLoop::watch_messages).
  bool receive() {
    zmq::message_t topic;
    if (!socket_.ref().recv(topic, zmq::recv_flags::dontwait)) return false;
    handle();
    return true;
  }

  // The rest of an event whose topic frame was received.
  void handle() {
    auto s = socket_.ref();
    if (s.get(zmq::sockopt::rcvmore) == 0) return drop("event has no payload frame");
    zmq::message_t payload;
    (void)s.recv(payload, zmq::recv_flags::none);
    if (detail::discard_rest(s) != 0) return drop("event has more than two frames");
    auto decoded = Envelope::decode(payload.data(), payload.size(), limits_);
    if (!decoded) return drop(decoded.error().message);
    auto it = handlers_.find(decoded->type());
    // A topic prefix can match longer type names; that is not an error.
    if (it != handlers_.end()) it->second(*decoded);
  }

  void drop(const std::string& why) {
    ++dropped_;
    bus_.log.warn("subscriber '{}': dropped a malformed event: {}", name_, why);
  }

  Bus& bus_;
  std::string name_;
  Socket socket_;
  MessageLimits limits_;
  std::unordered_map<std::string, detail::Handler<Envelope>> handlers_;
  uint64_t dropped_ = 0;
};

}  // namespace tessera::sdk
