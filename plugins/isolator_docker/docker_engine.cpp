#include "docker_engine.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace tessera::docker {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

// An answer's header is small; a larger one is not the Docker daemon.
constexpr uint32_t kMaxHeaderBytes = 64 * 1024;
// A log or event stream is read in pieces of this size.
constexpr size_t kReadBytes = size_t{64} * 1024;

std::string errno_text(int err) { return std::strerror(err); }

// One connection to the daemon's socket, closed with the object. Reads and writes wait at most
// until `deadline` (none: forever, until the peer or a Cancellation ends it).
class Socket {
 public:
  Socket(std::optional<Clock::time_point> deadline, Cancellation* cancel)
      : deadline_(deadline), cancel_(cancel) {}
  ~Socket() {
    if (cancel_ != nullptr) cancel_->watch(-1);
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  Status connect(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "the Docker socket path '" + path + "' is too long");
    }
    std::memcpy(address.sun_path, path.data(), path.size());
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) return make_error("cannot create a socket: " + errno_text(errno));
    if (cancel_ != nullptr) {
      cancel_->watch(fd_);
      if (cancel_->cancelled()) return make_error(ErrorCode::kUnavailable, "cancelled");
    }
    // A unix socket connects at once or fails at once (EAGAIN: the daemon's backlog is full).
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      return make_error(ErrorCode::kUnavailable, "the Docker daemon at '" + path +
                                                     "' is not reachable: " + errno_text(errno));
    }
    return {};
  }

  Status send_all(std::string_view data) {
    while (!data.empty()) {
      if (auto ready = wait_for(POLLOUT); !ready) return ready;
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return make_error(ErrorCode::kUnavailable,
                          "writing to the Docker daemon: " + errno_text(errno));
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
  }

  // Some bytes, or an empty string at the end of the stream.
  Result<std::string> read_some() {
    std::string buffer(kReadBytes, '\0');
    while (true) {
      if (auto ready = wait_for(POLLIN); !ready) return ready.error();
      ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return make_error(ErrorCode::kUnavailable,
                          "reading from the Docker daemon: " + errno_text(errno));
      }
      if (cancel_ != nullptr && cancel_->cancelled()) {
        return make_error(ErrorCode::kUnavailable, "cancelled");
      }
      buffer.resize(static_cast<size_t>(n));
      return buffer;
    }
  }

 private:
  Status wait_for(short events) {
    while (true) {
      if (cancel_ != nullptr && cancel_->cancelled()) {
        return make_error(ErrorCode::kUnavailable, "cancelled");
      }
      int timeout_ms = -1;
      if (deadline_) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(*deadline_ - Clock::now());
        if (left.count() <= 0) {
          return make_error(ErrorCode::kUnavailable, "the Docker daemon did not answer in time");
        }
        timeout_ms = static_cast<int>(std::min<int64_t>(left.count(), 1000));
      } else if (cancel_ != nullptr) {
        // Cancellation shuts the socket down, which wakes poll; this is a second line.
        timeout_ms = 1000;
      }
      pollfd p{fd_, events, 0};
      int n = ::poll(&p, 1, timeout_ms);
      if (n < 0 && errno != EINTR) return make_error("poll: " + errno_text(errno));
      if (n > 0) return {};
    }
  }

  int fd_ = -1;
  std::optional<Clock::time_point> deadline_;
  Cancellation* cancel_;
};

std::string encode_query(const std::string& text) {
  return boost::urls::encode(text, boost::urls::unreserved_chars);
}

// filters={"label":["k=v",...]} as a query parameter value.
std::string label_filters(const std::map<std::string, std::string>& labels,
                          const std::map<std::string, std::vector<std::string>>& more = {}) {
  json::object filters;
  json::array wanted;
  for (const auto& [key, value] : labels) wanted.emplace_back(key + "=" + value);
  if (!wanted.empty()) filters["label"] = wanted;
  for (const auto& [key, values] : more) {
    json::array list;
    for (const auto& v : values) list.emplace_back(v);
    filters[key] = list;
  }
  return encode_query(json::serialize(filters));
}

std::string request_text(const std::string& method, const std::string& target,
                         const std::string& body) {
  http::request<http::string_body> request{http::string_to_verb(method), target, 11};
  request.set(http::field::host, "docker");
  request.set(http::field::user_agent, "tessera");
  if (!body.empty()) {
    request.set(http::field::content_type, "application/json");
    request.body() = body;
  }
  request.prepare_payload();
  std::ostringstream out;
  out << request;
  return out.str();
}

// The daemon's message in an error answer ({"message": "..."}), or the body as it is.
std::string daemon_message(const std::string& body) {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (!ec && value.is_object()) {
    if (const json::value* message = value.as_object().if_contains("message");
        message != nullptr && message->is_string()) {
      return std::string(message->as_string());
    }
  }
  std::string text = body.substr(0, 500);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

ErrorCode code_of(unsigned status) {
  switch (status) {
    case 400:
      return ErrorCode::kInvalidArgument;
    case 403:
      return ErrorCode::kPermissionDenied;
    case 404:
      return ErrorCode::kNotFound;
    case 409:
      return ErrorCode::kConflict;
    case 503:
      return ErrorCode::kUnavailable;
    default:
      return ErrorCode::kInternal;
  }
}

Result<json::object> parse_object(const std::string& body, const std::string& what) {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec || !value.is_object()) {
    return make_error("the Docker daemon's answer to " + what + " is not a JSON object");
  }
  return std::move(value.as_object());
}

std::string string_at(const json::object& object, std::string_view key) {
  const json::value* v = object.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

int64_t int_at(const json::object& object, std::string_view key) {
  const json::value* v = object.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  return 0;
}

std::map<std::string, std::string> string_map(const json::value* v) {
  std::map<std::string, std::string> out;
  if (v == nullptr || !v->is_object()) return out;
  for (const auto& [key, value] : v->as_object()) {
    if (value.is_string()) out[std::string(key)] = std::string(value.as_string());
  }
  return out;
}

// One step of reading an answer: what is buffered in `rest` goes to `parser`, and when it takes
// none of it (or nothing is buffered) more is read from `socket`. False at the end of the
// connection; a parse error is left in `parse_error` for the caller to word.
template <typename Parser>
Result<bool> advance(Socket& socket, Parser& parser, std::string& rest,
                     boost::system::error_code& parse_error) {
  if (!rest.empty()) {
    size_t used = parser.put(boost::asio::buffer(rest), parse_error);
    if (parse_error == http::error::need_more) parse_error = {};
    if (parse_error) return true;
    rest.erase(0, used);
    if (used > 0) return true;
  }
  auto more = socket.read_some();
  if (!more) return more.error();
  if (more->empty()) return false;
  rest += *more;
  return true;
}

// Reads one answer's header from `socket` into `parser`; `rest` keeps bytes read past it.
template <typename Parser>
Status read_header(Socket& socket, Parser& parser, std::string& rest) {
  parser.eager(false);
  parser.header_limit(kMaxHeaderBytes);
  while (!parser.is_header_done()) {
    boost::system::error_code ec;
    TESSERA_ASSIGN_OR_RETURN(bool open, advance(socket, parser, rest, ec));
    if (ec) return make_error("the Docker daemon's answer is not HTTP: " + ec.message());
    if (!open)
      return make_error(ErrorCode::kUnavailable, "the Docker daemon closed the connection");
  }
  return {};
}

// Streams the body of an answer whose header `parser` has read to `sink`, decoding chunks,
// until it ends. A body without a length (a hijacked stream) runs to the end of the connection.
Status stream_body(Socket& socket, http::response_parser<http::string_body>& parser,
                   std::string& rest, const std::function<void(std::string_view)>& sink) {
  if (!parser.chunked() && !parser.content_length()) {
    sink(rest);
    while (true) {
      auto more = socket.read_some();
      if (!more) return more.error();
      if (more->empty()) return {};
      sink(*more);
    }
  }
  auto on_chunk = [&sink](std::uint64_t, boost::string_view body, boost::system::error_code&) {
    sink(std::string_view(body.data(), body.size()));
    return body.size();
  };
  parser.on_chunk_body(on_chunk);
  parser.eager(true);
  parser.body_limit(boost::none);
  while (!parser.is_done()) {
    boost::system::error_code ec;
    TESSERA_ASSIGN_OR_RETURN(bool open, advance(socket, parser, rest, ec));
    if (ec) return make_error("the Docker daemon's stream is broken: " + ec.message());
    if (!parser.chunked()) {
      // A body with a length: Beast keeps it in the string body, hand it on as it comes.
      sink(parser.get().body());
      parser.get().body().clear();
    }
    if (!open) return {};
  }
  return {};
}

}  // namespace

void Cancellation::cancel() {
  cancelled_.store(true);
  int fd = fd_.load();
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

Engine::Engine(EngineOptions options) : options_(std::move(options)) {}

std::string Engine::path(const std::string& tail) const {
  return "/" + options_.api_version + tail;
}

Result<Engine::Response> Engine::call(const std::string& method, const std::string& target,
                                      const std::string& body) {
  Socket socket(Clock::now() + options_.timeout, nullptr);
  TESSERA_RETURN_IF_ERROR(socket.connect(options_.socket_path));
  TESSERA_RETURN_IF_ERROR(socket.send_all(request_text(method, target, body)));
  http::response_parser<http::string_body> parser;
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(options_.max_response_bytes);
  parser.eager(true);
  std::string rest;
  while (!parser.is_done()) {
    boost::system::error_code ec;
    TESSERA_ASSIGN_OR_RETURN(bool open, advance(socket, parser, rest, ec));
    if (ec == http::error::body_limit) {
      return make_error("the Docker daemon's answer to " + method + " " + target + " is over " +
                        std::to_string(options_.max_response_bytes) + " bytes");
    }
    if (ec) return make_error("the Docker daemon's answer is not HTTP: " + ec.message());
    if (!open) {
      // The end of the connection ends a body without a length, and nothing else.
      parser.put_eof(ec);
      if (ec || !parser.is_done()) {
        return make_error(ErrorCode::kUnavailable,
                          "the Docker daemon closed the connection in the middle of an answer");
      }
    }
  }
  return Response{parser.get().result_int(), std::move(parser.get().body())};
}

Status Engine::expect(const Result<Response>& response, std::initializer_list<unsigned> ok,
                      const std::string& what) {
  if (!response) return response.error().context(what);
  for (unsigned status : ok) {
    if (response->status == status) return {};
  }
  return make_error(code_of(response->status), what + ": " + daemon_message(response->body) +
                                                   " (HTTP " + std::to_string(response->status) +
                                                   ")");
}

Status Engine::ping() { return expect(call("GET", "/_ping"), {200}, "ping"); }

Result<std::string> Engine::api_version() {
  auto response = call("GET", path("/version"));
  TESSERA_RETURN_IF_ERROR(expect(response, {200}, "version"));
  TESSERA_ASSIGN_OR_RETURN(auto object, parse_object(response->body, "version"));
  return string_at(object, "ApiVersion");
}

Result<bool> Engine::image_present(const std::string& image) {
  auto response = call("GET", path("/images/" + encode_query(image) + "/json"));
  if (response && response->status == 404) return false;
  TESSERA_RETURN_IF_ERROR(expect(response, {200}, "image '" + image + "'"));
  return true;
}

Status Engine::pull(const std::string& image) {
  std::string name = image;
  std::string tag = "latest";
  // NAME[:TAG]; a ':' before the last '/' belongs to a registry's port.
  size_t colon = image.rfind(':');
  if (colon != std::string::npos && image.find('/', colon) == std::string::npos) {
    name = image.substr(0, colon);
    tag = image.substr(colon + 1);
  }
  auto response = call(
      "POST", path("/images/create?fromImage=" + encode_query(name) + "&tag=" + encode_query(tag)));
  TESSERA_RETURN_IF_ERROR(expect(response, {200}, "pulling image '" + image + "'"));
  // The daemon answers 200 and reports a failure inside the progress stream.
  std::istringstream lines(response->body);
  std::string line;
  while (std::getline(lines, line)) {
    boost::system::error_code ec;
    json::value value = json::parse(line, ec);
    if (ec || !value.is_object()) continue;
    std::string error = string_at(value.as_object(), "error");
    if (!error.empty()) {
      return make_error(ErrorCode::kUnavailable, "pulling image '" + image + "': " + error);
    }
  }
  return {};
}

std::string create_body(const ContainerSpec& spec) {
  json::object body;
  body["Image"] = spec.image;
  auto strings = [](const std::vector<std::string>& list) {
    json::array out;
    for (const auto& s : list) out.emplace_back(s);
    return out;
  };
  if (!spec.entrypoint.empty()) body["Entrypoint"] = strings(spec.entrypoint);
  if (!spec.cmd.empty()) body["Cmd"] = strings(spec.cmd);
  json::array env;
  for (const auto& [key, value] : spec.env) env.emplace_back(key + "=" + value);
  body["Env"] = env;
  json::object labels;
  for (const auto& [key, value] : spec.labels) labels[key] = value;
  body["Labels"] = labels;
  if (!spec.user.empty()) body["User"] = spec.user;
  if (!spec.working_dir.empty()) body["WorkingDir"] = spec.working_dir;
  body["AttachStdout"] = false;
  body["AttachStderr"] = false;
  body["Tty"] = false;
  json::object host;
  host["NetworkMode"] = spec.network_mode;
  host["Init"] = spec.init;
  if (spec.memory_bytes > 0) {
    host["Memory"] = spec.memory_bytes;
    // No swap beyond the limit: a task over its memory is killed, not slowed.
    host["MemorySwap"] = spec.memory_bytes;
  }
  if (spec.nano_cpus > 0) host["NanoCpus"] = spec.nano_cpus;
  if (spec.cpu_shares > 0) host["CpuShares"] = spec.cpu_shares;
  if (!spec.binds.empty()) host["Binds"] = strings(spec.binds);
  body["HostConfig"] = host;
  return json::serialize(body);
}

Result<std::string> Engine::create(const ContainerSpec& spec) {
  std::string target = "/containers/create";
  if (!spec.name.empty()) target += "?name=" + encode_query(spec.name);
  auto response = call("POST", path(target), create_body(spec));
  TESSERA_RETURN_IF_ERROR(expect(response, {201}, "creating a container of '" + spec.image + "'"));
  TESSERA_ASSIGN_OR_RETURN(auto object, parse_object(response->body, "create"));
  std::string id = string_at(object, "Id");
  if (id.empty()) return make_error("the Docker daemon created a container without an id");
  return id;
}

Status Engine::start(const std::string& id) {
  return expect(call("POST", path("/containers/" + encode_query(id) + "/start")), {204, 304},
                "starting container '" + id + "'");
}

Result<ContainerState> Engine::inspect(const std::string& id) {
  auto response = call("GET", path("/containers/" + encode_query(id) + "/json"));
  TESSERA_RETURN_IF_ERROR(expect(response, {200}, "inspecting container '" + id + "'"));
  TESSERA_ASSIGN_OR_RETURN(auto object, parse_object(response->body, "inspect"));
  ContainerState state;
  state.id = string_at(object, "Id");
  state.name = string_at(object, "Name");
  if (!state.name.empty() && state.name.front() == '/') state.name.erase(0, 1);
  if (const json::value* s = object.if_contains("State"); s != nullptr && s->is_object()) {
    const json::object& st = s->as_object();
    state.status = string_at(st, "Status");
    state.running =
        st.contains("Running") && st.at("Running").is_bool() && st.at("Running").as_bool();
    state.exit_code = static_cast<int>(int_at(st, "ExitCode"));
    state.oom_killed =
        st.contains("OOMKilled") && st.at("OOMKilled").is_bool() && st.at("OOMKilled").as_bool();
    state.pid = static_cast<int>(int_at(st, "Pid"));
    state.error = string_at(st, "Error");
  }
  if (const json::value* c = object.if_contains("Config"); c != nullptr && c->is_object()) {
    state.labels = string_map(c->as_object().if_contains("Labels"));
  }
  return state;
}

Result<ContainerStats> Engine::stats(const std::string& id) {
  auto response =
      call("GET", path("/containers/" + encode_query(id) + "/stats?stream=false&one-shot=true"));
  TESSERA_RETURN_IF_ERROR(expect(response, {200}, "reading the stats of container '" + id + "'"));
  TESSERA_ASSIGN_OR_RETURN(auto object, parse_object(response->body, "stats"));
  ContainerStats stats;
  // A number the daemon gives as a non-negative integer, or -1.
  auto amount = [](const json::object& o, std::string_view key) -> int64_t {
    const json::value* v = o.if_contains(key);
    if (v == nullptr || !(v->is_int64() || v->is_uint64())) return -1;
    int64_t n = int_at(o, key);
    return n < 0 ? -1 : n;
  };
  if (const json::value* cpu = object.if_contains("cpu_stats");
      cpu != nullptr && cpu->is_object()) {
    if (const json::value* usage = cpu->as_object().if_contains("cpu_usage");
        usage != nullptr && usage->is_object()) {
      int64_t ns = amount(usage->as_object(), "total_usage");
      if (ns >= 0) stats.cpu_seconds = static_cast<double>(ns) / 1e9;
    }
  }
  if (const json::value* mem = object.if_contains("memory_stats");
      mem != nullptr && mem->is_object()) {
    stats.memory_bytes = amount(mem->as_object(), "usage");
    stats.memory_peak_bytes = amount(mem->as_object(), "max_usage");
  }
  return stats;
}

Status Engine::stop(const std::string& id, std::chrono::seconds grace) {
  // The daemon waits `grace` before it kills: the call's own deadline must outlast it.
  Engine patient(options_);
  patient.options_.timeout = options_.timeout + grace;
  return patient.expect(patient.call("POST", path("/containers/" + encode_query(id) +
                                                  "/stop?t=" + std::to_string(grace.count()))),
                        {204, 304}, "stopping container '" + id + "'");
}

Status Engine::kill(const std::string& id, const std::string& signal) {
  return expect(call("POST", path("/containers/" + encode_query(id) +
                                  "/kill?signal=" + encode_query(signal))),
                {204}, "killing container '" + id + "'");
}

Status Engine::remove(const std::string& id, bool force) {
  return expect(
      call("DELETE", path("/containers/" + encode_query(id) + (force ? "?force=1&v=1" : "?v=1"))),
      {204}, "removing container '" + id + "'");
}

Result<std::vector<ContainerSummary>> Engine::list(
    const std::map<std::string, std::string>& labels) {
  auto response = call("GET", path("/containers/json?all=1&filters=" + label_filters(labels)));
  TESSERA_RETURN_IF_ERROR(expect(response, {200}, "listing containers"));
  boost::system::error_code ec;
  json::value value = json::parse(response->body, ec);
  if (ec || !value.is_array()) {
    return make_error("the Docker daemon's list of containers is not a JSON array");
  }
  std::vector<ContainerSummary> out;
  for (const json::value& item : value.as_array()) {
    if (!item.is_object()) continue;
    const json::object& object = item.as_object();
    ContainerSummary summary;
    summary.id = string_at(object, "Id");
    summary.state = string_at(object, "State");
    if (const json::value* names = object.if_contains("Names");
        names != nullptr && names->is_array() && !names->as_array().empty() &&
        names->as_array().front().is_string()) {
      summary.name = std::string(names->as_array().front().as_string());
      if (!summary.name.empty() && summary.name.front() == '/') summary.name.erase(0, 1);
    }
    summary.labels = string_map(object.if_contains("Labels"));
    out.push_back(std::move(summary));
  }
  return out;
}

Result<int> Engine::wait(const std::string& id, Cancellation* cancel) {
  Socket socket(std::nullopt, cancel);
  TESSERA_RETURN_IF_ERROR(socket.connect(options_.socket_path));
  TESSERA_RETURN_IF_ERROR(
      socket.send_all(request_text("POST", path("/containers/" + encode_query(id) + "/wait"), "")));
  http::response_parser<http::string_body> parser;
  std::string rest;
  TESSERA_RETURN_IF_ERROR(read_header(socket, parser, rest));
  std::string body;
  TESSERA_RETURN_IF_ERROR(stream_body(socket, parser, rest, [&body](std::string_view piece) {
    if (body.size() < size_t{64} * 1024) body.append(piece);
  }));
  unsigned status = parser.get().result_int();
  if (status != 200) {
    return make_error(code_of(status), "waiting for container '" + id +
                                           "': " + daemon_message(body) + " (HTTP " +
                                           std::to_string(status) + ")");
  }
  TESSERA_ASSIGN_OR_RETURN(auto object, parse_object(body, "wait"));
  return static_cast<int>(int_at(object, "StatusCode"));
}

void LogDemuxer::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    if (remaining_ == 0) {
      size_t take = std::min(bytes.size(), 8 - header_.size());
      header_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      if (header_.size() < 8) return;
      stream_ = static_cast<unsigned char>(header_[0]);
      frame_start_ = true;
      remaining_ = (size_t{static_cast<unsigned char>(header_[4])} << 24) |
                   (size_t{static_cast<unsigned char>(header_[5])} << 16) |
                   (size_t{static_cast<unsigned char>(header_[6])} << 8) |
                   size_t{static_cast<unsigned char>(header_[7])};
      header_.clear();
      continue;
    }
    size_t take = std::min(bytes.size(), remaining_);
    sink_(stream_, bytes.substr(0, take), frame_start_);
    frame_start_ = false;
    bytes.remove_prefix(take);
    remaining_ -= take;
  }
}

std::string since_after(std::string_view timestamp) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  char fraction[16] = {};
  std::string text(timestamp.substr(0, 40));
  // RFC 3339 with nanoseconds as the daemon prints it: trailing zeros of the fraction, and the
  // fraction itself when it is zero, are left out.
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%15[0-9]Z", &year, &month, &day, &hour,
                  &minute, &second, fraction) != 7) {
    char zone = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &year, &month, &day, &hour, &minute,
                    &second, &zone) != 7 ||
        zone != 'Z') {
      return "";
    }
  }
  std::tm parts{};
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_sec = second;
  int64_t seconds = ::timegm(&parts);
  std::string digits(fraction);
  digits.resize(9, '0');
  int64_t nanoseconds = std::stoll(digits) + 1;
  if (nanoseconds >= 1'000'000'000) {
    nanoseconds -= 1'000'000'000;
    ++seconds;
  }
  std::string nanos = std::to_string(nanoseconds);
  return std::to_string(seconds) + "." + std::string(9 - nanos.size(), '0') + nanos;
}

bool position_before(std::string_view a, std::string_view b) {
  // "seconds.nanoseconds" with nine digits after the point: more digits before it is later.
  if (a.size() != b.size()) return a.size() < b.size();
  return a < b;
}

Status Engine::copy_logs(const std::string& id, const std::filesystem::path& stdout_path,
                         const std::filesystem::path& stderr_path, bool follow,
                         Cancellation* cancel, const std::filesystem::path& position) {
  std::ofstream out(stdout_path, std::ios::app | std::ios::binary);
  std::ofstream err(stderr_path, std::ios::app | std::ios::binary);
  if (!out || !err) {
    return make_error("cannot open '" + stdout_path.string() + "' or '" + stderr_path.string() +
                      "' for the container's output");
  }
  std::string since;
  if (!position.empty()) {
    std::ifstream in(position);
    std::getline(in, since);
    if (since.find_first_not_of("0123456789.") != std::string::npos) since.clear();
  }
  std::optional<Clock::time_point> deadline;
  if (!follow) deadline = Clock::now() + options_.timeout;
  Socket socket(deadline, cancel);
  TESSERA_RETURN_IF_ERROR(socket.connect(options_.socket_path));
  std::string target = "/containers/" + encode_query(id) + "/logs?stdout=1&stderr=1";
  if (follow) target += "&follow=1";
  if (!position.empty()) target += "&timestamps=1";
  if (!since.empty()) target += "&since=" + since;
  TESSERA_RETURN_IF_ERROR(socket.send_all(request_text("GET", path(target), "")));
  http::response_parser<http::string_body> parser;
  std::string rest;
  TESSERA_RETURN_IF_ERROR(read_header(socket, parser, rest));
  unsigned status = parser.get().result_int();
  if (status != 200) {
    std::string body;
    (void)stream_body(socket, parser, rest, [&body](std::string_view piece) {
      if (body.size() < size_t{64} * 1024) body.append(piece);
    });
    return make_error(code_of(status),
                      "reading the output of container '" + id + "': " + daemon_message(body));
  }
  // With timestamps, each frame begins with the line's time and a space: kept as the position,
  // not copied.
  // The daemon copies stdout and stderr separately, so a line can come after one stamped later on
  // the other stream: the position only moves forward, or the next copy would repeat lines.
  bool in_timestamp = false;
  std::string timestamp;
  std::string furthest = since;
  std::string last_position;
  LogDemuxer demux([&](int stream, std::string_view bytes, bool frame_start) {
    if (!position.empty()) {
      if (frame_start) {
        in_timestamp = true;
        timestamp.clear();
      }
      if (in_timestamp) {
        size_t space = bytes.find(' ');
        size_t take = space == std::string_view::npos ? bytes.size() : space;
        if (timestamp.size() < 64) timestamp.append(bytes.substr(0, take));
        if (space == std::string_view::npos) return;
        in_timestamp = false;
        bytes.remove_prefix(space + 1);
        if (std::string next = since_after(timestamp);
            !next.empty() && (furthest.empty() || position_before(furthest, next))) {
          furthest = next;
          last_position = next;
        }
      }
    }
    std::ofstream& to = stream == 2 ? err : out;
    to.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  });
  return stream_body(socket, parser, rest, [&](std::string_view piece) {
    demux.feed(piece);
    out.flush();
    err.flush();
    if (!last_position.empty()) {
      // Written after the output it covers is flushed: a crash between the two copies a line
      // twice rather than losing it.
      std::ofstream(position, std::ios::trunc) << last_position << "\n";
      last_position.clear();
    }
  });
}

Status Engine::events(const std::map<std::string, std::string>& labels,
                      const std::function<void(const ContainerEvent&)>& on_event,
                      Cancellation* cancel, const std::function<void()>& on_subscribed) {
  Socket socket(std::nullopt, cancel);
  TESSERA_RETURN_IF_ERROR(socket.connect(options_.socket_path));
  auto since = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch()) -
               std::chrono::seconds(1);
  TESSERA_RETURN_IF_ERROR(socket.send_all(
      request_text("GET",
                   path("/events?since=" + std::to_string(since.count()) +
                        "&filters=" + label_filters(labels, {{"type", {"container"}}})),
                   "")));
  http::response_parser<http::string_body> parser;
  std::string rest;
  TESSERA_RETURN_IF_ERROR(read_header(socket, parser, rest));
  if (parser.get().result_int() != 200) {
    return make_error(code_of(parser.get().result_int()), "the Docker daemon refused its events");
  }
  if (on_subscribed) on_subscribed();
  std::string line;
  Status streamed = stream_body(socket, parser, rest, [&](std::string_view piece) {
    for (char c : piece) {
      if (c != '\n') {
        // One event is a few hundred bytes; a line without end is not an event.
        if (line.size() < size_t{1024} * 1024) line.push_back(c);
        continue;
      }
      boost::system::error_code ec;
      json::value value = json::parse(line, ec);
      line.clear();
      if (ec || !value.is_object()) continue;
      const json::object& object = value.as_object();
      ContainerEvent event;
      event.action = string_at(object, "Action");
      if (const json::value* actor = object.if_contains("Actor");
          actor != nullptr && actor->is_object()) {
        event.id = string_at(actor->as_object(), "ID");
        event.attributes = string_map(actor->as_object().if_contains("Attributes"));
      }
      on_event(event);
    }
  });
  if (!streamed) return streamed;
  return make_error(ErrorCode::kUnavailable, "the Docker daemon ended its event stream");
}

}  // namespace tessera::docker
