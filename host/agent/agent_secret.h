// The secret with which an agent proves its id to the master: given in the agent's first
// agent.registered, kept beside its id in WORK_DIR/agent/agent_secret (mode 0600, written
// atomically) and presented in every later agent.register. Without it a re-registration under
// the agent's id is refused, so no other process can take the agent's place.
#pragma once

#include <filesystem>
#include <string>

#include "tessera/result.h"

namespace tessera::host::agent {

// The saved secret, or "" when there is none.
Result<std::string> read_agent_secret(const std::filesystem::path& agent_dir);
// Replaces the saved secret; the file is readable by its owner only.
Status write_agent_secret(const std::filesystem::path& agent_dir, const std::string& secret);
Status remove_agent_secret(const std::filesystem::path& agent_dir);

}  // namespace tessera::host::agent
