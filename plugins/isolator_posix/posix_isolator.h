// PosixIsolator: the isolator protocol (protocol/isolator.h) served over a PosixLauncher. Knows
// it is a plugin only through the SDK base class; plugin.cpp holds the descriptor.
#pragma once

#include <memory>
#include <string>

#include "posix_launcher.h"
#include "tessera/protocol/isolator.h"
#include "tessera/sdk/plugin.h"

namespace tessera::isolator_posix {

class PosixIsolator : public tessera::sdk::IsolatorPlugin {
 public:
  explicit PosixIsolator(tessera::sdk::PluginContext& context);

  tessera::Status configure(tessera::sdk::ConfigTable& table) override;
  tessera::Status start() override;
  void stopping() override;

 private:
  void launch(const tessera::sdk::Request& request, const protocol::isolator::Launch& launch);
  void kill(const tessera::sdk::Request& request, const protocol::isolator::Kill& kill);
  void recover(const tessera::sdk::Request& request, const protocol::isolator::Recover& recover);
  void exited(const Exit& exit);
  void fail(const tessera::sdk::Request& request, const std::string& container_id,
            const std::string& message);

  bool kill_on_stop_ = false;
  double default_grace_seconds_ = 3;
  std::string hostname_;

  std::unique_ptr<PosixLauncher> launcher_;
  std::unique_ptr<tessera::sdk::Server> server_;
  std::unique_ptr<tessera::sdk::Publisher> events_;
};

}  // namespace tessera::isolator_posix
