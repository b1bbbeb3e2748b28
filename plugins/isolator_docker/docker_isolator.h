// DockerIsolator: the isolator protocol (protocol/isolator.h) served over a DockerRuntime, for
// tasks whose container type is DOCKER. Knows it is a plugin only through the SDK base class;
// plugin.cpp holds the descriptor.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "docker_runtime.h"
#include "tessera/protocol/isolator.h"
#include "tessera/sdk/plugin.h"

namespace tessera::docker {

class DockerIsolator : public tessera::sdk::IsolatorPlugin {
 public:
  explicit DockerIsolator(tessera::sdk::PluginContext& context);

  tessera::Status configure(tessera::sdk::ConfigTable& table) override;
  tessera::Status start() override;
  void stopping() override;

 private:
  void launch(const tessera::sdk::Request& request, const protocol::isolator::Launch& launch);
  void kill(const tessera::sdk::Request& request, const protocol::isolator::Kill& kill);
  void usage(const tessera::sdk::Request& request, const protocol::isolator::GetUsage& get);
  void recover(const tessera::sdk::Request& request, const protocol::isolator::Recover& recover);
  void exited(const ContainerExit& exit);
  void fail(const tessera::sdk::Request& request, const std::string& container_id,
            const std::string& message);
  void fail_later(const std::string& peer, uint64_t sequence, const std::string& container_id,
                  const std::string& message);
  std::chrono::milliseconds grace(double seconds) const;

  RuntimeOptions options_;
  bool kill_on_stop_ = false;
  double default_grace_seconds_ = 3;

  std::unique_ptr<DockerRuntime> runtime_;
  std::unique_ptr<tessera::sdk::Server> server_;
  // Who hears of each container's exit: the peer that launched it or last recovered it.
  std::map<std::string, std::string> peers_;
};

}  // namespace tessera::docker
