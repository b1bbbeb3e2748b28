// The reverse proxy's decisions for /marathon/... and /chronos/...: which upstream a request is
// for, the target it is sent on with, which requests are refused and why, and how an upstream's
// redirect is seen through the proxy. Pure functions, unit-tested in tests/proxy_test.cpp; the
// I/O is in master_http.cpp (the SDK's http::Client).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/result.h"

namespace tessera::master_http {

// The framework APIs the master proxies: the first path segment and the TOML key naming the
// upstream's HOST:PORT in [plugins.master_http].
inline constexpr const char* kProxiedFrameworks[] = {"marathon", "chronos"};

// The longest target (path and query) the proxy sends on. Marathon's and Chronos's own ids are
// far shorter; anything longer is a client's mistake or an attack.
inline constexpr size_t kMaxProxiedTargetBytes = 4096;

// What a proxied request is sent on with.
struct ProxyTarget {
  std::string framework;  // "marathon", "chronos"
  std::string target;     // origin form for the upstream: "/v2/apps?embed=apps.counts"
};

// Reads a request under /FRAMEWORK/ from its target as the client sent it (`raw_target`, still
// percent-encoded) and its decoded path segments. Refuses (invalid argument) a segment "." or
// ".." in any encoding, which would make the upstream see a path outside the one the master
// names. The caller refuses a target longer than kMaxProxiedTargetBytes (414) before.
Result<ProxyTarget> proxy_target(std::string_view raw_target,
                                 const std::vector<std::string>& segments);

// Whether a request asks for an event stream, which the proxy does not relay (it reads each
// answer whole): Marathon's /v2/events, or any request that accepts only text/event-stream.
bool asks_for_event_stream(const ProxyTarget& target, std::string_view accept);

// An upstream's Location as the client must follow it through the proxy: a path on the
// upstream ("/v2/apps/web") or an absolute URL naming the upstream ("http://UPSTREAM/v2/...")
// gets the framework's prefix on this master; any other location is kept as it is.
std::string proxied_location(std::string_view location, const std::string& framework,
                             const std::string& upstream);

// /state's frameworks_http: {"marathon": "/marathon"} for each framework with an upstream.
std::map<std::string, std::string> frameworks_http(
    const std::map<std::string, std::string>& upstreams);

}  // namespace tessera::master_http
