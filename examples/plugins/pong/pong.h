// Ponger: the serving half of the example. Knows nothing about being a plugin (see plugin.cpp).
#pragma once

#include <memory>
#include <string>

#include "tessera/sdk/plugin.h"

namespace example {

class Ponger : public tessera::sdk::FrameworkPlugin {
 public:
  explicit Ponger(tessera::sdk::PluginContext& context);

  tessera::Status configure(tessera::sdk::ConfigTable& table) override;
  tessera::Status start() override;
  void stopping() override;

 private:
  std::string reply_endpoint_ = "inproc://example_pong";
  std::string events_endpoint_ = "inproc://example_pong.events";
  int64_t tick_ms_ = 1000;

  std::unique_ptr<tessera::sdk::Server> server_;
  std::unique_ptr<tessera::sdk::Publisher> events_;
  uint64_t served_ = 0;
  uint64_t ticks_ = 0;
};

}  // namespace example
