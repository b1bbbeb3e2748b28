// http::Client on real sockets: a standby-shaped server that proxies every request to a
// leader-shaped server (method, target, headers and body there; status, headers and body
// back), and the errors a client sees: a refused connection, no answer in time, an answer over
// the size limit, a malformed answer.
#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "http_support.h"
#include "tessera/sdk/http/client.h"

namespace {

using namespace std::chrono_literals;
using namespace tessera::testing::http;
namespace http = tessera::sdk::http;
using http::Method;

// A port nobody listens on: bound, then closed.
uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// Sends one request from the loop of `thread` and waits for its reply.
http::ClientReply send_from(ServerThread& thread, std::unique_ptr<http::Client>& client,
                            const std::string& address, http::ClientRequest request) {
  std::promise<http::ClientReply> promise;
  auto reply = promise.get_future();
  thread.run([&] {
    client->send(address, std::move(request),
                 [&promise](http::ClientReply r) { promise.set_value(std::move(r)); });
    return 0;
  });
  EXPECT_EQ(reply.wait_for(30s), std::future_status::ready);
  return reply.get();
}

TEST(HttpClient, AStandbyProxiesRequestsToTheLeaderAndBack) {
  ServerThread leader([](auto&, http::Server& s) {
    s.route(Method::post, "/v2/apps", [](const http::Request& r) {
      boost::json::object echo;
      echo["body"] = r.body();
      echo["contentType"] = r.header("Content-Type");
      echo["via"] = r.header("X-Marathon-Via");
      echo["target"] = r.target();
      http::Response response = http::Response::json(echo, 201);
      response.set_header("Location", "/v2/apps/web");
      return response;
    });
    s.route(Method::get, "/big",
            [](const http::Request&) { return http::Response(200, std::string(300000, 'x')); });
  });
  std::string leader_address = "127.0.0.1:" + std::to_string(leader.port());

  std::unique_ptr<http::Client> client;
  ServerThread standby([&](tessera::sdk::EventLoop& loop, http::Server& s) {
    client = std::make_unique<http::Client>(loop);
    s.route_async(Method::post, "/v2/apps", [&](const http::Request& r, http::Responder answer) {
      http::ClientRequest forwarded = http::proxied_request(r);
      forwarded.headers.emplace_back("X-Marathon-Via", "1.1 standby");
      auto responder = std::make_shared<http::Responder>(std::move(answer));
      client->send(leader_address, std::move(forwarded), [responder](http::ClientReply reply) {
        if (!reply.error.empty()) {
          responder->send(http::json_error(502, reply.error));
          return;
        }
        responder->send(http::proxied_response(std::move(reply)));
      });
    });
  });

  RawClient raw(standby.port());
  std::string body = R"({"id": "/web", "cmd": "sleep 1"})";
  raw.send(
      "POST /v2/apps?force=true HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  auto reply = raw.read_reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 201) << reply->head << reply->body;
  EXPECT_EQ(reply->header("Location"), "/v2/apps/web");
  auto echo = boost::json::parse(reply->body);
  EXPECT_EQ(echo.at("body").as_string(), body);
  EXPECT_EQ(echo.at("contentType"), "application/json");
  EXPECT_EQ(echo.at("via"), "1.1 standby");
  EXPECT_EQ(echo.at("target"), "/v2/apps?force=true");

  // A large answer arrives whole; one over the limit is refused.
  auto big = send_from(standby, client, leader_address, {"GET", "/big", {}, ""});
  EXPECT_TRUE(big.error.empty()) << big.error;
  EXPECT_EQ(big.body.size(), 300000u);
  http::ClientOptions small;
  small.max_reply_bytes = 1000;
  standby.run([&] {
    client = std::make_unique<http::Client>(standby.loop(), small);
    return 0;
  });
  auto too_big = send_from(standby, client, leader_address, {"GET", "/big", {}, ""});
  EXPECT_EQ(too_big.status, 0u);
  EXPECT_NE(too_big.error.find("malformed answer"), std::string::npos) << too_big.error;
  standby.destroy(client);
}

TEST(HttpClient, ARefusedConnectionASilentServerAndGarbageAreErrors) {
  std::unique_ptr<http::Client> client;
  std::vector<http::Responder> unanswered;
  ServerThread silent([&](tessera::sdk::EventLoop& loop, http::Server& s) {
    http::ClientOptions options;
    options.timeout = 300ms;
    client = std::make_unique<http::Client>(loop, options);
    // Answers never: the responder is kept until the server stops.
    s.route_async(Method::get, "/never", [&unanswered](const http::Request&, http::Responder r) {
      unanswered.push_back(std::move(r));
    });
  });

  auto refused =
      send_from(silent, client, "127.0.0.1:" + std::to_string(closed_port()), {"GET", "/", {}, ""});
  EXPECT_EQ(refused.status, 0u);
  EXPECT_NE(refused.error.find("refused"), std::string::npos) << refused.error;

  auto timed_out = send_from(silent, client, "127.0.0.1:" + std::to_string(silent.port()),
                             {"GET", "/never", {}, ""});
  EXPECT_NE(timed_out.error.find("no answer"), std::string::npos) << timed_out.error;

  auto not_an_address = send_from(silent, client, "no-port", {"GET", "/", {}, ""});
  EXPECT_NE(not_an_address.error.find("HOST:PORT"), std::string::npos) << not_an_address.error;

  // A peer that answers something that is not HTTP.
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  socklen_t length = sizeof address;
  getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  std::thread garbage([listener] {
    int peer = ::accept(listener, nullptr, nullptr);
    if (peer < 0) return;
    char buffer[4096];
    (void)::recv(peer, buffer, sizeof buffer, 0);
    const char text[] = "SMTP ready\r\n\r\n";
    (void)::send(peer, text, sizeof text - 1, MSG_NOSIGNAL);
    ::close(peer);
  });
  auto garbled = send_from(silent, client, "127.0.0.1:" + std::to_string(ntohs(address.sin_port)),
                           {"GET", "/", {}, ""});
  garbage.join();
  ::close(listener);
  EXPECT_EQ(garbled.status, 0u);
  EXPECT_NE(garbled.error.find("malformed answer"), std::string::npos) << garbled.error;
  silent.destroy(client);
  silent.run([&] {
    unanswered.clear();
    return 0;
  });
}

}  // namespace
