// PosixIsolator: the posix container runtime. Serves the runtime half of the isolator protocol
// (protocol/isolator.h: launch, release, kill, recover; exits pushed on the same connection)
// over the shared PosixLauncher (plugins/process_launcher). Knows it is a plugin only through
// the SDK base class; plugin.cpp holds the descriptor.
#pragma once

#include <map>
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
  void release(const tessera::sdk::Request& request, const protocol::isolator::Release& release);
  void kill(const tessera::sdk::Request& request, const protocol::isolator::Kill& kill);
  // The leader process's usage (process_usage): cpu time, resident memory and its peak.
  void usage(const tessera::sdk::Request& request, const protocol::isolator::GetUsage& get);
  void recover(const tessera::sdk::Request& request, const protocol::isolator::Recover& recover);
  void exited(const process_launcher::Exit& exit);
  void fail(const tessera::sdk::Request& request, const std::string& container_id,
            const std::string& message);

  // Where it serves: the agent of its host connects to isolator::endpoint(NAME), the default;
  // tests that play the agent from another process set another address.
  std::string endpoint_;
  bool kill_on_stop_ = false;
  double default_grace_seconds_ = 3;

  std::unique_ptr<process_launcher::PosixLauncher> launcher_;
  std::unique_ptr<tessera::sdk::Server> server_;
  // Who hears of each container's exit: the peer that launched it or last recovered it. The
  // exit goes on that peer's connection, after the launch reply.
  std::map<std::string, std::string> peers_;
};

}  // namespace tessera::isolator_posix
