#include "ping.h"

#include <chrono>

#include "example_protocol.h"

namespace example {

namespace {
uint64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Pinger::Pinger(tessera::sdk::PluginContext& context) : FrameworkPlugin(context) {}

tessera::Status Pinger::configure(tessera::sdk::ConfigTable& table) {
  server_ = table.endpoint("server", server_, tessera::sdk::EndpointUse::connect);
  events_ = table.endpoint("events", events_, tessera::sdk::EndpointUse::connect);
  text_ = table.get<std::string>("text", text_);
  interval_ms_ = table.integer("interval_ms", interval_ms_, 1, int64_t{3600} * 1000);
  timeout_ms_ = table.integer("timeout_ms", timeout_ms_, 1, int64_t{3600} * 1000);
  return {};
}

tessera::Status Pinger::start() {
  client_ = std::make_unique<tessera::sdk::Client>(bus(), "ping");
  if (auto s = client_->connect(server_); !s) return s;
  subscriber_ = std::make_unique<tessera::sdk::Subscriber>(bus(), "ping.events");
  subscriber_->subscribe<Tick>([this](const tessera::Envelope& message, const Tick& tick) {
    log().info("tick {} from '{}' (it has served {} ping(s))", tick.count, message.header().sender,
               tick.served);
  });
  if (auto s = subscriber_->connect(events_); !s) return s;
  loop().every(std::chrono::milliseconds(interval_ms_), [this] { send_ping(); });
  log().info("pinging {} every {} ms", server_, interval_ms_);
  return {};
}

void Pinger::send_ping() {
  client_->request(
      example::Ping{text_, now_ns()},
      [this](tessera::Result<tessera::Envelope> reply) {
        if (!reply) {
          log().warn("no pong: {}", reply.error().message);
          return;
        }
        auto pong = reply->body<Pong>();
        if (!pong) {
          log().warn("bad pong: {}", pong.error().message);
          return;
        }
        ++pongs_;
        log().info("pong {} '{}' from '{}' in {} us", pongs_, pong->text, reply->header().sender,
                   (now_ns() - pong->sent_ns) / 1000);
      },
      std::chrono::milliseconds(timeout_ms_));
}

}  // namespace example
