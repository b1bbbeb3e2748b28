// master_http's reverse proxy end to end: a real master host serving /marathon/... and
// /chronos/... from the Marathon and Chronos plugins running in it, and, for the hostile cases,
// an upstream in the test process that hangs, answers garbage or an endless body, then goes
// away. curl and a raw socket are the clients.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <future>
#include <regex>
#include <thread>

#include "http/http_support.h"
#include "support/cluster.h"
#include "support/zookeeper.h"

namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using tessera::testing::Cluster;
using tessera::testing::MasterSettings;
using tessera::testing::TempDir;
using tessera::testing::http::curl;
using tessera::testing::http::CurlResult;
using tessera::testing::http::eventually;
using tessera::testing::http::RawClient;

// A TCP port on loopback that was free a moment ago: the frameworks' HTTP servers need an
// address known before the host starts, since master_http's TOML names it.
int free_port() { return tessera::testing::ZooKeeperServers::free_port(); }

// An upstream that misbehaves as its request's path says: /hang never answers, /garbage
// answers bytes that are not HTTP, /endless promises a gigabyte and sends until the proxy hangs
// up; anything else is answered 200 with what it received (target and headers) as JSON, and a
// Location on the upstream for /redirect.
class HostileUpstream {
 public:
  HostileUpstream() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      throw std::runtime_error("cannot listen");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~HostileUpstream() { stop(); }

  void stop() {
    if (stopped_.exchange(true)) return;
    thread_.join();
    ::close(fd_);
    for (int held : held_) ::close(held);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }

 private:
  void serve() {
    while (!stopped_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      timeval tv{5, 0};
      setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      std::string request;
      char buffer[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        request.append(buffer, static_cast<size_t>(n));
      }
      ++requests_;
      answer(client, request);
    }
  }

  void send_all(int client, const std::string& bytes) {
    (void)::send(client, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }

  void answer(int client, const std::string& request) {
    std::string line = request.substr(0, request.find("\r\n"));
    std::string target = line.substr(line.find(' ') + 1);
    target = target.substr(0, target.rfind(' '));
    if (target == "/hang") {
      held_.push_back(client);  // read, never answered, closed when the test ends
      return;
    }
    if (target == "/garbage") {
      send_all(client, "SSH-2.0-OpenSSH_9.2\r\n\x01\x02\x03 not http at all\r\n\r\n");
    } else if (target == "/endless") {
      send_all(client, "HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n");
      std::string chunk(64 * 1024, 'x');
      // Until the proxy, past its reply bound, hangs up.
      while (::send(client, chunk.data(), chunk.size(), MSG_NOSIGNAL) > 0) {
      }
    } else {
      json::object echo;
      echo["request"] = request;
      echo["target"] = target;
      std::string body = json::serialize(echo);
      std::string extra = target == "/redirect" ? "Location: /v2/apps/moved\r\n" : "";
      send_all(client, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra +
                           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    }
    ::close(client);
  }

  int fd_;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
  std::atomic<int> requests_{0};
  std::vector<int> held_;
  std::thread thread_;
};

class MasterHttpProxy : public ::testing::Test {
 protected:
  void start(const std::string& master_http_keys, const std::string& more = "") {
    MasterSettings settings;
    settings.node_extra = "services = [\"master_http\"]\n";
    settings.extra =
        more + "\n[plugins.master_http]\naddress = \"127.0.0.1:0\"\n" + master_http_keys;
    ASSERT_TRUE(cluster_.start_master(settings));
    std::regex line("master_http\\.http = \"([^\"]+)\"");
    std::smatch m;
    ASSERT_TRUE(eventually([&] {
      std::string text = tessera::testing::read_file(dir_ / "master.endpoints");
      return std::regex_search(text, m, line);
    }));
    address_ = m[1];
    port_ = static_cast<uint16_t>(std::stoi(address_.substr(address_.rfind(':') + 1)));
  }

  CurlResult call(const std::string& method, const std::string& path, const std::string& body = "",
                  std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"-X", method, "--path-as-is"};
    if (!body.empty()) {
      args.insert(args.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("http://" + address_ + path);
    return curl(dir_, args);
  }
  static json::value parse(const std::string& text) {
    boost::system::error_code ec;
    json::value value = json::parse(text, ec);
    return ec ? json::value(nullptr) : value;
  }
  static std::string message_of(const CurlResult& r) {
    json::value value = parse(r.body);
    if (!value.is_object() || !value.as_object().contains("message")) return "";
    return std::string(value.at("message").as_string());
  }
  // What the API answers /health with: it must keep serving whatever a proxied request did.
  void expect_still_serving() {
    CurlResult health = call("GET", "/health");
    EXPECT_EQ(health.status, 200) << health.body;
  }

  TempDir dir_;
  Cluster cluster_{dir_};
  std::string address_;
  uint16_t port_ = 0;
};

TEST_F(MasterHttpProxy, MarathonAndChronosAnswerThroughTheMastersOrigin) {
  std::string marathon = "127.0.0.1:" + std::to_string(free_port());
  std::string chronos = "127.0.0.1:" + std::to_string(free_port());
  start("marathon = \"" + marathon + "\"\nchronos = \"" + chronos + "\"\n",
        "frameworks = [\"framework_marathon\", \"framework_chronos\"]\n"
        "[plugins.framework_marathon]\nhttp_address = \"" +
            marathon + "\"\n[plugins.framework_chronos]\naddress = \"" + chronos + "\"\n");

  json::value state = parse(call("GET", "/state").body);
  ASSERT_TRUE(state.is_object());
  EXPECT_EQ(state.at("frameworks_http"),
            (json::object{{"marathon", "/marathon"}, {"chronos", "/chronos"}}));

  // Both frameworks answer once they have read their state from the store.
  ASSERT_TRUE(eventually([&] { return call("GET", "/marathon/v2/apps").status == 200; }, 60s))
      << cluster_.master().output();
  ASSERT_TRUE(
      eventually([&] { return call("GET", "/chronos/v1/scheduler/jobs").status == 200; }, 60s))
      << cluster_.master().output();

  CurlResult created = call("POST", "/marathon/v2/apps",
                            R"({"id":"/proxied/web","cmd":"sleep 60","cpus":0.1,"mem":16,)"
                            R"("instances":1})");
  EXPECT_EQ(created.status, 201) << created.body;
  // An app id with its slash encoded reaches Marathon as the client wrote it.
  json::value app = parse(call("GET", "/marathon/v2/apps/proxied/web").body);
  ASSERT_TRUE(app.is_object()) << app;
  EXPECT_EQ(app.at("app").at("id").as_string(), "/proxied/web");
  // With no agent its deployment stays under way: scaling overrides it, as Marathon's users do.
  CurlResult scaled = call("PUT", "/marathon/v2/apps/proxied/web?force=true", R"({"instances":3})");
  EXPECT_EQ(scaled.status, 200) << scaled.body;
  app = parse(call("GET", "/marathon/v2/apps/proxied/web").body);
  EXPECT_EQ(app.at("app").at("instances").to_number<int64_t>(), 3) << app;
  EXPECT_EQ(call("DELETE", "/marathon/v2/apps/proxied/web?force=true").status, 200);

  // A page of the master's own UI changes Marathon through the proxy: the browser sends the
  // master's origin, which Marathon (at its own address) would refuse. A page of another site is
  // refused by the master, and nothing reaches Marathon.
  CurlResult from_ui =
      call("POST", "/marathon/v2/apps", R"({"id":"/from-ui","cmd":"sleep 60","cpus":0.1,"mem":16})",
           {"-H", "Origin: http://" + address_});
  EXPECT_EQ(from_ui.status, 201) << from_ui.body;
  CurlResult from_elsewhere =
      call("POST", "/marathon/v2/apps", R"({"id":"/evil","cmd":"sleep 60","cpus":0.1,"mem":16})",
           {"-H", "Origin: http://evil.example"});
  EXPECT_EQ(from_elsewhere.status, 403) << from_elsewhere.body;
  EXPECT_NE(message_of(from_elsewhere).find("evil.example"), std::string::npos);
  EXPECT_EQ(call("GET", "/marathon/v2/apps/evil").status, 404);
  EXPECT_EQ(call("DELETE", "/marathon/v2/apps/from-ui?force=true", "",
                 {"-H", "Origin: http://evil.example"})
                .status,
            403);
  EXPECT_EQ(
      call("GET", "/marathon/v2/apps/from-ui", "", {"-H", "Origin: http://evil.example"}).status,
      200)
      << "reading is not a change";
  EXPECT_EQ(call("DELETE", "/marathon/v2/apps/from-ui?force=true", "",
                 {"-H", "Origin: http://" + address_})
                .status,
            200);

  // Chronos: a job and one that depends on it, and the edge in its dependency graph.
  EXPECT_EQ(call("POST", "/chronos/v1/scheduler/iso8601",
                 R"({"name":"parent","command":"true","schedule":"R/2099-01-01T00:00:00Z/PT1H",)"
                 R"("cpus":0.1,"mem":16})")
                .status,
            204);
  EXPECT_EQ(call("POST", "/chronos/v1/scheduler/dependency",
                 R"({"name":"child","command":"true","parents":["parent"],"cpus":0.1,"mem":16})")
                .status,
            204);
  json::value jobs = parse(call("GET", "/chronos/v1/scheduler/jobs").body);
  ASSERT_TRUE(jobs.is_array()) << jobs;
  EXPECT_EQ(jobs.as_array().size(), 2u);
  bool edge = false;
  for (const auto& job : jobs.as_array()) {
    if (job.at("name") == "child") edge = job.at("parents") == json::array{"parent"};
  }
  EXPECT_TRUE(edge) << jobs;
  CurlResult dot = call("GET", "/chronos/v1/scheduler/graph/dot");
  EXPECT_EQ(dot.status, 200);
  EXPECT_NE(dot.body.find("digraph"), std::string::npos) << dot.body;

  // Marathon's event stream is refused with where to read it, not held open.
  CurlResult events = call("GET", "/marathon/v2/events");
  EXPECT_EQ(events.status, 501);
  EXPECT_NE(message_of(events).find("http://" + marathon + "/v2/events"), std::string::npos)
      << events.body;

  // The proxy is counted.
  CurlResult metrics = call("GET", "/metrics");
  EXPECT_NE(metrics.body.find("tessera_master_http_proxied_total"), std::string::npos);
  expect_still_serving();
}

TEST_F(MasterHttpProxy, HostileRequestsAndUpstreamsGetClearAnswersAndTheApiKeepsServing) {
  HostileUpstream upstream;
  // Marathon is the hostile upstream; Chronos is not configured.
  start("marathon = \"" + upstream.address() +
        "\"\nproxy_timeout_ms = 1500\nproxy_max_reply_bytes = 1048576\n");

  json::value state = parse(call("GET", "/state").body);
  EXPECT_EQ(state.at("frameworks_http"), (json::object{{"marathon", "/marathon"}}));

  // What the upstream sees: the path under /marathon, the query as sent, who asked.
  CurlResult echoed = call("GET", "/marathon/v2/apps/a%2Fb?embed=apps.counts");
  ASSERT_EQ(echoed.status, 200) << echoed.body;
  json::value echo = parse(echoed.body);
  EXPECT_EQ(echo.at("target").as_string(), "/v2/apps/a%2Fb?embed=apps.counts");
  std::string seen(echo.at("request").as_string());
  EXPECT_NE(seen.find("X-Forwarded-For: 127.0.0.1"), std::string::npos) << seen;
  EXPECT_NE(seen.find("X-Forwarded-Prefix: /marathon"), std::string::npos) << seen;
  // A redirect on the upstream is followed through the master.
  CurlResult redirect = call("GET", "/marathon/redirect", "", {"-D", "-"});
  EXPECT_NE(redirect.output.find("/marathon/v2/apps/moved"), std::string::npos) << redirect.output;

  // No upstream for Chronos: 404 that says how to configure one.
  CurlResult absent = call("GET", "/chronos/v1/scheduler/jobs");
  EXPECT_EQ(absent.status, 404);
  EXPECT_NE(message_of(absent).find("chronos = \"HOST:PORT\""), std::string::npos) << absent.body;

  // Climbing out of /marathon, plainly or percent-encoded: refused before anything is sent.
  int before = upstream.requests();
  for (const char* path :
       {"/marathon/../state", "/marathon/%2e%2e/state", "/marathon/v2/%2E%2E/%2e%2e/health"}) {
    RawClient raw(port_, 20s);
    ASSERT_TRUE(raw.send(tessera::testing::http::get_request(path)));
    auto reply = raw.read_reply();
    ASSERT_TRUE(reply) << path;
    EXPECT_EQ(reply->status, 400) << path << ": " << reply->body;
    EXPECT_NE(reply->body.find("'..' segment"), std::string::npos) << reply->body;
  }
  EXPECT_EQ(upstream.requests(), before);

  // Absurd lengths: a long target is refused by the proxy, a huge one by the server.
  CurlResult long_target = call("GET", "/marathon/v2/apps/" + std::string(6000, 'a'));
  EXPECT_EQ(long_target.status, 414) << long_target.body;
  {
    RawClient raw(port_, 20s);
    ASSERT_TRUE(raw.send(
        tessera::testing::http::get_request("/marathon/v2/apps/" + std::string(200'000, 'a'))));
    auto reply = raw.read_reply();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 431) << reply->body;
  }
  auto body = dir_.write("huge.json", "{\"id\":\"" + std::string(8 << 20, 'a') + "\"}");
  CurlResult huge_body =
      call("POST", "/marathon/v2/apps", "",
           {"-H", "Content-Type: application/json", "--data-binary", "@" + body.string()});
  EXPECT_EQ(huge_body.status, 413) << huge_body.output;
  EXPECT_EQ(upstream.requests(), before);

  // An upstream that hangs: 504 after the proxy's timeout, while other requests are served.
  auto hanging = std::async(std::launch::async, [&] { return call("GET", "/marathon/hang"); });
  expect_still_serving();
  CurlResult hung = hanging.get();
  EXPECT_EQ(hung.status, 504) << hung.body;
  EXPECT_NE(message_of(hung).find("within 1500 ms"), std::string::npos) << hung.body;

  // Garbage, and a reply past the proxy's bound: 502 with the reason.
  CurlResult garbage = call("GET", "/marathon/garbage");
  EXPECT_EQ(garbage.status, 502) << garbage.body;
  EXPECT_NE(message_of(garbage).find("malformed answer"), std::string::npos) << garbage.body;
  CurlResult endless = call("GET", "/marathon/endless");
  EXPECT_EQ(endless.status, 502) << endless.body;
  EXPECT_NE(message_of(endless).find("marathon at '" + upstream.address() + "'"), std::string::npos)
      << endless.body;

  // The upstream goes away: 502, connection refused.
  upstream.stop();
  CurlResult down = call("GET", "/marathon/v2/apps");
  EXPECT_EQ(down.status, 502) << down.body;
  EXPECT_NE(message_of(down).find("did not answer"), std::string::npos) << down.body;

  CurlResult metrics = call("GET", "/metrics");
  EXPECT_NE(metrics.body.find("tessera_master_http_proxy_failures_total 4"), std::string::npos)
      << metrics.body;
  expect_still_serving();
}

}  // namespace
