// What tessera-host puts in its own environment for the plugins it runs.
//
// Set by the host's main thread before any plugin thread starts, and never changed afterwards:
// safe to read (std::getenv) from any plugin at any time.
#pragma once

namespace tessera::sdk {

// tessera-host raises its soft RLIMIT_NOFILE to the hard limit at start (a master holds a
// connection per agent, an agent descriptors per task). When it does, this variable holds the
// soft limit it started with (a decimal number), so that a container runtime gives its tasks
// that limit back: a task must not inherit a limit raised for the host. Unset when the host
// raised nothing (its soft limit is then what tasks would have had anyway).
inline constexpr const char* kOriginalNofileLimitVariable = "TESSERA_ORIGINAL_NOFILE_LIMIT";

}  // namespace tessera::sdk
