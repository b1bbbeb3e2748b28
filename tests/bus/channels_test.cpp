// Channels inside one process: two loops on two threads sharing a ZeroMQ context, as two
// plugins in one host do.
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <mutex>
#include <thread>

#include "tessera/sdk/channels.h"

namespace {

using namespace std::chrono_literals;
using tessera::sdk::Bus;
using tessera::sdk::EventLoop;

struct Echo {
  static constexpr const char* kType = "test.echo";
  static constexpr uint32_t kSchema = 1;
  std::string text;
  MSGPACK_DEFINE_MAP(text);
};

struct Notice {
  static constexpr const char* kType = "test.notice";
  static constexpr uint32_t kSchema = 1;
  uint64_t n = 0;
  MSGPACK_DEFINE_MAP(n);
};

// An echo whose text has the wrong type, as a buggy peer would send it.
struct BadEcho {
  static constexpr const char* kType = "test.echo";
  static constexpr uint32_t kSchema = 1;
  std::vector<int> text{1, 2};
  MSGPACK_DEFINE_MAP(text);
};

// A loop on its own thread, stopped and joined at the end of the scope.
class LoopThread {
 public:
  explicit LoopThread(void* context) { bus_ = Bus{context, &loop_, {}, "server"}; }
  ~LoopThread() {
    loop_.request_stop();
    if (thread_.joinable()) thread_.join();
  }
  // Runs `setup` on the loop thread, then serves.
  template <typename F>
  void start(F setup) {
    std::promise<void> ready;
    thread_ = std::thread([this, setup, &ready] {
      setup(bus_);
      ready.set_value();
      loop_.run();
      teardown_();
    });
    ready.get_future().wait();
  }
  void on_teardown(std::function<void()> f) { teardown_ = std::move(f); }

 private:
  EventLoop loop_;
  Bus bus_;
  std::thread thread_;
  std::function<void()> teardown_ = [] {};
};

class Channels : public ::testing::Test {
 protected:
  Channels() : context_(zmq_ctx_new()) {}
  ~Channels() override { zmq_ctx_term(context_); }
  void* context_;
};

TEST_F(Channels, RequestReplyAndGarbageIsDroppedWhileServingContinues) {
  // Declared before the loop thread, so the thread is stopped (and resets it) first.
  std::unique_ptr<tessera::sdk::Server> server;
  std::atomic<uint64_t> dropped{0};
  LoopThread server_thread(context_);
  server_thread.start([&](Bus& bus) {
    server = std::make_unique<tessera::sdk::Server>(bus, "echo");
    server->on<Echo>([&](const tessera::sdk::Request& r, const Echo& e) {
      dropped = server->dropped();  // before replying: the reply tells the test to look
      server->reply(r, Echo{"re: " + e.text});
    });
    ASSERT_TRUE(server->bind("inproc://echo").ok());
  });
  server_thread.on_teardown([&] { server.reset(); });

  // Garbage first, from a raw socket: a non-msgpack frame, a frame-count error, an unknown type
  // and a body of the wrong shape; then a good request on the same connection, whose reply
  // proves the server went on serving. (ZeroMQ keeps order per connection, not across peers.)
  {
    tessera::sdk::Socket raw(context_, ZMQ_DEALER);
    raw.ref().connect("inproc://echo");
    raw.ref().send(zmq::str_buffer("\xc1\xc1 not msgpack"), zmq::send_flags::none);
    raw.ref().send(zmq::str_buffer("a"), zmq::send_flags::sndmore);
    raw.ref().send(zmq::str_buffer("b"), zmq::send_flags::none);
    raw.ref().send(zmq::buffer(tessera::encode({}, Notice{1})), zmq::send_flags::none);
    raw.ref().send(zmq::buffer(tessera::encode({}, BadEcho{})), zmq::send_flags::none);
    tessera::Header header;
    header.sequence = 99;
    raw.ref().send(zmq::buffer(tessera::encode(header, Echo{"after garbage"})),
                   zmq::send_flags::none);
    raw.ref().set(zmq::sockopt::rcvtimeo, 5000);
    zmq::message_t reply;
    ASSERT_TRUE(raw.ref().recv(reply));
    auto decoded = tessera::Envelope::decode(reply.data(), reply.size());
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(decoded->header().correlation, 99u);
    EXPECT_EQ(decoded->body<Echo>()->text, "re: after garbage");
    EXPECT_EQ(dropped.load(), 4u);  // the four bad messages, counted before the good one
  }

  // Then a well-behaved client on this thread's own loop.
  EventLoop loop;
  Bus bus{context_, &loop, {}, "client"};
  tessera::sdk::Client client(bus, "echo-client");
  ASSERT_TRUE(client.connect("inproc://echo").ok());
  std::string answer;
  client.request(Echo{"hi"}, [&](tessera::Result<tessera::Envelope> reply) {
    ASSERT_TRUE(reply.ok()) << reply.error().message;
    answer = reply->body<Echo>()->text;
    EXPECT_EQ(reply->header().sender, "server");
    loop.request_stop();
  });
  loop.after(5s, [&] { loop.request_stop(); });
  loop.run();
  EXPECT_EQ(answer, "re: hi");
}

TEST_F(Channels, RequestWithoutReplyTimesOut) {
  EventLoop loop;
  Bus bus{context_, &loop, {}, "client"};
  tessera::sdk::Client client(bus, "lonely");
  ASSERT_TRUE(client.connect("inproc://nobody-home").ok());
  std::string error;
  client.request(
      Echo{"anyone?"},
      [&](tessera::Result<tessera::Envelope> reply) {
        ASSERT_FALSE(reply.ok());
        error = reply.error().message;
        loop.request_stop();
      },
      100ms);
  loop.after(5s, [&] { loop.request_stop(); });
  loop.run();
  EXPECT_NE(error.find("request 1 'test.echo' timed out"), std::string::npos) << error;
  EXPECT_EQ(client.in_flight(), 0u);
}

// Requests with different timeouts expire in the order of their deadlines, not of their
// sending, each exactly once; one that had its answer (here: none ever comes) is not expired.
TEST_F(Channels, RequestsExpireInTheOrderOfTheirDeadlines) {
  EventLoop loop;
  Bus bus{context_, &loop, {}, "client"};
  tessera::sdk::Client client(bus, "lonely");
  ASSERT_TRUE(client.connect("inproc://nobody-home").ok());
  std::vector<std::string> expired;
  auto note = [&](const std::string& name) {
    return [&, name](const tessera::Result<tessera::Envelope>& reply) {
      EXPECT_FALSE(reply.ok());
      expired.push_back(name);
      if (expired.size() == 3) loop.request_stop();
    };
  };
  // Deadlines far apart: each is fixed when its request is sent, and a loaded machine may pause
  // this thread between the sends.
  client.request(Echo{"slow"}, note("slow"), 3000ms);
  client.request(Echo{"quick"}, note("quick"), 100ms);
  client.request(Echo{"middle"}, note("middle"), 1500ms);
  loop.after(10s, [&] { loop.request_stop(); });
  loop.run();
  EXPECT_EQ(expired, (std::vector<std::string>{"quick", "middle", "slow"}));
  EXPECT_EQ(client.in_flight(), 0u);
}

TEST_F(Channels, ServerPushesToAKnownPeerAndPubSubDeliversByType) {
  std::unique_ptr<tessera::sdk::Server> server;
  std::unique_ptr<tessera::sdk::Publisher> publisher;
  LoopThread server_thread(context_);
  server_thread.start([&](Bus& bus) {
    server = std::make_unique<tessera::sdk::Server>(bus, "hub");
    publisher = std::make_unique<tessera::sdk::Publisher>(bus, "hub.events");
    ASSERT_TRUE(publisher->bind("inproc://hub.events").ok());
    server->on<Echo>([&](const tessera::sdk::Request& r, const Echo&) {
      // Answer with an unsolicited push, then an event.
      server->send(r.peer, Notice{7});
      publisher->publish(Notice{8});
    });
    ASSERT_TRUE(server->bind("inproc://hub").ok());
  });
  server_thread.on_teardown([&] {
    server.reset();
    publisher.reset();
  });

  EventLoop loop;
  Bus bus{context_, &loop, {}, "client"};
  tessera::sdk::Client client(bus, "c");
  tessera::sdk::Subscriber subscriber(bus, "s");
  uint64_t pushed = 0, published = 0;
  // The push and the event travel on different sockets: stop once both have arrived.
  client.on<Notice>([&](const tessera::Envelope&, const Notice& n) {
    pushed = n.n;
    if (published != 0) loop.request_stop();
  });
  subscriber.subscribe<Notice>([&](const tessera::Envelope&, const Notice& n) {
    published = n.n;
    if (pushed != 0) loop.request_stop();
  });
  ASSERT_TRUE(subscriber.connect("inproc://hub.events").ok());
  ASSERT_TRUE(client.connect("inproc://hub").ok());
  // PUB/SUB joins asynchronously: ask until the event arrives.
  loop.every(50ms, [&] { client.send(Echo{"go"}); });
  loop.after(5s, [&] { loop.request_stop(); });
  loop.run();
  EXPECT_EQ(pushed, 7u);
  EXPECT_EQ(published, 8u);
}

// A lane: while the server's loop is busy, 200 peers of the bound endpoint each queue a request,
// then one peer of the lane does. ZeroMQ's ROUTER would hand the lane peer's request over after
// one of each of the 200; on a lane it is served within the loop's first turns. Replies and
// pushes reach each peer through its own socket, and a peer of the bound endpoint whose routing
// id starts with the lane's mark is dropped rather than taken for a lane's.
TEST_F(Channels, ALanesRequestIsServedBetweenTheBoundPeersAndEveryAnswerFindsItsSocket) {
  std::unique_ptr<tessera::sdk::Server> server;
  std::mutex mutex;
  std::vector<std::string> order;  // the texts in the order the server handled them
  EventLoop* server_loop = nullptr;
  LoopThread server_thread(context_);
  server_thread.start([&](Bus& bus) {
    server_loop = bus.loop;
    server = std::make_unique<tessera::sdk::Server>(bus, "master");
    server->on<Echo>([&](const tessera::sdk::Request& r, const Echo& e) {
      uint64_t handled = 0;
      {
        std::lock_guard lock(mutex);
        order.push_back(e.text);
        handled = order.size();
      }
      server->reply(r, Echo{"re: " + e.text});
      server->send(r.peer, Notice{handled});
    });
    server->set_high_water_mark(1 << 20);
    ASSERT_TRUE(server->bind("inproc://many").ok());
    ASSERT_TRUE(server->bind_lane("inproc://few").ok());
  });
  server_thread.on_teardown([&] { server.reset(); });

  // Holds the server's loop until every request is queued.
  std::promise<void> release;
  std::promise<void> held;
  server_loop->post([&] {
    held.set_value();
    release.get_future().wait();
  });
  held.get_future().wait();

  auto send_echo = [](tessera::sdk::Socket& socket, const std::string& text) {
    tessera::Header header;
    header.sequence = 1;
    socket.ref().send(zmq::buffer(tessera::encode(header, Echo{text})), zmq::send_flags::none);
  };
  std::vector<tessera::sdk::Socket> many;
  for (int i = 0; i < 200; ++i) {
    many.emplace_back(context_, ZMQ_DEALER);
    many.back().ref().connect("inproc://many");
    send_echo(many.back(), "many-" + std::to_string(i));
  }
  tessera::sdk::Socket forged(context_, ZMQ_DEALER);
  forged.ref().set(zmq::sockopt::routing_id, std::string("\0lane-forged", 12));
  forged.ref().connect("inproc://many");
  send_echo(forged, "forged");
  tessera::sdk::Socket few(context_, ZMQ_DEALER);
  few.ref().connect("inproc://few");
  send_echo(few, "few");
  release.set_value();

  // Each peer gets its reply, then the push, on its own socket.
  auto expect_answers = [](tessera::sdk::Socket& socket, const std::string& text) {
    socket.ref().set(zmq::sockopt::rcvtimeo, 10000);
    zmq::message_t frame;
    ASSERT_TRUE(socket.ref().recv(frame)) << text << ": no reply";
    auto reply = tessera::Envelope::decode(frame.data(), frame.size());
    ASSERT_TRUE(reply.ok()) << reply.error().message;
    EXPECT_EQ(reply->body<Echo>()->text, "re: " + text);
    ASSERT_TRUE(socket.ref().recv(frame)) << text << ": no push";
    auto push = tessera::Envelope::decode(frame.data(), frame.size());
    ASSERT_TRUE(push.ok()) << push.error().message;
    EXPECT_EQ(push->type(), std::string(Notice::kType));
  };
  ASSERT_NO_FATAL_FAILURE(expect_answers(few, "few"));
  for (int i = 0; i < 200; ++i) {
    ASSERT_NO_FATAL_FAILURE(expect_answers(many[i], "many-" + std::to_string(i)));
  }
  forged.ref().set(zmq::sockopt::rcvtimeo, 200);
  zmq::message_t nothing;
  EXPECT_FALSE(forged.ref().recv(nothing));
  std::promise<uint64_t> dropped;
  server_loop->post([&] { dropped.set_value(server->dropped()); });
  EXPECT_EQ(dropped.get_future().get(), 1u);
  std::lock_guard lock(mutex);
  ASSERT_EQ(order.size(), 201u);  // the forged peer's request was not handled
  // The loop takes up to a batch from the main socket before it looks at the lane: the lane's
  // request comes within the first batch, not after the 200 queued before it.
  auto position = std::find(order.begin(), order.end(), "few") - order.begin();
  EXPECT_LE(position, EventLoop::kMessagesPerTurn)
      << "the lane's request was handled after " << position << " others";
}

// Sockets of watch_messages: a socket holding many messages is served a batch at a time, taking
// turns with the other sockets, and every message of each is handled once, in its order.
TEST(EventLoop, ASocketsQueuedMessagesAreServedInBatchesTakingTurnsWithTheOtherSockets) {
  void* context = zmq_ctx_new();
  {
    EventLoop loop;
    tessera::sdk::Socket busy_in(context, ZMQ_PULL), quiet_in(context, ZMQ_PULL);
    tessera::sdk::Socket busy_out(context, ZMQ_PUSH), quiet_out(context, ZMQ_PUSH);
    busy_in.ref().bind("inproc://busy");
    quiet_in.ref().bind("inproc://quiet");
    busy_out.ref().connect("inproc://busy");
    quiet_out.ref().connect("inproc://quiet");
    constexpr int kBusy = 100;
    for (int i = 0; i < kBusy; ++i) busy_out.ref().send(zmq::buffer("b" + std::to_string(i)));
    quiet_out.ref().send(zmq::buffer(std::string("q")));
    std::vector<std::string> order;
    auto take = [&](tessera::sdk::Socket& socket) {
      zmq::message_t message;
      if (!socket.ref().recv(message, zmq::recv_flags::dontwait)) return false;
      order.push_back(message.to_string());
      if (order.size() == static_cast<size_t>(kBusy) + 1) loop.request_stop();
      return true;
    };
    // The busy socket is watched first: it is looked at first in every turn.
    loop.watch_messages(busy_in, [&] { return take(busy_in); });
    loop.watch_messages(quiet_in, [&] { return take(quiet_in); });
    loop.after(10s, [&] { loop.request_stop(); });
    loop.run();
    ASSERT_EQ(order.size(), static_cast<size_t>(kBusy + 1));
    auto quiet = std::find(order.begin(), order.end(), "q") - order.begin();
    EXPECT_EQ(quiet, EventLoop::kMessagesPerTurn)
        << "the quiet socket's message should come right after the busy socket's first batch";
    order.erase(order.begin() + quiet);
    for (int i = 0; i < kBusy; ++i)
      EXPECT_EQ(order[static_cast<size_t>(i)], "b" + std::to_string(i));
    loop.unwatch(busy_in);
    loop.unwatch(quiet_in);
  }
  zmq_ctx_term(context);
}

// A handler that stops watching its own socket in the middle of a batch is not called again,
// and the messages it left stay queued on the socket.
TEST(EventLoop, AHandlerThatUnwatchesItsSocketMidBatchIsNotCalledAgain) {
  void* context = zmq_ctx_new();
  {
    EventLoop loop;
    tessera::sdk::Socket in(context, ZMQ_PULL), out(context, ZMQ_PUSH);
    in.ref().bind("inproc://unwatched");
    out.ref().connect("inproc://unwatched");
    for (int i = 0; i < 10; ++i) out.ref().send(zmq::buffer(std::to_string(i)));
    int calls = 0;
    loop.watch_messages(in, [&] {
      ++calls;
      zmq::message_t message;
      if (!in.ref().recv(message, zmq::recv_flags::dontwait)) return false;
      if (calls == 3) loop.unwatch(in);
      return true;
    });
    // Turns go on after the unwatch: a later timer ends the run.
    loop.after(50ms, [&] { loop.request_stop(); });
    loop.run();
    EXPECT_EQ(calls, 3) << "called again after it stopped watching its socket";
    int left = 0;
    zmq::message_t message;
    while (in.ref().recv(message, zmq::recv_flags::dontwait)) ++left;
    EXPECT_EQ(left, 7);
  }
  zmq_ctx_term(context);
}

// A cancelled repeating timer never fires again, and post() and request_stop() work from
// another thread. Each step waits for the one before it (no sleeps), so a slow machine only
// makes the test slower.
TEST(EventLoop, TimersPostAndStopFromAnotherThread) {
  EventLoop loop;
  int once = 0, repeated = 0, repeated_at_cancel = -1;
  std::atomic<bool> later_ran{false};
  loop.after(10ms, [&] { ++once; });
  EventLoop::TimerId id = 0;
  id = loop.every(5ms, [&] {
    if (++repeated < 3) return;
    // Cancelled by its own handler after three runs. Had the cancel failed, the timer would be
    // due again long before this later one, and timers run in the order they are due.
    loop.cancel(id);
    repeated_at_cancel = repeated;
    loop.after(25ms, [&] { later_ran = true; });
  });
  std::thread other([&] {
    // Posted work runs on the loop's thread; a stop requested after it ran ends run().
    std::promise<void> posted_ran;
    loop.post([&] {
      once += 10;
      posted_ran.set_value();
    });
    posted_ran.get_future().wait();
    while (!later_ran) std::this_thread::yield();
    loop.request_stop();
  });
  loop.run();
  other.join();
  EXPECT_EQ(once, 11);
  EXPECT_EQ(repeated_at_cancel, 3);
  EXPECT_EQ(repeated, 3) << "the cancelled timer fired again";
}

// Timers run in the order they are due, whatever the order they were set in; a timer cancelled
// by one that ran before it in the same turn does not run; thousands of timers pending far in
// the future (a master's request timeouts while agents register) change none of that, and
// cancelling them leaves nothing to fire.
TEST(EventLoop, TimersRunInDueOrderAndCancelledOnesNever) {
  EventLoop loop;
  std::vector<int> ran;
  int ticks = 0;
  // Ends when the one-shot timers are through and the repeating one has been cancelled.
  auto stop_when_done = [&] {
    if (ran.size() == 4 && ticks == 2) loop.request_stop();
  };
  std::vector<EventLoop::TimerId> far;
  for (int i = 0; i < 10000; ++i) far.push_back(loop.after(1h, [&] { ran.push_back(-1); }));
  loop.after(60ms, [&] {
    ran.push_back(3);
    for (EventLoop::TimerId id : far) loop.cancel(id);
    // Due at once: it runs only if the cancelled timers left the loop's schedule consistent.
    loop.after(0ms, [&] {
      ran.push_back(4);
      stop_when_done();
    });
  });
  loop.after(40ms, [&] { ran.push_back(2); });
  EventLoop::TimerId doomed = 0;
  loop.after(0ms, [&] {
    ran.push_back(1);
    loop.cancel(doomed);
  });
  doomed = loop.after(0ms, [&] { ran.push_back(-2); });
  EventLoop::TimerId ticker = 0;
  ticker = loop.every(10ms, [&] {
    if (++ticks == 2) loop.cancel(ticker);
    stop_when_done();
  });
  loop.after(10s, [&] { loop.request_stop(); });
  loop.run();
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(ticks, 2) << "the cancelled repeating timer fired again";
}

// A timer that stops the loop ends the turn, but the other timers due in that turn are not
// lost: they run when the loop runs again, and a repeating one goes on repeating. (Dropped, a
// scheduler client's heartbeat timer stopped for good whenever a test's predicate, run from a
// timer, ended a run in the turn the heartbeat was due.)
TEST(EventLoop, TimersDueInTheTurnThatStoppedTheLoopRunWhenItRunsAgain) {
  EventLoop loop;
  int stops = 0, once = 0, repeated = 0;
  loop.after(0ms, [&] {
    ++stops;
    loop.request_stop();
  });
  loop.after(0ms, [&] { ++once; });
  loop.every(1ms, [&] {
    if (++repeated == 3) loop.request_stop();
  });
  // All three are due in the first turn, the stopping one first (it was set first).
  std::this_thread::sleep_for(20ms);
  loop.run();
  loop.reset_stop();
  EXPECT_EQ(stops, 1);
  EXPECT_EQ(once, 0) << "ran in the turn after the stop";
  EXPECT_EQ(repeated, 0);
  EventLoop::TimerId guard = loop.after(10s, [&] { loop.request_stop(); });
  loop.run();
  loop.cancel(guard);
  EXPECT_EQ(once, 1) << "a one-shot timer due in the stopping turn never ran";
  EXPECT_EQ(repeated, 3) << "a repeating timer due in the stopping turn stopped repeating";
}

}  // namespace
