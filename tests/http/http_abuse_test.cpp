// Clients that misbehave, against the HTTP server on a real socket: malformed requests,
// oversized headers and bodies, clients that leave in the middle of a body or a stream,
// slowloris, too many connections, subscribers and readers that stop reading, and a thousand
// concurrent keep-alive connections. After each, a connection that was open before the abuse
// and a new curl request are both still served.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include "http_support.h"

namespace {

using namespace std::chrono_literals;
using namespace tessera::testing::http;
using tessera::testing::TempDir;
namespace http = tessera::sdk::http;
using http::Method;

void ok_route(tessera::sdk::EventLoop&, http::Server& s) {
  s.route(Method::get, "/ok", [](const http::Request&) { return http::Response::text("ok"); });
  s.route(Method::post, "/upload", [](const http::Request& r) {
    return http::Response::text(std::to_string(r.body().size()));
  });
}

// The server still answers a connection opened before the abuse, and a fresh curl.
void expect_still_serving(ServerThread& server, RawClient& bystander, const TempDir& dir) {
  ASSERT_TRUE(bystander.send(get_request("/ok")));
  auto reply = bystander.read_reply();
  ASSERT_TRUE(reply) << "the bystander's connection was lost";
  EXPECT_EQ(reply->status, 200);
  auto fresh = curl(dir, {server.url("/ok")});
  EXPECT_EQ(fresh.status, 200) << fresh.output;
  EXPECT_EQ(fresh.body, "ok");
}

// Sends `bytes` on a new connection and returns the answer; expects the server to close after it.
std::optional<Reply> answer_and_close(ServerThread& server, const std::string& bytes) {
  RawClient client(server.port());
  client.send(bytes);
  auto reply = client.read_reply();
  EXPECT_TRUE(reply && reply->closes) << bytes;
  EXPECT_TRUE(client.read_to_eof()) << "the server kept the connection open after: " << bytes;
  return reply;
}

TEST(HttpAbuse, MalformedRequestsAre400AndCloseTheirConnectionOnly) {
  TempDir dir;
  ServerThread server(ok_route);
  RawClient bystander(server.port());
  const std::vector<std::string> malformed = {
      "GARBAGE\r\n\r\n",
      "GET /\r\n\r\n",
      "GET /a b HTTP/1.1\r\nHost: localhost\r\n\r\n",
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 17),
      "GET /ok HTTP/1.1\r\nHost: localhost\r\nBad Header Line\r\n\r\n",
      "GET /ok HTTP/1.1\r\n\r\n",                                           // HTTP/1.1 without Host
      "GET /ok HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n",  // two Hosts
      "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n",
      "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: "
      "2\r\n\r\nxx",
      "POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
      "GET /%zz HTTP/1.1\r\nHost: localhost\r\n\r\n",
  };
  for (const std::string& request : malformed) {
    auto reply = answer_and_close(server, request);
    ASSERT_TRUE(reply) << request;
    EXPECT_EQ(reply->status, 400) << request;
    EXPECT_EQ(reply->header("Content-Type"), "application/json");
  }
  EXPECT_TRUE(server.log().contains("(400)")) << server.log().all();
  EXPECT_TRUE(server.log().contains("Host header"));
  EXPECT_EQ(server.stats().bad_requests, malformed.size());
  expect_still_serving(server, bystander, dir);
}

TEST(HttpAbuse, OversizedHeadersAre431) {
  TempDir dir;
  http::ServerOptions options;
  options.max_header_bytes = 4096;
  ServerThread server(ok_route, options);
  RawClient bystander(server.port());
  auto big_header =
      answer_and_close(server, get_request("/ok", "Cookie: " + std::string(8000, 'c') + "\r\n"));
  ASSERT_TRUE(big_header);
  EXPECT_EQ(big_header->status, 431);
  auto long_line = answer_and_close(server, get_request("/" + std::string(8000, 'a')));
  ASSERT_TRUE(long_line);
  EXPECT_EQ(long_line->status, 431);
  // Many small headers count together.
  std::string many;
  for (int i = 0; i < 400; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  auto many_headers = answer_and_close(server, get_request("/ok", many));
  ASSERT_TRUE(many_headers);
  EXPECT_EQ(many_headers->status, 431);
  auto with_curl = curl(dir, {"-H", "X-Big: " + std::string(5000, 'x'), server.url("/ok")});
  EXPECT_EQ(with_curl.status, 431) << with_curl.output;
  EXPECT_TRUE(server.log().contains("request header larger than 4096 bytes (431)"));
  EXPECT_EQ(server.stats().header_too_large, 4u);
  expect_still_serving(server, bystander, dir);
}

TEST(HttpAbuse, OversizedBodiesAre413WithoutReadingThem) {
  TempDir dir;
  http::ServerOptions options;
  options.max_body_bytes = 64 * 1024;
  ServerThread server(ok_route, options);
  RawClient bystander(server.port());
  // Declared too large: answered at once, before a byte of the body is sent.
  RawClient declared(server.port());
  declared.send("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10000000000\r\n\r\n");
  auto reply = declared.read_reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 413);
  // Chunked, and too large only once the chunks add up.
  RawClient chunked(server.port());
  chunked.send("POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string chunk = "4000\r\n" + std::string(0x4000, 'b') + "\r\n";
  for (int i = 0; i < 5; ++i) chunked.send(chunk);
  auto chunked_reply = chunked.read_reply();
  ASSERT_TRUE(chunked_reply);
  EXPECT_EQ(chunked_reply->status, 413);
  // curl with a 2 MiB file (it sends Expect: 100-continue and waits): 413 instead of 100.
  auto file = dir.write("big", std::string(2 * 1024 * 1024, 'x'));
  auto with_curl = curl(dir, {"--data-binary", "@" + file.string(), server.url("/upload")});
  EXPECT_EQ(with_curl.status, 413) << with_curl.output;
  // Just within the limit is fine.
  auto fits = dir.write("fits", std::string(64 * 1024, 'y'));
  auto accepted = curl(dir, {"--data-binary", "@" + fits.string(), server.url("/upload")});
  EXPECT_EQ(accepted.status, 200) << accepted.output;
  EXPECT_EQ(accepted.body, "65536");
  EXPECT_TRUE(server.log().contains("request body larger than 65536 bytes (413)"));
  expect_still_serving(server, bystander, dir);
}

TEST(HttpAbuse, AClientLeavingMidBodyIsForgotten) {
  TempDir dir;
  ServerThread server(ok_route);
  RawClient bystander(server.port());
  {
    RawClient leaving(server.port());
    leaving.send("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n" +
                 std::string(1000, 'z'));
    ASSERT_TRUE(eventually([&] { return server.stats().open_connections == 2; }));
  }
  ASSERT_TRUE(eventually([&] { return server.stats().client_aborts == 1; }));
  {
    // A reset instead of a clean close, once the server is reading the body (its "100
    // Continue" says so: a reset before it read anything would be a client that never asked).
    RawClient reset(server.port());
    reset.send(
        "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n"
        "Expect: 100-continue\r\n\r\n");
    ASSERT_TRUE(reset.read_until("100 Continue\r\n\r\n"));
    reset.send("abc");
    ASSERT_TRUE(eventually([&] { return server.stats().open_connections == 2; }));
    linger hard{1, 0};
    setsockopt(reset.fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  }
  ASSERT_TRUE(eventually([&] { return server.stats().open_connections == 1; }));
  EXPECT_EQ(server.stats().client_aborts, 2u);
  expect_still_serving(server, bystander, dir);
}

TEST(HttpAbuse, AClientLeavingMidStreamEndsItsStreamOnly) {
  TempDir dir;
  std::unique_ptr<http::EventBroadcaster> events;
  int closed_streams = 0;
  ServerThread server([&](tessera::sdk::EventLoop& loop, http::Server& s) {
    ok_route(loop, s);
    events = std::make_unique<http::EventBroadcaster>();
    s.route(Method::get, "/events", [&](const http::Request& r) { return events->subscribe(r); });
    s.route(Method::get, "/ticks", [&](const http::Request&) {
      return http::Response::chunked("text/plain", [&](http::Stream stream) {
        stream.on_close([&] { ++closed_streams; });
        auto timer = std::make_shared<tessera::sdk::EventLoop::TimerId>();
        *timer = loop.every(5ms, [&loop, stream, timer]() mutable {
          if (!stream.write("tick\n")) loop.cancel(*timer);
        });
      });
    });
  });
  RawClient bystander(server.port());
  {
    RawClient ticks(server.port());
    ticks.send(get_request("/ticks"));
    ASSERT_TRUE(ticks.read_until("tick\n\r\n5\r\ntick\n"));  // two chunks
  }
  ASSERT_TRUE(eventually([&] { return server.run([&] { return closed_streams; }) == 1; }));
  {
    RawClient subscriber(server.port());
    subscriber.send(get_request("/events"));
    ASSERT_TRUE(subscriber.read_until(":ok\n\n"));
    ASSERT_TRUE(eventually([&] { return server.run([&] { return events->subscribers(); }) == 1; }));
  }
  // Noticed from the socket alone, without publishing anything.
  ASSERT_TRUE(eventually([&] { return server.run([&] { return events->subscribers(); }) == 0; }));
  EXPECT_EQ(server.stats().open_streams, 0u);
  EXPECT_EQ(server.stats().client_aborts, 2u);
  expect_still_serving(server, bystander, dir);
  server.destroy(events);
}

TEST(HttpAbuse, SlowlorisGets408AndSilentConnectionsAreClosed) {
  TempDir dir;
  http::ServerOptions options;
  options.request_timeout = 300ms;
  // Longer than the request timeout: the bystander sits idle while the abusers' answers are
  // read below, and a loaded machine must not make that look like an idle connection.
  options.idle_timeout = 2s;
  ServerThread server(ok_route, options);
  // Connected after the abusers below, so that its idle timer does not expire first.
  std::optional<RawClient> bystander;

  // One header byte every 20 ms: never done within 300 ms.
  RawClient slow(server.port());
  RawClient slow_body(server.port());
  RawClient silent(server.port());
  bystander.emplace(server.port());
  slow_body.send(
      "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789");
  slow.send("GET /ok HTTP/1.1\r\n");
  std::string header = "X-Slow: " + std::string(200, 's') + "\r\n";
  std::optional<Reply> slow_reply;
  for (char c : header) {
    if (!slow.send(std::string(1, c))) break;
    // Keeps the bystander busy (and its idle timer fresh) while the slow client trickles.
    bystander->send(get_request("/ok"));
    ASSERT_TRUE(bystander->read_reply());
    pollfd p{slow.fd(), POLLIN, 0};
    if (::poll(&p, 1, 20) > 0) break;  // the server answered already
  }
  slow_reply = slow.read_reply();
  ASSERT_TRUE(slow_reply);
  EXPECT_EQ(slow_reply->status, 408);
  EXPECT_TRUE(slow.read_to_eof());

  auto body_reply = slow_body.read_reply();
  ASSERT_TRUE(body_reply);
  EXPECT_EQ(body_reply->status, 408);

  // Sent nothing at all: closed without an answer.
  EXPECT_TRUE(silent.read_to_eof());
  EXPECT_TRUE(silent.buffer().empty()) << silent.buffer();

  EXPECT_TRUE(server.log().contains("request not received within 300 ms (408)"));
  auto stats = server.stats();
  EXPECT_EQ(stats.timeouts, 2u);
  EXPECT_GE(stats.idle_closed, 1u);
  expect_still_serving(server, *bystander, dir);
}

TEST(HttpAbuse, ConnectionsBeyondTheLimitAre503) {
  TempDir dir;
  http::ServerOptions options;
  options.max_connections = 3;
  ServerThread server(ok_route, options);
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<RawClient>(server.port()));
    clients.back()->send(get_request("/ok"));
    ASSERT_TRUE(clients.back()->read_reply());
  }
  auto refused = answer_and_close(server, get_request("/ok"));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_NE(refused->body.find("too many connections (limit 3)"), std::string::npos);
  EXPECT_EQ(curl(dir, {server.url("/ok")}).status, 503);
  EXPECT_TRUE(server.log().contains("too many connections (limit 3) (503)"));

  // One leaves: a new client gets its place.
  clients.pop_back();
  ASSERT_TRUE(eventually([&] { return server.stats().open_connections == 2; }));
  auto fresh = curl(dir, {server.url("/ok")});
  EXPECT_EQ(fresh.status, 200) << fresh.output;
  for (auto& client : clients) {
    client->send(get_request("/ok"));
    auto reply = client->read_reply();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
  }
  EXPECT_EQ(server.stats().busy, 2u);
}

TEST(HttpAbuse, ASubscriberThatStopsReadingIsDroppedAndOthersGetEverything) {
  http::ServerOptions options;
  options.max_stream_buffer_bytes = 64 * 1024;
  std::unique_ptr<http::EventBroadcaster> events;
  ServerThread server(
      [&](tessera::sdk::EventLoop& loop, http::Server& s) {
        ok_route(loop, s);
        events = std::make_unique<http::EventBroadcaster>();
        s.route(Method::get, "/events",
                [&](const http::Request& r) { return events->subscribe(r); });
      },
      options);
  RawClient stuck(server.port(), 20s, 4096);
  stuck.send(get_request("/events"));
  ASSERT_TRUE(stuck.read_until(":ok\n\n"));
  RawClient reader(server.port());
  reader.send(get_request("/events"));
  ASSERT_TRUE(reader.read_until(":ok\n\n"));
  ASSERT_TRUE(eventually([&] { return server.run([&] { return events->subscribers(); }) == 2; }));

  // 4000 events of 4 KiB, far more than the stuck client's socket buffers hold, published in
  // bursts of 10 (40 KiB, under the limit), each once the reader has read the one before: the
  // reader keeps up however slowly this machine runs it (a reader that falls 64 KiB behind is
  // rightly dropped too), while the stuck client's queue grows past the limit.
  const int total = 4000;
  const int burst = 10;
  std::string payload(4096, 'p');
  auto epoch = server.run([&] { return events->epoch(); });
  bool complete = true;
  for (int sent = 0; sent < total && complete; sent += burst) {
    size_t read = reader.buffer().size();
    server.run([&] {
      for (int i = 0; i < burst; ++i) events->publish("data", payload);
      return 0;
    });
    complete = reader.read_until("id: " + epoch + "-" + std::to_string(sent + burst) + "\n", read);
  }
  EXPECT_TRUE(complete) << "the reading subscriber missed events";
  ASSERT_TRUE(eventually([&] { return server.run([&] { return events->subscribers(); }) == 1; }));
  EXPECT_EQ(server.stats().slow_readers, 1u);
  EXPECT_TRUE(server.log().contains("bytes queued and not read (limit 65536)"));
  server.destroy(events);
}

TEST(HttpAbuse, AClientThatStopsReadingAResponseIsClosedAfterTheWriteTimeout) {
  TempDir dir;
  http::ServerOptions options;
  options.write_timeout = 300ms;
  ServerThread server(
      [](tessera::sdk::EventLoop& loop, http::Server& s) {
        ok_route(loop, s);
        s.route(Method::get, "/huge", [](const http::Request&) {
          return http::Response(200, std::string(32 * 1024 * 1024, 'h'));
        });
      },
      options);
  RawClient bystander(server.port());
  RawClient stuck(server.port(), 20s, 4096);
  stuck.send(get_request("/huge"));
  ASSERT_TRUE(eventually([&] { return server.stats().slow_readers == 1; }));
  EXPECT_TRUE(server.log().contains("it read nothing of"));
  expect_still_serving(server, bystander, dir);
}

TEST(HttpAbuse, AThousandConcurrentKeepAliveConnections) {
  // Each connection costs two descriptors here (client and server in one process).
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < 2300 && limit.rlim_max >= 2300) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 4096);
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur < 2300) GTEST_SKIP() << "RLIMIT_NOFILE is " << limit.rlim_cur;

  TempDir dir;
  ServerThread server([](tessera::sdk::EventLoop&, http::Server& s) {
    s.route(Method::get, "/ok", [](const http::Request&) { return http::Response::text("ok"); });
    s.route(Method::get, "/n/{n}", [](const http::Request& r) {
      boost::json::object reply;
      reply["n"] = r.param("n");
      return http::Response::json(reply);
    });
  });
  const int count = 1000;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < count; ++i) clients.push_back(std::make_unique<RawClient>(server.port()));
  ASSERT_TRUE(eventually([&] { return server.stats().open_connections == count; }));

  // Two rounds on every connection; all requests of a round are in flight at once.
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < count; ++i) {
      ASSERT_TRUE(clients[i]->send(get_request("/n/" + std::to_string(i))));
    }
    std::vector<bool> done(count, false);
    int remaining = count;
    auto deadline = Clock::now() + 60s;
    while (remaining > 0 && Clock::now() < deadline) {
      std::vector<pollfd> fds;
      std::vector<int> index;
      for (int i = 0; i < count; ++i) {
        if (done[i]) continue;
        fds.push_back(pollfd{clients[i]->fd(), POLLIN, 0});
        index.push_back(i);
      }
      if (::poll(fds.data(), fds.size(), 1000) <= 0) continue;
      for (size_t k = 0; k < fds.size(); ++k) {
        if ((fds[k].revents & POLLIN) == 0) continue;
        int i = index[k];
        ASSERT_TRUE(clients[i]->fill());
        std::string expected = "{\"n\":\"" + std::to_string(i) + "\"}";
        if (clients[i]->buffer().find(expected) == std::string::npos) continue;
        auto reply = clients[i]->read_reply();
        ASSERT_TRUE(reply);
        EXPECT_EQ(reply->status, 200);
        EXPECT_FALSE(reply->closes);
        done[i] = true;
        --remaining;
      }
    }
    ASSERT_EQ(remaining, 0) << "round " << round;
  }
  auto with_all_open = curl(dir, {server.url("/ok")});
  EXPECT_EQ(with_all_open.status, 200) << with_all_open.output;
  auto stats = server.stats();
  EXPECT_EQ(stats.accepted, count + 1u);
  EXPECT_EQ(stats.requests, 2u * count + 1u);
  EXPECT_EQ(stats.open_connections, count);
  clients.clear();
  ASSERT_TRUE(eventually([&] { return server.stats().open_connections == 0; }));
}

}  // namespace
