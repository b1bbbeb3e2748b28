// Router: which handler answers a method and a path, and the path parameters it captured.
//
// Patterns are paths whose segments are literals, `{name}` (exactly one non-empty segment) or
// `{name*}` (one or more segments, slashes kept: Marathon's app ids such as `/prod/web/api`).
// A rest parameter may stand anywhere, so "/v2/apps/{id*}/restart" matches
// "/v2/apps/prod/web/restart" with id = "prod/web". Paths are matched segment by segment after
// percent-decoding; a trailing slash is ignored ("/v2/apps/" is "/v2/apps").
//
// When several patterns match, the one with the most literal segments wins, then the one with
// fewer rest parameters, then the one registered first; so "/v2/apps/{id*}/restart" beats
// "/v2/apps/{id*}" whatever the order of registration.
//
// A plain value type with no I/O: used by http::Server, unit-tested on its own. Not thread-safe.
#pragma once

#include <boost/beast/http/verb.hpp>
#include <deque>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessera::sdk::http {

using Method = boost::beast::http::verb;

// Path parameters captured by a route, in pattern order.
class PathParams {
 public:
  // The parameter's decoded value, or an empty view when the pattern has no such parameter.
  std::string_view get(std::string_view name) const {
    for (const auto& [key, value] : values_) {
      if (key == name) return value;
    }
    return {};
  }
  size_t size() const { return values_.size(); }
  void add(std::string name, std::string value) {
    values_.emplace_back(std::move(name), std::move(value));
  }
  void clear() { values_.clear(); }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

template <typename Handler>
class Router {
 public:
  struct Route {
    Method method;
    std::string pattern;
    Handler handler;
  };

  struct Match {
    const Route* route = nullptr;  // null: nothing answers this method and path
    PathParams params;
    // When no route takes this method but some take the path: the methods that do (for 405
    // and its Allow header).
    std::vector<Method> allowed;
  };

  // Adds a route. A malformed pattern is a programming error: std::invalid_argument.
  void add(Method method, std::string_view pattern, Handler handler) {
    Compiled compiled;
    compiled.route = Route{method, std::string(pattern), std::move(handler)};
    compiled.segments = compile(pattern);
    for (const Segment& s : compiled.segments) {
      if (s.kind == Segment::kLiteral) ++compiled.literals;
      if (s.kind == Segment::kRest) ++compiled.rests;
    }
    routes_.push_back(std::move(compiled));
  }

  // Finds the route for `method` and the decoded path `segments`. A HEAD request is answered
  // by a GET route when no HEAD route matches.
  Match match(Method method, const std::vector<std::string>& segments) const {
    std::vector<std::string_view> path(segments.begin(), segments.end());
    // A trailing slash names the same resource.
    if (!path.empty() && path.back().empty()) path.pop_back();
    Match found = best(method, path);
    if (found.route == nullptr && method == Method::head) found = best(Method::get, path);
    if (found.route != nullptr) return found;
    for (const Compiled& c : routes_) {
      std::vector<std::pair<size_t, std::string>> ignored;
      if (!matches(c.segments, 0, path, 0, ignored)) continue;
      bool seen = false;
      for (Method m : found.allowed) seen = seen || m == c.route.method;
      if (!seen) found.allowed.push_back(c.route.method);
    }
    return found;
  }

  size_t size() const { return routes_.size(); }

 private:
  struct Segment {
    enum Kind { kLiteral, kParam, kRest } kind;
    std::string text;  // the literal, or the parameter's name
  };
  struct Compiled {
    Route route;
    std::vector<Segment> segments;
    int literals = 0;
    int rests = 0;
  };

  static std::vector<Segment> compile(std::string_view pattern) {
    auto fail = [&](const std::string& why) {
      throw std::invalid_argument("route pattern '" + std::string(pattern) + "': " + why);
    };
    if (pattern.empty() || pattern.front() != '/') fail("must start with '/'");
    std::vector<Segment> segments;
    std::vector<std::string> names;
    std::string_view rest = pattern.substr(1);
    while (!rest.empty()) {
      size_t slash = rest.find('/');
      std::string_view text = rest.substr(0, slash);
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
      if (text.empty()) {
        if (slash == std::string_view::npos) break;  // trailing slash
        fail("has an empty segment");
      }
      if (text.front() != '{') {
        if (text.find_first_of("{}") != std::string_view::npos) {
          fail("a parameter must be a whole segment");
        }
        segments.push_back(Segment{Segment::kLiteral, std::string(text)});
        continue;
      }
      if (text.back() != '}') fail("unclosed parameter '" + std::string(text) + "'");
      std::string_view name = text.substr(1, text.size() - 2);
      typename Segment::Kind kind = Segment::kParam;
      if (!name.empty() && name.back() == '*') {
        kind = Segment::kRest;
        name.remove_suffix(1);
      }
      if (name.empty() || name.find_first_of("{}*/") != std::string_view::npos) {
        fail("bad parameter name '" + std::string(text) + "'");
      }
      for (const std::string& seen : names) {
        if (seen == name) fail("parameter '" + std::string(name) + "' appears twice");
      }
      names.emplace_back(name);
      segments.push_back(Segment{kind, std::string(name)});
    }
    return segments;
  }

  // Matches pattern segments from `p` against path segments from `s`; on success `captured`
  // holds (pattern index, value) for every parameter. A rest parameter tries the longest run
  // first, so the literals after it anchor at the end of the path.
  static bool matches(const std::vector<Segment>& pattern, size_t p,
                      const std::vector<std::string_view>& path, size_t s,
                      std::vector<std::pair<size_t, std::string>>& captured) {
    if (p == pattern.size()) return s == path.size();
    if (s == path.size()) return false;
    const Segment& segment = pattern[p];
    if (segment.kind == Segment::kLiteral) {
      return path[s] == segment.text && matches(pattern, p + 1, path, s + 1, captured);
    }
    if (segment.kind == Segment::kParam) {
      if (path[s].empty()) return false;
      captured.emplace_back(p, std::string(path[s]));
      if (matches(pattern, p + 1, path, s + 1, captured)) return true;
      captured.pop_back();
      return false;
    }
    // Every later pattern segment needs at least one path segment.
    size_t needed_after = pattern.size() - p - 1;
    if (path.size() - s < needed_after + 1) return false;
    for (size_t end = path.size() - needed_after; end > s; --end) {
      bool empty_inside = false;
      std::string value;
      for (size_t i = s; i < end; ++i) {
        empty_inside = empty_inside || path[i].empty();
        if (i > s) value += '/';
        value += path[i];
      }
      if (empty_inside) continue;
      captured.emplace_back(p, std::move(value));
      if (matches(pattern, p + 1, path, end, captured)) return true;
      captured.pop_back();
    }
    return false;
  }

  Match best(Method method, const std::vector<std::string_view>& path) const {
    Match found;
    const Compiled* winner = nullptr;
    std::vector<std::pair<size_t, std::string>> captured;
    std::vector<std::pair<size_t, std::string>> winner_captured;
    for (const Compiled& c : routes_) {
      if (c.route.method != method) continue;
      if (winner != nullptr && (c.literals < winner->literals ||
                                (c.literals == winner->literals && c.rests >= winner->rests))) {
        continue;  // cannot beat the route found so far
      }
      captured.clear();
      if (!matches(c.segments, 0, path, 0, captured)) continue;
      winner = &c;
      winner_captured.swap(captured);
    }
    if (winner == nullptr) return found;
    found.route = &winner->route;
    for (auto& [index, value] : winner_captured) {
      found.params.add(winner->segments[index].text, std::move(value));
    }
    return found;
  }

  // A deque keeps routes in place when one is added while another's handler runs.
  std::deque<Compiled> routes_;
};

}  // namespace tessera::sdk::http
