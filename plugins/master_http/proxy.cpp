#include "proxy.h"

namespace tessera::master_http {

Result<ProxyTarget> proxy_target(std::string_view raw_target,
                                 const std::vector<std::string>& segments) {
  if (segments.empty() || raw_target.empty() || raw_target.front() != '/') {
    return make_error(ErrorCode::kInvalidArgument, "not a path under a proxied framework");
  }
  for (const std::string& segment : segments) {
    if (segment == "." || segment == "..") {
      return make_error(ErrorCode::kInvalidArgument,
                        "the path '" + std::string(raw_target.substr(0, 256)) +
                            "' has a '.' or '..' segment: the proxy sends only paths under /" +
                            segments.front());
    }
  }
  ProxyTarget out;
  out.framework = segments.front();
  // The rest of the target exactly as the client encoded it, from the slash after the first
  // segment: an app id with an encoded slash reaches the upstream as the client wrote it.
  size_t query = raw_target.find('?');
  std::string_view path = raw_target.substr(0, query);
  std::string_view rest = query == std::string_view::npos ? "" : raw_target.substr(query);
  size_t slash = path.find('/', 1);
  out.target = slash == std::string_view::npos ? "/" : std::string(path.substr(slash));
  out.target += rest;
  return out;
}

bool asks_for_event_stream(const ProxyTarget& target, std::string_view accept) {
  std::string_view path = std::string_view(target.target).substr(0, target.target.find('?'));
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (target.framework == "marathon" && path == "/v2/events") return true;
  return accept.find("text/event-stream") != std::string_view::npos &&
         accept.find("json") == std::string_view::npos &&
         accept.find("*/*") == std::string_view::npos;
}

std::string proxied_location(std::string_view location, const std::string& framework,
                             const std::string& upstream) {
  std::string prefix = "/" + framework;
  if (location.starts_with("/") && !location.starts_with("//")) {
    return prefix + std::string(location);
  }
  for (std::string_view scheme : {"http://", "https://"}) {
    std::string origin = std::string(scheme) + upstream;
    if (location.starts_with(origin)) {
      std::string_view rest = location.substr(origin.size());
      if (rest.empty()) return prefix + "/";
      if (rest.front() == '/' || rest.front() == '?') return prefix + std::string(rest);
    }
  }
  return std::string(location);
}

std::map<std::string, std::string> frameworks_http(
    const std::map<std::string, std::string>& upstreams) {
  std::map<std::string, std::string> out;
  for (const auto& [framework, address] : upstreams) {
    if (!address.empty()) out[framework] = "/" + framework;
  }
  return out;
}

}  // namespace tessera::master_http
