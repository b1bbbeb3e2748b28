#include "pong.h"

#include "example_protocol.h"

namespace example {

Ponger::Ponger(tessera::sdk::PluginContext& context) : FrameworkPlugin(context) {}

tessera::Status Ponger::configure(tessera::sdk::ConfigTable& table) {
  reply_endpoint_ = table.endpoint("reply_endpoint", reply_endpoint_);
  events_endpoint_ = table.endpoint("events_endpoint", events_endpoint_);
  tick_ms_ = table.integer("tick_ms", tick_ms_, 1, int64_t{3600} * 1000);
  return {};
}

tessera::Status Ponger::start() {
  server_ = std::make_unique<tessera::sdk::Server>(bus(), "pong");
  server_->on<Ping>([this](const tessera::sdk::Request& request, const Ping& ping) {
    ++served_;
    server_->reply(request, Pong{ping.text, ping.sent_ns, served_});
  });
  auto reply = server_->bind(reply_endpoint_);
  if (!reply) return reply.error();
  context().announce("reply", *reply);

  events_ = std::make_unique<tessera::sdk::Publisher>(bus(), "pong.events");
  auto events = events_->bind(events_endpoint_);
  if (!events) return events.error();
  context().announce("events", *events);

  loop().every(std::chrono::milliseconds(tick_ms_), [this] {
    events_->publish(Tick{++ticks_, served_});
  });
  log().info("serving pings on {} and publishing ticks on {}", *reply, *events);
  return {};
}

void Ponger::stopping() { log().info("answered {} ping(s)", served_); }

}  // namespace example
