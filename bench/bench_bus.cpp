// bench_bus: what the message bus costs next to raw ZeroMQ on the same sockets.
//
// Request/reply round trip (one request in flight, latency per round trip):
//   rr/raw    DEALER client sends the payload bytes; a ROUTER server thread echoes the frames
//             back untouched (blocking cppzmq send/recv on both sides).
//   rr/codec  the same raw sockets and blocking calls, but both sides do what the SDK does to a
//             message: encode() an envelope, Envelope::decode() it, body<Echo>() it. Separates
//             the msgpack cost from the channel/event-loop cost.
//   rr/bus    the SDK end to end: an sdk::Server on an sdk::EventLoop in a server thread answers
//             Echo requests; the benchmark thread drives an sdk::Client on its own EventLoop,
//             issuing the next request from the reply handler (request() -> correlation ->
//             handler -> body<Echo>()), exactly as a plugin would.
//
// Publish/subscribe throughput (a publisher thread pushes batches, the benchmark thread counts):
//   ps/raw    PUB/SUB with a topic frame and the payload bytes; blocking recv.
//   ps/bus    sdk::Publisher::publish() in the publisher thread, sdk::Subscriber with a typed
//             handler on an EventLoop in the benchmark thread.
//   One iteration is one batch of kBatch messages: the subscriber releases the publisher, which
//   sends the batch; the iteration ends when the subscriber has received all of it.
//   High-water mark: the SDK's Publisher/Subscriber do not let us raise ZeroMQ's default HWM
//   (1000 messages per pipe; 2000 for inproc, where both ends add up), and PUB silently drops
//   past it. The PUB side learns what the reader consumed only through commands it processes
//   at most about once per millisecond while sending (libzmq throttles command processing by
//   TSC), so at ~2 M msg/s its view of the pipe lags by thousands of messages and it drops
//   although the subscriber keeps up (seen here: 249 of 250 received). So before each batch
//   the publisher makes its socket process pending commands: raw by reading ZMQ_EVENTS, bus by
//   a bind() to an invalid endpoint (libzmq processes commands before parsing it; the SDK
//   exposes no other call). The stale part of its view is then < lwm + batch = 500 + 250 <
//   1000, so nothing is dropped and counts match. A lost message would show up as a stalled
//   batch and an error, never as an inflated rate. The slow joiner is handled
//   by probing: the publisher sends probe messages until the subscriber has received one, and
//   timing starts only after that.
//
// Payloads are a string of 200 B or 4096 B (for raw: exactly that many bytes in the frame; for
// the bus: the string field of the message body, plus the ~60 B envelope header). The frame_B
// counter gives the bytes actually in the payload frame. Each benchmark runs in 5 repetitions
// on wall-clock time; the summary table at the end quotes medians.
//
// Everything shares one ZeroMQ context (like plugins in one host do), so inproc:// works across
// threads; tcp:// binds 127.0.0.1 on a free port.

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <map>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "tessera/message.h"
#include "tessera/sdk/channels.h"
#include "tessera/sdk/event_loop.h"

namespace {

using tessera::Envelope;
using tessera::Header;
namespace sdk = tessera::sdk;

struct Echo {
  static constexpr const char* kType = "bench.echo";
  static constexpr uint32_t kSchema = 1;
  std::string payload;
  MSGPACK_DEFINE_MAP(payload);
};

struct Event {
  static constexpr const char* kType = "bench.event";
  static constexpr uint32_t kSchema = 1;
  std::string payload;
  MSGPACK_DEFINE_MAP(payload);
};

struct Probe {
  static constexpr const char* kType = "bench.probe";
  static constexpr uint32_t kSchema = 1;
  uint64_t n = 0;
  MSGPACK_DEFINE_MAP(n);
};

constexpr int kWarmup = 200;      // round trips before timing starts
constexpr int kBatch = 250;       // pub/sub messages per iteration (well under the HWM)
constexpr int kTimeoutMs = 5000;  // anything slower than this is a failure, not a result
constexpr size_t kSizes[] = {200, 4096};

enum class Transport { inproc, tcp };
const char* name(Transport t) { return t == Transport::inproc ? "inproc" : "tcp"; }

// One context for the whole process, never terminated (sockets of failed runs may linger).
zmq::context_t& context() {
  static auto* ctx = new zmq::context_t(1);
  return *ctx;
}

std::string fresh_endpoint(Transport t) {
  static std::atomic<int> counter{0};
  if (t == Transport::inproc) return "inproc://bench-bus-" + std::to_string(++counter);
  return "tcp://127.0.0.1:0";
}

// cppzmq binds "any port" as '*'; the SDK accepts ":0" itself.
std::string raw_bind_address(const std::string& endpoint) {
  if (endpoint.size() > 2 && endpoint.compare(endpoint.size() - 2, 2, ":0") == 0) {
    return endpoint.substr(0, endpoint.size() - 1) + "*";
  }
  return endpoint;
}

zmq::socket_t raw_socket(zmq::socket_type type) {
  zmq::socket_t s(context(), type);
  s.set(zmq::sockopt::linger, 0);
  return s;
}

size_t envelope_size(const std::string& sender, size_t payload) {
  Header header;
  header.sender = sender;
  header.sequence = 1;
  header.correlation = 1;
  return tessera::encode(header, Echo{std::string(payload, 'x')}).size();
}

// ---------------------------------------------------------------- request/reply servers

// ROUTER echo server on a thread: echoes the frames (raw) or decodes/re-encodes (codec).
class RawEchoServer {
 public:
  RawEchoServer(const std::string& endpoint, bool codec) {
    std::promise<std::string> bound;
    auto future = bound.get_future();
    thread_ = std::thread([this, endpoint, codec, &bound] { run(endpoint, codec, bound); });
    endpoint_ = future.get();
  }
  ~RawEchoServer() {
    stop_.store(true);
    thread_.join();
  }
  const std::string& endpoint() const { return endpoint_; }

 private:
  void run(const std::string& endpoint, bool codec, std::promise<std::string>& bound) {
    zmq::socket_t s = raw_socket(zmq::socket_type::router);
    s.set(zmq::sockopt::rcvtimeo, 100);  // only to notice stop_; a waiting message returns at once
    s.bind(raw_bind_address(endpoint));
    bound.set_value(s.get(zmq::sockopt::last_endpoint));
    msgpack::sbuffer buffer;
    uint64_t sequence = 0;
    while (!stop_.load(std::memory_order_relaxed)) {
      zmq::message_t identity;
      if (!s.recv(identity, zmq::recv_flags::none)) continue;
      zmq::message_t payload;
      (void)s.recv(payload, zmq::recv_flags::none);
      if (!codec) {
        s.send(identity, zmq::send_flags::sndmore);
        s.send(payload, zmq::send_flags::none);
        continue;
      }
      auto request = Envelope::decode(payload.data(), payload.size());
      if (!request) continue;
      auto body = request->body<Echo>();
      if (!body) continue;
      Header header;
      header.sender = "bench.server";
      header.sequence = ++sequence;
      header.correlation = request->header().sequence;
      tessera::encode(buffer, header, *body);
      s.send(identity, zmq::send_flags::sndmore);
      s.send(zmq::message_t(buffer.data(), buffer.size()), zmq::send_flags::none);
    }
  }

  std::thread thread_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
};

// sdk::Server on an sdk::EventLoop in a thread, replying to every Echo with its body.
class BusEchoServer {
 public:
  explicit BusEchoServer(const std::string& endpoint) {
    std::promise<std::string> bound;
    auto future = bound.get_future();
    thread_ = std::thread([this, endpoint, &bound] { run(endpoint, bound); });
    endpoint_ = future.get();
  }
  ~BusEchoServer() {
    if (loop_ != nullptr) loop_->request_stop();
    thread_.join();
  }
  const std::string& endpoint() const { return endpoint_; }

 private:
  void run(const std::string& endpoint, std::promise<std::string>& bound) {
    sdk::EventLoop loop;
    sdk::Bus bus{context().handle(), &loop, sdk::Logger{}, "bench.server"};
    sdk::Server server(bus, "echo");
    server.on<Echo>(
        [&server](const sdk::Request& request, const Echo& echo) { server.reply(request, echo); });
    auto address = server.bind(endpoint);
    if (!address) {
      bound.set_exception(std::make_exception_ptr(std::runtime_error(address.error().message)));
      return;
    }
    loop_ = &loop;
    bound.set_value(*address);
    loop.run();
  }

  std::thread thread_;
  std::string endpoint_;
  sdk::EventLoop* loop_ = nullptr;  // written before the promise is fulfilled
};

// ---------------------------------------------------------------- request/reply clients

void rr_raw(benchmark::State& state, Transport transport, size_t size, bool codec) {
  RawEchoServer server(fresh_endpoint(transport), codec);
  zmq::socket_t client = raw_socket(zmq::socket_type::dealer);
  client.set(zmq::sockopt::rcvtimeo, kTimeoutMs);
  client.connect(server.endpoint());

  const std::string payload(size, 'x');
  const Echo request{payload};
  msgpack::sbuffer buffer;
  uint64_t sequence = 0;
  auto round_trip = [&]() -> bool {
    if (!codec) {
      client.send(zmq::message_t(payload.data(), payload.size()), zmq::send_flags::none);
      zmq::message_t reply;
      if (!client.recv(reply, zmq::recv_flags::none)) return false;
      return reply.size() == size;
    }
    Header header;
    header.sender = "bench.client";
    header.sequence = ++sequence;
    tessera::encode(buffer, header, request);
    client.send(zmq::message_t(buffer.data(), buffer.size()), zmq::send_flags::none);
    zmq::message_t reply;
    if (!client.recv(reply, zmq::recv_flags::none)) return false;
    auto envelope = Envelope::decode(reply.data(), reply.size());
    if (!envelope || envelope->header().correlation != sequence) return false;
    auto body = envelope->body<Echo>();
    if (!body || body->payload.size() != size) return false;
    benchmark::DoNotOptimize(body->payload.data());
    return true;
  };

  for (int i = 0; i < kWarmup; ++i) {
    if (!round_trip()) return state.SkipWithError("warm-up round trip failed");
  }
  for (auto _ : state) {
    if (!round_trip()) {
      state.SkipWithError("no (valid) reply within the timeout");
      break;
    }
  }
  state.counters["frame_B"] = codec ? envelope_size("bench.client", size) : size;
}

// Drives an sdk::Client from its own reply handler on an EventLoop in the benchmark thread.
class BusRoundTrips {
 public:
  BusRoundTrips(benchmark::State& state, const std::string& endpoint, size_t size)
      : state_(state),
        bus_{context().handle(), &loop_, sdk::Logger{}, "bench.client"},
        client_(bus_, "echo"),
        request_{std::string(size, 'x')},
        size_(size) {
    auto connected = client_.connect(endpoint);
    if (!connected) error_ = connected.error().message;
  }

  // Returns an error message, empty on success.
  std::string run() {
    if (!error_.empty()) return error_;
    loop_.post([this] { next(); });
    loop_.run();
    return error_;
  }

 private:
  void next() {
    if (warmup_ < kWarmup) {
      ++warmup_;
    } else if (!state_.KeepRunning()) {
      loop_.request_stop();
      return;
    }
    // Capturing only `this` keeps the std::function allocation-free, as a plugin's would be.
    client_.request(
        request_, [this](tessera::Result<Envelope> reply) { on_reply(std::move(reply)); },
        std::chrono::milliseconds(kTimeoutMs));
  }

  void on_reply(tessera::Result<Envelope> reply) {
    if (!reply) return fail(reply.error().message);
    auto body = reply->body<Echo>();
    if (!body) return fail(body.error().message);
    if (body->payload.size() != size_) return fail("reply has the wrong payload size");
    benchmark::DoNotOptimize(body->payload.data());
    next();
  }

  void fail(const std::string& why) {
    error_ = why;
    loop_.request_stop();
  }

  benchmark::State& state_;
  sdk::EventLoop loop_;  // declared before the client, which must not outlive it
  sdk::Bus bus_;
  sdk::Client client_;
  Echo request_;
  size_t size_;
  int warmup_ = 0;
  std::string error_;
};

void rr_bus(benchmark::State& state, Transport transport, size_t size) {
  BusEchoServer server(fresh_endpoint(transport));
  BusRoundTrips driver(state, server.endpoint(), size);
  std::string error = driver.run();
  if (!error.empty()) state.SkipWithError(error.c_str());
  state.counters["frame_B"] = envelope_size("bench.client", size);
}

// ---------------------------------------------------------------- publish/subscribe

// A publisher thread: probes until told the subscriber has joined, then sends one batch of
// kBatch messages per go().
class PublisherThread {
 public:
  PublisherThread(const std::string& endpoint, size_t size, bool bus) {
    std::promise<std::string> bound;
    auto future = bound.get_future();
    thread_ = std::thread([this, endpoint, size, bus, &bound] {
      try {
        if (bus) {
          run_bus(endpoint, size, bound);
        } else {
          run_raw(endpoint, size, bound);
        }
      } catch (...) {
        bound.set_exception(std::current_exception());
      }
    });
    endpoint_ = future.get();
  }
  ~PublisherThread() {
    stop_.store(true);
    joined_.store(true);
    go_.release();
    thread_.join();
  }
  const std::string& endpoint() const { return endpoint_; }
  void joined() { joined_.store(true); }
  void go() { go_.release(); }

 private:
  template <typename ProbeFn, typename FlushFn, typename SendFn>
  void serve(ProbeFn probe, FlushFn flush, SendFn send) {
    for (uint64_t n = 1; !joined_.load(); ++n) {
      probe(n);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    while (true) {
      go_.acquire();
      if (stop_.load()) return;
      flush();
      for (int i = 0; i < kBatch; ++i) send();
    }
  }

  void run_raw(const std::string& endpoint, size_t size, std::promise<std::string>& bound) {
    zmq::socket_t s = raw_socket(zmq::socket_type::pub);
    s.bind(raw_bind_address(endpoint));
    bound.set_value(s.get(zmq::sockopt::last_endpoint));
    const std::string payload(size, 'x');
    const std::string_view event_topic = Event::kType;
    const std::string_view probe_topic = Probe::kType;
    serve(
        [&](uint64_t n) {
          s.send(zmq::buffer(probe_topic), zmq::send_flags::sndmore);
          s.send(zmq::buffer(&n, sizeof n), zmq::send_flags::none);
        },
        [&] { (void)s.get(zmq::sockopt::events); },
        [&] {
          s.send(zmq::buffer(event_topic), zmq::send_flags::sndmore);
          s.send(zmq::message_t(payload.data(), payload.size()), zmq::send_flags::dontwait);
        });
  }

  void run_bus(const std::string& endpoint, size_t size, std::promise<std::string>& bound) {
    sdk::EventLoop loop;  // the Publisher does not use it, but a Bus names one
    sdk::Bus bus{context().handle(), &loop, sdk::Logger{}, "bench.publisher"};
    sdk::Publisher publisher(bus, "events");
    auto address = publisher.bind(endpoint);
    if (!address) throw std::runtime_error(address.error().message);
    bound.set_value(*address);
    const Event event{std::string(size, 'x')};
    serve([&](uint64_t n) { publisher.publish(Probe{n}); },
          // The Publisher exposes no socket; a bind() that fails on the scheme still processes
          // the socket's pending commands first (zmq's bind starts with process_commands).
          [&] { (void)publisher.bind("flush://"); }, [&] { publisher.publish(event); });
  }

  std::thread thread_;
  std::string endpoint_;
  std::atomic<bool> joined_{false};
  std::atomic<bool> stop_{false};
  std::counting_semaphore<> go_{0};
};

void set_throughput(benchmark::State& state, size_t size, size_t frame) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kBatch);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kBatch *
                          static_cast<int64_t>(size));
  state.counters["frame_B"] = static_cast<double>(frame);
}

void ps_raw(benchmark::State& state, Transport transport, size_t size) {
  PublisherThread publisher(fresh_endpoint(transport), size, false);
  zmq::socket_t s = raw_socket(zmq::socket_type::sub);
  s.set(zmq::sockopt::rcvtimeo, kTimeoutMs);
  s.set(zmq::sockopt::subscribe, std::string(Event::kType));
  s.set(zmq::sockopt::subscribe, std::string(Probe::kType));
  s.connect(publisher.endpoint());

  // Receives one message; returns 1 for an event of the right size, 0 for a probe, -1 on error.
  auto receive = [&]() -> int {
    zmq::message_t topic;
    zmq::message_t payload;
    if (!s.recv(topic, zmq::recv_flags::none)) return -1;
    if (!s.recv(payload, zmq::recv_flags::none)) return -1;
    if (topic.to_string_view() == Probe::kType) return 0;
    return payload.size() == size ? 1 : -1;
  };

  while (true) {  // slow joiner: wait for the first probe, skip the rest
    int got = receive();
    if (got < 0) return state.SkipWithError("subscriber never joined");
    if (got == 0) break;
  }
  publisher.joined();
  int64_t batch = 0;
  for (auto _ : state) {
    ++batch;
    publisher.go();
    for (int received = 0; received < kBatch;) {
      int got = receive();
      if (got < 0) {
        static std::string why;
        why = "batch incomplete within the timeout (messages lost?): " + std::to_string(received) +
              " of " + std::to_string(kBatch) + " in batch " + std::to_string(batch);
        state.SkipWithError(why.c_str());
        break;
      }
      received += got;
    }
    if (state.error_occurred()) break;
  }
  set_throughput(state, size, size);
}

class BusSubscription {
 public:
  BusSubscription(benchmark::State& state, PublisherThread& publisher, size_t size)
      : state_(state),
        publisher_(publisher),
        bus_{context().handle(), &loop_, sdk::Logger{}, "bench.subscriber"},
        subscriber_(bus_, "events"),
        size_(size) {
    auto connected = subscriber_.connect(publisher.endpoint());
    if (!connected) error_ = connected.error().message;
    subscriber_.subscribe<Probe>([this](const Envelope&, const Probe&) {
      ++progress_;
      if (joined_) return;  // probes sent before the publisher heard we joined
      joined_ = true;
      publisher_.joined();
      start_batch();
    });
    subscriber_.subscribe<Event>([this](const Envelope&, const Event& event) {
      ++progress_;
      if (event.payload.size() != size_) return fail("event has the wrong payload size");
      if (++received_ == kBatch) {
        received_ = 0;
        start_batch();
      }
    });
    // A lost message would stall a batch forever: give up after the timeout.
    loop_.every(std::chrono::milliseconds(kTimeoutMs), [this] {
      if (progress_ == seen_)
        fail(joined_ ? "batch incomplete within the timeout (messages lost?)"
                     : "subscriber never joined");
      seen_ = progress_;
    });
  }

  std::string run() {
    if (!error_.empty()) return error_;
    loop_.run();
    return error_;
  }

 private:
  void start_batch() {
    if (state_.KeepRunning()) {
      publisher_.go();
    } else {
      loop_.request_stop();
    }
  }

  void fail(const std::string& why) {
    error_ = why;
    loop_.request_stop();
  }

  benchmark::State& state_;
  PublisherThread& publisher_;
  sdk::EventLoop loop_;
  sdk::Bus bus_;
  sdk::Subscriber subscriber_;
  size_t size_;
  bool joined_ = false;
  int received_ = 0;
  uint64_t progress_ = 0;
  uint64_t seen_ = 0;
  std::string error_;
};

void ps_bus(benchmark::State& state, Transport transport, size_t size) {
  PublisherThread publisher(fresh_endpoint(transport), size, true);
  std::string error;
  {
    BusSubscription subscription(state, publisher, size);
    error = subscription.run();
  }
  if (!error.empty()) state.SkipWithError(error.c_str());
  Header header;
  header.sender = "bench.publisher";
  header.sequence = 1;
  set_throughput(state, size, tessera::encode(header, Event{std::string(size, 'x')}).size());
}

// ---------------------------------------------------------------- summary table

// The console output plus, at the end, a markdown table of the medians and the bus/raw ratios.
class TableReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name != "median") continue;
      // Seconds per iteration; a lone run (no repetitions) stands in for its own median.
      double seconds = run.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(run.time_unit);
      if (run.run_type == Run::RT_Aggregate || !medians_.count(run.run_name.function_name)) {
        medians_[run.run_name.function_name] = seconds;
      }
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    auto& out = GetOutputStream();
    auto get = [&](const std::string& key) -> double {
      auto it = medians_.find(key);
      return it == medians_.end() ? -1 : it->second;
    };
    auto cell = [](double v, const char* format) {
      if (v < 0) return std::string("-");
      char text[64];
      std::snprintf(text, sizeof text, format, v);
      return std::string(text);
    };
    auto ratio = [&](double a, double b) { return a < 0 || b <= 0 ? -1.0 : a / b; };

    out << "\nRequest/reply round trip, median of repetitions (us per round trip)\n\n";
    out << "| transport | payload | raw zmq | codec only | bus (SDK) | codec/raw | bus/raw |\n";
    out << "|---|---:|---:|---:|---:|---:|---:|\n";
    for (Transport t : {Transport::inproc, Transport::tcp}) {
      for (size_t size : kSizes) {
        std::string suffix = std::string("/") + name(t) + "/" + std::to_string(size);
        double raw = get("rr/raw" + suffix) * 1e6;
        double codec = get("rr/codec" + suffix) * 1e6;
        double bus = get("rr/bus" + suffix) * 1e6;
        if (raw < 0 && codec < 0 && bus < 0) continue;
        out << "| " << name(t) << " | " << size << " B | " << cell(raw, "%.1f") << " | "
            << cell(codec, "%.1f") << " | " << cell(bus, "%.1f") << " | "
            << cell(ratio(codec, raw), "%.2fx") << " | " << cell(ratio(bus, raw), "%.2fx")
            << " |\n";
      }
    }

    out << "\nPublish/subscribe throughput, median of repetitions (" << kBatch
        << "-message batches; MB/s counts payload bytes, 1 MB = 1e6 B)\n\n";
    out << "| transport | payload | raw msg/s | raw MB/s | bus msg/s | bus MB/s | bus/raw |\n";
    out << "|---|---:|---:|---:|---:|---:|---:|\n";
    for (Transport t : {Transport::inproc, Transport::tcp}) {
      for (size_t size : kSizes) {
        std::string suffix = std::string("/") + name(t) + "/" + std::to_string(size);
        double raw_s = get("ps/raw" + suffix);
        double bus_s = get("ps/bus" + suffix);
        if (raw_s < 0 && bus_s < 0) continue;
        double raw = raw_s < 0 ? -1 : kBatch / raw_s;
        double bus = bus_s < 0 ? -1 : kBatch / bus_s;
        out << "| " << name(t) << " | " << size << " B | " << cell(raw, "%.0f") << " | "
            << cell(raw < 0 ? -1 : raw * size / 1e6, "%.1f") << " | " << cell(bus, "%.0f") << " | "
            << cell(bus < 0 ? -1 : bus * size / 1e6, "%.1f") << " | "
            << cell(ratio(bus, raw), "%.2fx") << " |\n";
      }
    }
    out << std::flush;
  }

 private:
  std::map<std::string, double> medians_;
};

void register_all() {
  auto configure = [](benchmark::internal::Benchmark* b, benchmark::TimeUnit unit) {
    b->UseRealTime()->Unit(unit)->Repetitions(5)->ReportAggregatesOnly(true);
  };
  for (Transport t : {Transport::inproc, Transport::tcp}) {
    for (size_t size : kSizes) {
      std::string suffix = std::string("/") + name(t) + "/" + std::to_string(size);
      configure(benchmark::RegisterBenchmark(("rr/raw" + suffix).c_str(), rr_raw, t, size, false),
                benchmark::kMicrosecond);
      configure(benchmark::RegisterBenchmark(("rr/codec" + suffix).c_str(), rr_raw, t, size, true),
                benchmark::kMicrosecond);
      configure(benchmark::RegisterBenchmark(("rr/bus" + suffix).c_str(), rr_bus, t, size),
                benchmark::kMicrosecond);
    }
  }
  for (Transport t : {Transport::inproc, Transport::tcp}) {
    for (size_t size : kSizes) {
      std::string suffix = std::string("/") + name(t) + "/" + std::to_string(size);
      configure(benchmark::RegisterBenchmark(("ps/raw" + suffix).c_str(), ps_raw, t, size),
                benchmark::kMillisecond);
      configure(benchmark::RegisterBenchmark(("ps/bus" + suffix).c_str(), ps_bus, t, size),
                benchmark::kMillisecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  TableReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
