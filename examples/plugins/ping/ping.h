// Pinger: the asking half of the example. Knows nothing about being a plugin (see plugin.cpp).
#pragma once

#include <memory>
#include <string>

#include "tessera/sdk/plugin.h"

namespace example {

class Pinger : public tessera::sdk::FrameworkPlugin {
 public:
  explicit Pinger(tessera::sdk::PluginContext& context);

  tessera::Status configure(tessera::sdk::ConfigTable& table) override;
  tessera::Status start() override;

 private:
  void send_ping();

  std::string server_ = "inproc://example_pong";
  std::string events_ = "inproc://example_pong.events";
  std::string text_ = "hello";
  int64_t interval_ms_ = 1000;
  int64_t timeout_ms_ = 2000;

  std::unique_ptr<tessera::sdk::Client> client_;
  std::unique_ptr<tessera::sdk::Subscriber> subscriber_;
  uint64_t pongs_ = 0;
};

}  // namespace example
