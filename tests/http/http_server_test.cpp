// The HTTP server on a real socket, driven by an EventLoop thread as in a plugin, against curl
// and raw clients: routing and parameters, JSON in and out, keep-alive and pipelining, chunked
// responses, answers of kept pieces, Server-Sent Events with Last-Event-ID resume, answers given
// later, static files, the authorization hook, and handlers that fail.
#include <gtest/gtest.h>

#include "http_support.h"

namespace {

using namespace std::chrono_literals;
using namespace tessera::testing::http;
using tessera::testing::TempDir;
namespace http = tessera::sdk::http;
using http::Method;

boost::json::value parse(const std::string& text) {
  boost::system::error_code ec;
  auto value = boost::json::parse(text, ec);
  EXPECT_FALSE(ec) << text;
  return value;
}

// A Marathon- and Chronos-shaped set of routes.
void api_routes(tessera::sdk::EventLoop&, http::Server& server, std::thread::id* handler_thread) {
  server.route(Method::get, "/v2/apps/{id*}", [handler_thread](const http::Request& r) {
    *handler_thread = std::this_thread::get_id();
    boost::json::object app;
    app["id"] = "/" + std::string(r.param("id"));
    app["embed"] = r.query("embed").value_or("none");
    return http::Response::json(app);
  });
  server.route(Method::post, "/v2/apps/{id*}/restart", [](const http::Request& r) {
    boost::json::object reply;
    reply["restarted"] = "/" + std::string(r.param("id"));
    reply["force"] = r.query("force").has_value();
    return http::Response::json(reply);
  });
  server.route(Method::get, "/v1/scheduler/job/{name}", [](const http::Request& r) {
    boost::json::object job;
    job["name"] = r.param("name");
    return http::Response::json(job);
  });
  server.route(Method::post, "/v2/apps", [](const http::Request& r) {
    auto body = r.json();
    if (!body) return http::json_error(body.error());  // 400: invalid argument
    if (!body->is_object() || !body->as_object().contains("id")) {
      return http::json_error(422, "an app needs an 'id'");
    }
    return http::Response::json(*body, 201);
  });
}

TEST(HttpServer, RoutesPathAndQueryParametersWithCurlOnThePluginThread) {
  TempDir dir;
  std::thread::id handler_thread;
  ServerThread server([&](auto& loop, auto& s) { api_routes(loop, s, &handler_thread); });

  auto app = curl(dir, {server.url("/v2/apps/prod/web/api?embed=apps.tasks")});
  ASSERT_EQ(app.status, 200) << app.output;
  EXPECT_EQ(parse(app.body).at("id").as_string(), "/prod/web/api");
  EXPECT_EQ(parse(app.body).at("embed").as_string(), "apps.tasks");
  EXPECT_EQ(handler_thread, server.loop_thread());

  auto restart = curl(dir, {"-X", "POST", server.url("/v2/apps/prod/web/restart?force")});
  ASSERT_EQ(restart.status, 200) << restart.output;
  EXPECT_EQ(parse(restart.body).at("restarted").as_string(), "/prod/web");
  EXPECT_TRUE(parse(restart.body).at("force").as_bool());

  auto job = curl(dir, {server.url("/v1/scheduler/job/nightly%20backup")});
  ASSERT_EQ(job.status, 200) << job.output;
  EXPECT_EQ(parse(job.body).at("name").as_string(), "nightly backup");

  auto missing = curl(dir, {server.url("/v3/nothing")});
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(parse(missing.body).at("message").as_string(), "no resource at '/v3/nothing'");

  RawClient raw(server.port());
  raw.send("DELETE /v1/scheduler/job/x HTTP/1.1\r\nHost: localhost\r\n\r\n");
  auto not_allowed = raw.read_reply();
  ASSERT_TRUE(not_allowed);
  EXPECT_EQ(not_allowed->status, 405);
  EXPECT_EQ(not_allowed->header("Allow"), "GET, HEAD");
}

// A server on a loopback address answers only to the names no other web site can have (its IP
// addresses, localhost) and those it was given: a page whose name an attacker made resolve to
// 127.0.0.1 (DNS rebinding) gets 403 and its handler never runs. On another address any name
// is served unless names are given.
TEST(HttpServer, OnALoopbackAddressARequestForAnotherSitesNameIsRefused) {
  int calls = 0;
  auto routes = [&calls](auto&, http::Server& s) {
    s.route(Method::post, "/v2/apps", [&calls](const http::Request&) {
      ++calls;
      return http::Response(201, "created");
    });
  };
  auto post = [](uint16_t port, const std::string& host) {
    RawClient raw(port);
    raw.send("POST /v2/apps HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 0\r\n\r\n");
    auto reply = raw.read_reply();
    return reply ? reply->status : 0;
  };
  ServerThread loopback(routes);
  std::string port = std::to_string(loopback.port());
  EXPECT_EQ(post(loopback.port(), "evil.example:" + port), 403);
  EXPECT_EQ(post(loopback.port(), "127.0.0.1.nip.io:" + port), 403);
  EXPECT_EQ(calls, 0);
  for (const std::string& host : {"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port}) {
    EXPECT_EQ(post(loopback.port(), host), 201) << host;
  }
  EXPECT_EQ(calls, 3);
  TempDir dir;
  auto refused = curl(dir, {"-H", "Host: evil.example", loopback.url("/v2/apps")});
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.body.find("refused a request for host 'evil.example'"), std::string::npos)
      << refused.body;

  http::ServerOptions named;
  named.allowed_hosts = {"cluster.example.org"};
  ServerThread given(routes, named);
  EXPECT_EQ(post(given.port(), "cluster.example.org"), 201);
  EXPECT_EQ(post(given.port(), "evil.example"), 403);
  EXPECT_EQ(calls, 4);

  ServerThread everywhere(routes, {}, "0.0.0.0");
  EXPECT_EQ(post(everywhere.port(), "cluster.example.org:" + std::to_string(everywhere.port())),
            201);
  EXPECT_EQ(calls, 5);
}

TEST(HttpServer, JsonBodiesAreReadAndMalformedJsonIsA400) {
  TempDir dir;
  std::thread::id ignored;
  ServerThread server([&](auto& loop, auto& s) { api_routes(loop, s, &ignored); });
  auto created = curl(dir, {"-X", "POST", "-H", "Content-Type: application/json", "--data",
                            R"({"id": "/web", "instances": 2})", server.url("/v2/apps")});
  ASSERT_EQ(created.status, 201) << created.output;
  EXPECT_EQ(parse(created.body).at("instances").as_int64(), 2);

  auto malformed = curl(dir, {"-X", "POST", "-H", "Content-Type: application/json", "--data",
                              R"({"id": "/web", )", server.url("/v2/apps")});
  ASSERT_EQ(malformed.status, 400) << malformed.output;
  EXPECT_NE(std::string(parse(malformed.body).at("message").as_string()).find("malformed JSON"),
            std::string::npos)
      << malformed.body;

  auto invalid = curl(dir, {"-X", "POST", "--data", "[1, 2]", server.url("/v2/apps")});
  EXPECT_EQ(invalid.status, 422);
}

TEST(HttpServer, KeepAliveAndPipelinedRequestsShareOneConnection) {
  std::thread::id ignored;
  ServerThread server([&](auto& loop, auto& s) { api_routes(loop, s, &ignored); });
  RawClient client(server.port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.send(get_request("/v1/scheduler/job/j" + std::to_string(i))));
    auto reply = client.read_reply();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
    EXPECT_FALSE(reply->closes);
    EXPECT_EQ(parse(reply->body).at("name").as_string(), "j" + std::to_string(i));
  }
  // Three requests in one packet: three answers, in order.
  ASSERT_TRUE(client.send(get_request("/v1/scheduler/job/a") + get_request("/v1/scheduler/job/b") +
                          get_request("/v1/scheduler/job/c", "Connection: close\r\n")));
  for (std::string name : {"a", "b", "c"}) {
    auto reply = client.read_reply();
    ASSERT_TRUE(reply) << name;
    EXPECT_EQ(parse(reply->body).at("name").as_string(), name);
  }
  EXPECT_TRUE(client.read_to_eof());  // the last asked for close
  auto stats = server.stats();
  EXPECT_EQ(stats.accepted, 1u);
  EXPECT_EQ(stats.requests, 6u);

  // HTTP/1.0 closes unless asked to keep the connection.
  RawClient old(server.port());
  old.send("GET /v1/scheduler/job/x HTTP/1.0\r\n\r\n");
  auto reply = old.read_reply();
  ASSERT_TRUE(reply);
  EXPECT_TRUE(reply->closes);
  EXPECT_TRUE(old.read_to_eof());
}

TEST(HttpServer, HeadAnswersWithTheHeadersOfGetAndNoBody) {
  std::thread::id ignored;
  ServerThread server([&](auto& loop, auto& s) { api_routes(loop, s, &ignored); });
  RawClient client(server.port());
  client.send("HEAD /v1/scheduler/job/abc HTTP/1.1\r\nHost: localhost\r\n\r\n" +
              get_request("/v1/scheduler/job/abc"));
  ASSERT_TRUE(client.read_until("\r\n\r\n"));
  std::string head = client.buffer().substr(0, client.buffer().find("\r\n\r\n") + 4);
  client.buffer().erase(0, head.size());
  EXPECT_NE(head.find("Content-Length: 14\r\n"), std::string::npos) << head;
  // The next bytes are the GET's answer, not a body of the HEAD.
  auto get = client.read_reply();
  ASSERT_TRUE(get);
  EXPECT_EQ(get->body, R"({"name":"abc"})");
}

TEST(HttpServer, AnswersOfKeptPiecesArriveWholeAndInOrderWithoutChangingThePieces) {
  // A large kept buffer (what /state copies in), between small pieces, and more pieces than one
  // write gathers; the same buffers answer every request.
  auto big = std::make_shared<const std::string>([] {
    std::string text(size_t{6} << 20, 'x');
    for (size_t i = 0; i < text.size(); i += 4096) text[i] = static_cast<char>('a' + i / 4096 % 26);
    return text;
  }());
  std::vector<http::Response::Piece> pieces{std::make_shared<const std::string>("["), big,
                                            std::make_shared<const std::string>(),
                                            std::make_shared<const std::string>(",")};
  for (int i = 0; i < 100; ++i) {
    pieces.push_back(std::make_shared<const std::string>(std::to_string(i) + ";"));
  }
  pieces.push_back(std::make_shared<const std::string>("]"));
  std::string expected;
  for (const auto& piece : pieces) expected += *piece;
  ServerThread server([&](tessera::sdk::EventLoop&, http::Server& s) {
    s.route(Method::get, "/pieces", [&pieces](const http::Request&) {
      return http::Response::pieces(pieces, "application/json");
    });
    s.route(Method::get, "/small",
            [](const http::Request&) { return http::Response::text("small"); });
  });
  // A small receive window: the answer takes many writes, and the requests pipelined behind it
  // are answered while part of its pieces still waits to be sent.
  RawClient client(server.port(), std::chrono::seconds(20), 16 * 1024);
  ASSERT_TRUE(client.send(get_request("/pieces") + get_request("/small") + get_request("/pieces") +
                          "HEAD /pieces HTTP/1.1\r\nHost: localhost\r\n\r\n" +
                          get_request("/small")));
  auto first = client.read_reply();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->header("Content-Type"), "application/json");
  EXPECT_EQ(first->header("Content-Length"), std::to_string(expected.size()));
  EXPECT_TRUE(first->body == expected) << "the body differs (" << first->body.size() << " bytes)";
  auto small = client.read_reply();
  ASSERT_TRUE(small);
  EXPECT_EQ(small->body, "small");
  auto again = client.read_reply();
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->body == expected) << "the body differs (" << again->body.size() << " bytes)";
  // HEAD: the length of the pieces, and none of their bytes before the next answer.
  ASSERT_TRUE(client.read_until("\r\n\r\n"));
  std::string head = client.buffer().substr(0, client.buffer().find("\r\n\r\n") + 4);
  client.buffer().erase(0, head.size());
  EXPECT_NE(head.find("Content-Length: " + std::to_string(expected.size()) + "\r\n"),
            std::string::npos)
      << head;
  auto last = client.read_reply();
  ASSERT_TRUE(last);
  EXPECT_EQ(last->body, "small");
  // The server let go of every piece it sent, and none changed.
  EXPECT_EQ(server.run([&] { return big.use_count(); }), 2);  // `big` and `pieces`
  EXPECT_EQ(big->size(), size_t{6} << 20);
  std::string joined;
  for (const auto& piece : pieces) joined += *piece;
  EXPECT_TRUE(joined == expected);
}

TEST(HttpServer, ChunkedResponsesArriveWholeAndTheConnectionIsReused) {
  TempDir dir;
  ServerThread server([](tessera::sdk::EventLoop& loop, http::Server& s) {
    s.route(Method::get, "/count", [&loop](const http::Request&) {
      return http::Response::chunked("text/plain", [&loop](http::Stream stream) {
        stream.write("one,");
        // The rest comes from later timers, as a plugin's data would.
        loop.after(20ms, [stream]() mutable { stream.write("two,"); });
        loop.after(40ms, [stream]() mutable {
          stream.write("three");
          stream.finish();
        });
      });
    });
    s.route(Method::get, "/after", [](const http::Request&) { return http::Response::text("ok"); });
  });
  auto counted = curl(dir, {server.url("/count")});
  ASSERT_EQ(counted.status, 200) << counted.output;
  EXPECT_EQ(counted.body, "one,two,three");

  RawClient client(server.port());
  client.send(get_request("/count"));
  auto reply = client.read_reply();
  ASSERT_TRUE(reply);
  EXPECT_TRUE(reply->chunked);
  EXPECT_EQ(reply->body, "one,two,three");
  client.send(get_request("/after"));
  auto after = client.read_reply();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->body, "ok");
  EXPECT_EQ(server.stats().accepted, 2u);
}

// Parses "id:"s out of an event stream's bytes.
std::vector<std::string> ids_in(const std::string& bytes) {
  std::vector<std::string> ids;
  for (size_t at = bytes.find("id: "); at != std::string::npos; at = bytes.find("id: ", at + 1)) {
    ids.push_back(bytes.substr(at + 4, bytes.find('\n', at) - at - 4));
  }
  return ids;
}

TEST(HttpServer, ServerSentEventsResumeAfterLastEventId) {
  std::unique_ptr<http::EventBroadcaster> events;
  ServerThread server([&](tessera::sdk::EventLoop&, http::Server& s) {
    http::EventBroadcaster::Options options;
    options.epoch = "e1";
    options.replay_events = 3;
    events = std::make_unique<http::EventBroadcaster>(options);
    s.route(Method::get, "/events", [&](const http::Request& r) { return events->subscribe(r); });
  });
  std::vector<std::string> ids;
  for (int i = 1; i <= 5; ++i) {
    ids.push_back(server.run([&] { return events->publish("tick", "n=" + std::to_string(i)); }));
  }
  EXPECT_EQ(ids.back(), "e1-5");

  // Resumes after e1-3: gets 4 and 5 from the ring, then live events.
  RawClient resumed(server.port());
  resumed.send(get_request("/events", "Last-Event-ID: e1-3\r\n"));
  ASSERT_TRUE(resumed.read_until("id: e1-5\n"));
  EXPECT_NE(resumed.buffer().find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_NE(resumed.buffer().find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_EQ(ids_in(resumed.buffer()), (std::vector<std::string>{"e1-4", "e1-5"}));
  EXPECT_NE(resumed.buffer().find("event: tick\ndata: n=4\n\n"), std::string::npos);
  ASSERT_TRUE(eventually([&] { return server.run([&] { return events->subscribers(); }) == 1; }));
  server.run([&] { return events->publish("tick", "n=6"); });
  ASSERT_TRUE(resumed.read_until("id: e1-6\n"));

  // Too old for the ring (3 events kept: 4, 5, 6), another epoch, or garbage: a reset event.
  for (std::string last : {"e1-2", "e0-5", "e1-99", "junk"}) {
    RawClient client(server.port());
    client.send(get_request("/events", "Last-Event-ID: " + last + "\r\n"));
    ASSERT_TRUE(client.read_until("event: reset\n")) << last;
    EXPECT_TRUE(client.read_until("id: e1-6\n")) << last;  // resume from here next time
    EXPECT_NE(client.buffer().find("not available"), std::string::npos) << last;
  }
  // A long id is not echoed back whole.
  {
    std::string huge(4000, 'x');
    RawClient client(server.port());
    client.send(get_request("/events", "Last-Event-ID: " + huge + "\r\n"));
    ASSERT_TRUE(client.read_until("id: e1-6\n"));
    EXPECT_NE(client.buffer().find("an id of 4000 bytes"), std::string::npos) << client.buffer();
    EXPECT_EQ(client.buffer().find(std::string(65, 'x')), std::string::npos);
  }
  // Up to date already: nothing replayed, no reset.
  RawClient current(server.port());
  current.send(get_request("/events", "Last-Event-ID: e1-6\r\n"));
  ASSERT_TRUE(current.read_until(":ok\n\n"));
  ASSERT_TRUE(eventually([&] { return server.run([&] { return events->subscribers(); }) >= 2; }));
  server.run([&] { return events->publish("tick", "n=7"); });
  ASSERT_TRUE(current.read_until("id: e1-7\n"));
  EXPECT_EQ(current.buffer().find("reset"), std::string::npos);
  EXPECT_EQ(ids_in(current.buffer()), (std::vector<std::string>{"e1-7"}));
  server.destroy(events);
}

TEST(HttpServer, EventStreamFiltersAndCurlReceivesLiveEvents) {
  TempDir dir;
  std::unique_ptr<http::EventBroadcaster> events;
  ServerThread server([&](tessera::sdk::EventLoop& loop, http::Server& s) {
    events = std::make_unique<http::EventBroadcaster>();
    s.route(Method::get, "/events", [&](const http::Request& r) {
      auto wanted = r.query("event_type");
      if (!wanted) return events->subscribe(r);
      return events->subscribe(r, [w = *wanted](std::string_view e) { return e == w; });
    });
    // The stream ends when 'done' arrives, so curl exits by itself.
    s.route(Method::get, "/bounded", [&loop](const http::Request&) {
      return http::Response::event_stream([&loop](http::Stream stream) {
        stream.send_event("first", "status");
        loop.after(10ms, [stream]() mutable {
          stream.send_event("line 1\nline 2", "status", "2");
          stream.finish();
        });
      });
    });
  });
  auto bounded = curl(dir, {"-N", server.url("/bounded")});
  ASSERT_EQ(bounded.status, 200) << bounded.output;
  EXPECT_EQ(bounded.body,
            "event: status\ndata: first\n\nid: 2\nevent: status\ndata: line 1\ndata: line 2\n\n");

  RawClient filtered(server.port());
  filtered.send(get_request("/events?event_type=deployment"));
  ASSERT_TRUE(filtered.read_until(":ok\n\n"));
  ASSERT_TRUE(eventually([&] { return server.run([&] { return events->subscribers(); }) == 1; }));
  server.run([&] {
    events->publish("status_update", "{}");
    events->publish("deployment", R"({"id":"d1"})");
    return 0;
  });
  ASSERT_TRUE(filtered.read_until("\"d1\""));
  EXPECT_EQ(filtered.buffer().find("status_update"), std::string::npos);
  server.destroy(events);
  // Destroying the broadcaster ends its streams: the client sees the last chunk.
  EXPECT_TRUE(filtered.read_until("0\r\n\r\n"));
}

TEST(HttpServer, AsyncHandlersAnswerLaterAndADroppedResponderIsA500) {
  ServerThread server([](tessera::sdk::EventLoop& loop, http::Server& s) {
    s.route_async(Method::get, "/later", [&loop](const http::Request& r, http::Responder answer) {
      std::string who(r.query("who").value_or("?"));
      // Stands for a reply from another plugin over the bus.
      loop.after(30ms, [who, answer = std::make_shared<http::Responder>(std::move(answer))] {
        answer->send(http::Response::text("hello " + who));
      });
    });
    s.route_async(Method::get, "/dropped", [](const http::Request&, http::Responder) {});
  });
  RawClient client(server.port());
  // Pipelined: the second waits for the first's late answer, and answers stay in order.
  client.send(get_request("/later?who=a") + get_request("/later?who=b"));
  auto first = client.read_reply();
  auto second = client.read_reply();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->body, "hello a");
  EXPECT_EQ(second->body, "hello b");
  client.send(get_request("/dropped"));
  auto dropped = client.read_reply();
  ASSERT_TRUE(dropped);
  EXPECT_EQ(dropped->status, 500);
  EXPECT_NE(dropped->body.find("without answering"), std::string::npos);
}

TEST(HttpServer, StaticFilesFromMemoryWithETagRevalidation) {
  TempDir dir;
  ServerThread server([](tessera::sdk::EventLoop&, http::Server& s) {
    auto files = std::make_shared<http::StaticFiles>();
    files->add("/index.html", "<html>Tessera</html>");
    files->add("/js/app.js", "let x = 1;");
    s.route(Method::get, "/", [files](const http::Request& r) { return files->serve(r, ""); });
    s.route(Method::get, "/ui/{path*}",
            [files](const http::Request& r) { return files->serve(r, r.param("path")); });
  });
  auto index = curl(dir, {"-D", (dir / "headers").string(), server.url("/")});
  ASSERT_EQ(index.status, 200) << index.output;
  EXPECT_EQ(index.body, "<html>Tessera</html>");
  std::string headers = tessera::testing::read_file(dir / "headers");
  EXPECT_NE(headers.find("Content-Type: text/html; charset=utf-8"), std::string::npos) << headers;
  size_t at = headers.find("ETag: ");
  ASSERT_NE(at, std::string::npos) << headers;
  std::string etag = headers.substr(at + 6, headers.find("\r\n", at) - at - 6);

  auto again = curl(dir, {"-H", "If-None-Match: " + etag, server.url("/")});
  EXPECT_EQ(again.status, 304);
  EXPECT_EQ(again.body, "");
  auto script = curl(dir, {"-D", (dir / "headers2").string(), server.url("/ui/js/app.js")});
  EXPECT_EQ(script.status, 200);
  EXPECT_EQ(script.body, "let x = 1;");
  EXPECT_NE(tessera::testing::read_file(dir / "headers2").find("text/javascript"),
            std::string::npos);
  EXPECT_EQ(curl(dir, {server.url("/ui/nothing.css")}).status, 404);
  EXPECT_EQ(curl(dir, {"--path-as-is", server.url("/ui/%2e%2e/index.html")}).status, 404);
}

TEST(HttpServer, AuthorizerRejectsWith401Or403BeforeTheHandler) {
  TempDir dir;
  int handled = 0;
  ServerThread server([&](tessera::sdk::EventLoop&, http::Server& s) {
    s.set_authorizer([](const http::Request& r) {
      std::string_view token = r.header("Authorization");
      if (token.empty()) return http::Access::unauthenticated("credentials required");
      if (token == "Bearer reader" && r.method() != Method::get) {
        return http::Access::forbidden("'reader' may only read");
      }
      if (token != "Bearer reader" && token != "Bearer admin") {
        return http::Access::unauthenticated("unknown token");
      }
      return http::Access::allow(std::string(token.substr(7)));
    });
    auto whoami = [&](const http::Request& r) {
      ++handled;
      return http::Response::text(r.principal() + " " + r.route());
    };
    s.route(Method::get, "/v2/apps", whoami);
    s.route(Method::post, "/v2/apps", whoami);
  });
  auto anonymous = curl(dir, {"-D", (dir / "h").string(), server.url("/v2/apps")});
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_NE(tessera::testing::read_file(dir / "h").find("WWW-Authenticate: Bearer"),
            std::string::npos);
  auto reader = curl(dir, {"-H", "Authorization: Bearer reader", server.url("/v2/apps")});
  EXPECT_EQ(reader.status, 200);
  EXPECT_EQ(reader.body, "reader /v2/apps");
  auto forbidden =
      curl(dir, {"-X", "POST", "-H", "Authorization: Bearer reader", server.url("/v2/apps")});
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_EQ(parse(forbidden.body).at("message").as_string(), "'reader' may only read");
  auto admin =
      curl(dir, {"-X", "POST", "-H", "Authorization: Bearer admin", server.url("/v2/apps")});
  EXPECT_EQ(admin.status, 200);
  // Unknown paths are authorized too, so they reveal nothing to an anonymous client.
  EXPECT_EQ(curl(dir, {server.url("/secret")}).status, 401);
  EXPECT_EQ(server.run([&] { return handled; }), 2);
}

TEST(HttpServer, AHandlerThatThrowsIsA500AndTheServerGoesOn) {
  TempDir dir;
  ServerThread server([](tessera::sdk::EventLoop&, http::Server& s) {
    s.route(Method::get, "/boom", [](const http::Request&) -> http::Response {
      throw std::runtime_error("bug in the handler");
    });
    s.route(Method::get, "/teapot", [](const http::Request&) { return http::Response(999); });
    s.route(Method::get, "/ok", [](const http::Request&) { return http::Response::text("fine"); });
  });
  EXPECT_EQ(curl(dir, {server.url("/boom")}).status, 500);
  EXPECT_TRUE(server.log().contains("bug in the handler"));
  EXPECT_EQ(curl(dir, {server.url("/teapot")}).status, 500);
  EXPECT_EQ(curl(dir, {server.url("/ok")}).body, "fine");
  EXPECT_EQ(server.stats().handler_errors, 1u);
}

TEST(HttpServer, LargeUploadWithExpectContinueWithinTheLimit) {
  TempDir dir;
  http::ServerOptions options;
  options.max_body_bytes = 4 * 1024 * 1024;
  ServerThread server(
      [](tessera::sdk::EventLoop&, http::Server& s) {
        s.route(Method::put, "/blob", [](const http::Request& r) {
          return http::Response::text(std::to_string(r.body().size()));
        });
      },
      options);
  auto file = dir.write("blob", std::string(3 * 1024 * 1024, 'x'));
  auto put = curl(dir, {"-T", file.string(), "-H", "Expect: 100-continue", server.url("/blob")});
  EXPECT_EQ(put.status, 200) << put.output;
  EXPECT_EQ(put.body, std::to_string(3 * 1024 * 1024));
}

// During a burst each handler publishes one event; the events of one stream_flush_delay leave
// together, not in a send (and a wake-up of every subscriber) per event. With the delay at 0,
// each handler's output leaves when it is over, as before.
TEST(HttpServer, EventsPublishedOneHandlerAtATimeLeaveInFewWrites) {
  for (auto delay : {5ms, 0ms}) {
    SCOPED_TRACE("stream_flush_delay " + std::to_string(delay.count()) + " ms");
    http::ServerOptions options;
    options.stream_flush_delay = delay;
    std::unique_ptr<http::EventBroadcaster> events;
    tessera::sdk::EventLoop* loop = nullptr;
    ServerThread server(
        [&](tessera::sdk::EventLoop& l, http::Server& s) {
          loop = &l;
          events = std::make_unique<http::EventBroadcaster>();
          s.route(Method::get, "/events",
                  [&](const http::Request& r) { return events->subscribe(r); });
        },
        options);
    RawClient subscriber(server.port());
    subscriber.send(get_request("/events"));
    ASSERT_TRUE(subscriber.read_until(":ok\n\n"));
    ASSERT_TRUE(eventually([&] { return server.run([&] { return events->subscribers(); }) == 1; }));
    uint64_t writes_before = server.stats().stream_writes;
    constexpr int kEvents = 200;
    // Each event from its own turn of the loop, as messages from the master arrive.
    std::function<void(int)> publish_from = [&](int i) {
      events->publish("tick", "n=" + std::to_string(i));
      if (i + 1 < kEvents) loop->post([&publish_from, i] { publish_from(i + 1); });
    };
    server.run([&] {
      publish_from(0);
      return 0;
    });
    ASSERT_TRUE(subscriber.read_until("data: n=" + std::to_string(kEvents - 1) + "\n\n"));
    // Every event arrived, in order.
    size_t at = 0;
    for (int i = 0; i < kEvents; ++i) {
      at = subscriber.buffer().find("data: n=" + std::to_string(i) + "\n", at);
      ASSERT_NE(at, std::string::npos) << "event " << i << " is missing or out of order";
    }
    uint64_t writes = server.stats().stream_writes - writes_before;
    if (delay.count() > 0) {
      EXPECT_LE(writes, uint64_t{kEvents / 4}) << "the events left in " << writes << " writes";
    } else {
      EXPECT_GE(writes, uint64_t{kEvents * 3 / 4}) << "the events left in " << writes << " writes";
    }
    server.destroy(events);
  }
}

TEST(HttpServer, EventStreamsGetHeartbeatsAndAnIdleServerDoesNotSpin) {
  http::ServerOptions options;
  options.event_stream_heartbeat = 100ms;
  std::unique_ptr<http::EventBroadcaster> events;
  ServerThread server(
      [&](tessera::sdk::EventLoop&, http::Server& s) {
        events = std::make_unique<http::EventBroadcaster>();
        s.route(Method::get, "/events",
                [&](const http::Request& r) { return events->subscribe(r); });
        s.route(Method::get, "/ok",
                [](const http::Request&) { return http::Response::text("ok"); });
      },
      options);
  RawClient subscriber(server.port());
  subscriber.send(get_request("/events"));
  ASSERT_TRUE(subscriber.read_until(":ok\n\n"));
  // A comment chunk (":" and a blank line) arrives although nothing is published.
  ASSERT_TRUE(subscriber.read_until("3\r\n:\n\n\r\n"));

  // Idle keep-alive connections, an idle stream and a half-received request leave the loop
  // asleep in poll(): over a second it uses a few milliseconds of CPU, where a loop that spun
  // would use most of the second (or, on a machine loaded tenfold, still over 100 ms).
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 10; ++i) {
    idle.push_back(std::make_unique<RawClient>(server.port()));
    idle.back()->send(get_request("/ok"));
    ASSERT_TRUE(idle.back()->read_reply());
  }
  RawClient partial(server.port());
  partial.send("GET /ok HTTP/1.1\r\nHo");
  auto before = server.loop_cpu_time();
  std::this_thread::sleep_for(1s);  // the window measured, not a wait for something
  auto used = server.loop_cpu_time() - before;
  EXPECT_LT(used, 50ms) << "the loop thread used "
                        << std::chrono::duration_cast<std::chrono::milliseconds>(used).count()
                        << " ms of CPU in an idle second";
  server.destroy(events);
}

}  // namespace
