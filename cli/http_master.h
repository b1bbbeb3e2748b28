// The master's bus endpoint from its HTTP API: a user who gives the CLI the address they open in
// a browser (http://HOST:5050) is served by the master that API belongs to, which names the
// leading master's bus endpoint in /state ("leader"; a standby redirects to the leader's API,
// or, when it does not know that, names the leader's bus endpoint in its 503 answer).
#pragma once

#include <chrono>
#include <string>

#include "tessera/result.h"

namespace tessera::cli {

// Whether `text` is one http:// address (not a list, not https).
bool is_http_master(const std::string& text);

// GET URL/state with `timeout` for the whole exchange; the "leader" it names. A 307 or 308 (a
// standby master's API sending the client to the leader's) is followed once. The answer is
// bounded (256 MiB); errors say what failed.
Result<std::string> master_from_http(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace tessera::cli
