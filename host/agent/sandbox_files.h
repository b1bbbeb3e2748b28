// A task's sandbox files for operators (protocol/files.h): which sandbox a request may name,
// and its files listed or read strictly inside it. Plain functions over the file system,
// unit-tested on their own (tests/agent/sandbox_files_test.cpp).
#pragma once

#include <filesystem>
#include <string>

#include "tessera/protocol/files.h"

namespace tessera::host::agent {

// Serves `request` (browse or read) inside `sandbox`, a directory the caller has checked is the
// task's. The path is resolved one component at a time from the sandbox's descriptor with
// O_NOFOLLOW: an absolute path, "..", a symbolic link (anywhere in the path) or a file that is
// not a regular file or directory is refused, so nothing outside the sandbox is ever opened.
protocol::files::Answer serve_sandbox_files(const std::filesystem::path& sandbox,
                                            const protocol::files::Request& request);

}  // namespace tessera::host::agent
