// Unit tests of the HTTP facility's pure parts: route patterns, request parsing (path, query,
// JSON), Server-Sent Event framing, static files and the TOML options.
#include <gtest/gtest.h>

#include "tessera/sdk/http.h"

namespace {

namespace http = tessera::sdk::http;
using http::Method;

std::vector<std::string> split(const std::string& path) {
  auto request = http::Request::from(http::Request::Message(Method::get, path, 11), "test");
  EXPECT_TRUE(request.ok()) << path;
  return request ? request->segments() : std::vector<std::string>{};
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.add(Method::get, "/v2/apps", "list");
    router_.add(Method::get, "/v2/apps/{id*}", "app");
    router_.add(Method::post, "/v2/apps/{id*}/restart", "restart");
    router_.add(Method::get, "/v2/apps/{id*}/versions/{version}", "version");
    router_.add(Method::get, "/v1/scheduler/job/{name}", "job");
    router_.add(Method::put, "/v1/scheduler/job/{name}", "job-put");
    router_.add(Method::get, "/", "root");
  }
  std::string route(Method method, const std::string& path) {
    auto match = router_.match(method, split(path));
    return match.route == nullptr ? "" : match.route->handler;
  }
  http::Router<std::string> router_;
};

TEST_F(RouterTest, LiteralAndSingleSegmentParameters) {
  EXPECT_EQ(route(Method::get, "/v2/apps"), "list");
  EXPECT_EQ(route(Method::get, "/v2/apps/"), "list");  // a trailing slash is the same resource
  EXPECT_EQ(route(Method::get, "/"), "root");
  auto match = router_.match(Method::get, split("/v1/scheduler/job/nightly-backup"));
  ASSERT_NE(match.route, nullptr);
  EXPECT_EQ(match.route->handler, "job");
  EXPECT_EQ(match.params.get("name"), "nightly-backup");
  EXPECT_EQ(match.params.get("other"), "");
  // One segment only: a job name never swallows a slash.
  EXPECT_EQ(route(Method::get, "/v1/scheduler/job/a/b"), "");
  EXPECT_EQ(route(Method::get, "/v1/scheduler/job/"), "");
}

TEST_F(RouterTest, RestParameterKeepsSlashesOfMarathonIds) {
  auto match = router_.match(Method::get, split("/v2/apps/prod/web/api"));
  ASSERT_NE(match.route, nullptr);
  EXPECT_EQ(match.route->handler, "app");
  EXPECT_EQ(match.params.get("id"), "prod/web/api");
}

TEST_F(RouterTest, LiteralsAfterARestParameterWinAndAnchorAtTheEnd) {
  auto restart = router_.match(Method::post, split("/v2/apps/prod/web/restart"));
  ASSERT_NE(restart.route, nullptr);
  EXPECT_EQ(restart.route->handler, "restart");
  EXPECT_EQ(restart.params.get("id"), "prod/web");
  auto version = router_.match(Method::get, split("/v2/apps/prod/web/versions/2024-01-01"));
  ASSERT_NE(version.route, nullptr);
  EXPECT_EQ(version.route->handler, "version");
  EXPECT_EQ(version.params.get("id"), "prod/web");
  EXPECT_EQ(version.params.get("version"), "2024-01-01");
  // An app whose id merely contains "versions" is still an app.
  auto app = router_.match(Method::get, split("/v2/apps/versions"));
  ASSERT_NE(app.route, nullptr);
  EXPECT_EQ(app.params.get("id"), "versions");
}

TEST_F(RouterTest, PercentEncodedSegmentsAreDecodedBeforeMatching) {
  auto match = router_.match(Method::get, split("/v1/scheduler/job/my%20job"));
  ASSERT_NE(match.route, nullptr);
  EXPECT_EQ(match.params.get("name"), "my job");
}

TEST_F(RouterTest, WrongMethodListsTheAllowedOnes) {
  auto match = router_.match(Method::delete_, split("/v1/scheduler/job/x"));
  EXPECT_EQ(match.route, nullptr);
  ASSERT_EQ(match.allowed.size(), 2u);
  EXPECT_EQ(match.allowed[0], Method::get);
  EXPECT_EQ(match.allowed[1], Method::put);
  auto nothing = router_.match(Method::get, split("/nowhere"));
  EXPECT_EQ(nothing.route, nullptr);
  EXPECT_TRUE(nothing.allowed.empty());
}

TEST_F(RouterTest, HeadIsAnsweredByGet) {
  EXPECT_EQ(route(Method::head, "/v2/apps"), "list");
  EXPECT_EQ(route(Method::head, "/v2/apps/x/restart"), "app");  // POST-only restart: GET app
}

TEST(Router, MalformedPatternsAreRefusedWithTheReason) {
  http::Router<int> router;
  auto refused = [&](const std::string& pattern, const std::string& why) {
    try {
      router.add(Method::get, pattern, 0);
      ADD_FAILURE() << pattern << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  refused("v2/apps", "must start with '/'");
  refused("/v2//apps", "empty segment");
  refused("/v2/{id", "unclosed parameter");
  refused("/v2/x{id}", "whole segment");
  refused("/v2/{}", "bad parameter name");
  refused("/v2/{a}/{a}", "appears twice");
  EXPECT_EQ(router.size(), 0u);
}

TEST(Request, QueryParametersAreDecodedAndRepeatable) {
  auto request = http::Request::from(
      http::Request::Message(Method::get,
                             "/v2/apps?embed=apps.tasks&embed=apps.counts&q=a+b%21&force", 11),
      "peer");
  ASSERT_TRUE(request.ok()) << request.error().message;
  EXPECT_EQ(request->path(), "/v2/apps");
  EXPECT_EQ(request->query("q"), "a b!");
  EXPECT_EQ(request->query("force"), "");
  EXPECT_EQ(request->query("missing"), std::nullopt);
  EXPECT_EQ(request->query_all("embed"), (std::vector<std::string>{"apps.tasks", "apps.counts"}));
}

TEST(Request, AbsoluteFormTargetsAreAcceptedAndBadTargetsRefused) {
  auto absolute = http::Request::from(
      http::Request::Message(Method::get, "http://example.com/v2/info?x=1", 11), "peer");
  ASSERT_TRUE(absolute.ok());
  EXPECT_EQ(absolute->path(), "/v2/info");
  EXPECT_EQ(absolute->query("x"), "1");
  for (std::string bad : {"/bad%zzescape", "no-slash", "/a b"}) {
    auto request = http::Request::from(http::Request::Message(Method::get, bad, 11), "peer");
    EXPECT_FALSE(request.ok()) << bad;
    if (!request) {
      EXPECT_NE(request.error().message.find("malformed request target"), std::string::npos);
    }
  }
}

TEST(Request, JsonBodiesAreParsedAndErrorsSayWhy) {
  http::Request::Message message(Method::post, "/v2/apps", 11);
  message.body() = R"({"id": "/web", "instances": 3})";
  auto good = http::Request::from(message, "peer");
  ASSERT_TRUE(good.ok());
  auto json = good->json();
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(json->at("instances").as_int64(), 3);

  message.body() = R"({"id": )";
  auto truncated = http::Request::from(message, "peer")->json();
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.error().message.find("malformed JSON"), std::string::npos);

  message.body() = std::string(10000, '[');
  EXPECT_FALSE(http::Request::from(message, "peer")->json().ok());  // too deep, not a crash

  message.body().clear();
  auto empty = http::Request::from(message, "peer")->json();
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("no body"), std::string::npos);
}

TEST(ServerSentEvents, EventsAreFramedLineByLine) {
  EXPECT_EQ(http::format_event("hello"), "data: hello\n\n");
  EXPECT_EQ(http::format_event("a\nb\r\nc\rd", "update", "e-7"),
            "id: e-7\nevent: update\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
  EXPECT_EQ(http::format_event(""), "data: \n\n");
  // A newline in the name or id cannot end the event or forge a field.
  EXPECT_EQ(http::format_event("x", "evil\ndata: forged", "1\n"),
            "id: 1 \nevent: evil data: forged\ndata: x\n\n");
}

TEST(SameOrigin, OnlyAPageOfThisHostAndPortOrNoPageAtAll) {
  EXPECT_TRUE(http::same_origin("", "127.0.0.1:5050"));  // curl
  EXPECT_TRUE(http::same_origin("http://127.0.0.1:5050", "127.0.0.1:5050"));
  EXPECT_TRUE(http::same_origin("HTTP://LocalHost:5050", "localhost:5050"));
  EXPECT_TRUE(http::same_origin("http://example.com", "example.com:80"));
  EXPECT_TRUE(http::same_origin("https://example.com:443", "example.com"));
  EXPECT_FALSE(http::same_origin("http://evil.example", "127.0.0.1:5050"));
  EXPECT_FALSE(http::same_origin("http://127.0.0.1:5051", "127.0.0.1:5050"));
  EXPECT_FALSE(http::same_origin("http://127.0.0.1:5050.evil.example", "127.0.0.1:5050"));
  EXPECT_FALSE(http::same_origin("https://example.com", "example.com:80"));
  EXPECT_FALSE(http::same_origin("null", "127.0.0.1:5050"));  // a sandboxed page or a file
  EXPECT_FALSE(http::same_origin("http://127.0.0.1:5050", ""));
}

// A DNS rebinding page sends its own name as Host; a server that checks names answers only to
// IP addresses, localhost and *.localhost (browsers resolve those themselves) and the names it
// was given.
TEST(HostAllowed, IpAddressesLocalhostAndGivenNamesOnly) {
  std::vector<std::string> none;
  for (const char* host :
       {"", "127.0.0.1", "127.0.0.1:5050", "10.1.2.3:80", "[::1]", "[::1]:8080", "localhost",
        "LocalHost:5050", "localhost.", "web.localhost:4400", "127.0.0.1."}) {
    EXPECT_TRUE(http::host_allowed(host, none)) << host;
  }
  for (const char* host :
       {"evil.example", "evil.example:5050", "127.0.0.1.nip.io:5050", "localhost.evil.example",
        "evillocalhost", "[::1", "[::1]x", "[evil]:80", ":5050", "1.2.3"}) {
    EXPECT_FALSE(http::host_allowed(host, none)) << host;
  }
  std::vector<std::string> given = {"cluster.example.org"};
  EXPECT_TRUE(http::host_allowed("Cluster.Example.Org:5050", given));
  EXPECT_TRUE(http::host_allowed("cluster.example.org.", given));
  EXPECT_FALSE(http::host_allowed("example.org", given));
  EXPECT_FALSE(http::host_allowed("x.cluster.example.org", given));
}

TEST(Responses, JsonErrorAndHeadersAreSafe) {
  auto error = http::json_error(404, "no app '/web'");
  EXPECT_EQ(error.status(), 404u);
  EXPECT_EQ(error.body(), R"({"message":"no app '/web'"})");
  EXPECT_EQ(error.header("content-type"), "application/json");
  http::Response response(200, "x");
  response.set_header("X-Name", "a\r\nSet-Cookie: evil");
  EXPECT_EQ(response.header("x-name"), "a  Set-Cookie: evil");
}

TEST(Responses, ErrorsAnswerWithTheStatusOfTheirCode) {
  using tessera::ErrorCode;
  auto status = [](ErrorCode code) {
    return http::json_error(tessera::make_error(code, "why")).status();
  };
  EXPECT_EQ(status(ErrorCode::kInvalidArgument), 400u);
  EXPECT_EQ(status(ErrorCode::kNotFound), 404u);
  EXPECT_EQ(status(ErrorCode::kConflict), 409u);
  EXPECT_EQ(status(ErrorCode::kUnavailable), 503u);
  EXPECT_EQ(status(ErrorCode::kPermissionDenied), 403u);
  EXPECT_EQ(status(ErrorCode::kInternal), 500u);
  EXPECT_EQ(http::json_error(tessera::make_error(ErrorCode::kNotFound, "no app '/x'")).body(),
            R"({"message":"no app '/x'"})");
  // The request's own errors are the client's fault.
  http::Request::Message message(Method::post, "/v2/apps", 11);
  message.body() = "{";
  EXPECT_EQ(http::json_error(http::Request::from(message, "peer")->json().error()).status(), 400u);
}

TEST(StaticFiles, ServesWithContentTypeAndETagAndRevalidates) {
  http::StaticFiles files;
  files.add("/index.html", "<h1>Tessera</h1>");
  files.add("app.js", "console.log(1)");
  files.add("/data.bin", "\x01\x02");
  EXPECT_EQ(http::StaticFiles::content_type_for("x/y.CSS"), "text/css; charset=utf-8");
  auto request = [](const std::string& if_none_match) {
    http::Request::Message message(Method::get, "/ui/", 11);
    if (!if_none_match.empty()) message.set("If-None-Match", if_none_match);
    return *http::Request::from(message, "peer");
  };
  auto index = files.serve(request(""), "");
  EXPECT_EQ(index.status(), 200u);
  EXPECT_EQ(index.body(), "<h1>Tessera</h1>");
  EXPECT_EQ(index.header("Content-Type"), "text/html; charset=utf-8");
  std::string etag(index.header("ETag"));
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(files.serve(request(etag), "index.html").status(), 304u);
  EXPECT_EQ(files.serve(request("\"other\", W/" + etag), "/index.html").status(), 304u);
  EXPECT_EQ(files.serve(request("\"other\""), "/index.html").status(), 200u);
  EXPECT_EQ(files.serve(request(""), "app.js").header("Content-Type"),
            "text/javascript; charset=utf-8");
  EXPECT_EQ(files.serve(request(""), "data.bin").header("Content-Type"),
            "application/octet-stream");
  EXPECT_EQ(files.serve(request(""), "../index.html").status(), 404u);
  // Another content gives another validator.
  files.add("/index.html", "<h1>Tessera 2</h1>");
  EXPECT_NE(files.serve(request(""), "").header("ETag"), etag);
}

TEST(ServerOptions, ReadFromTheTomlTableWithRanges) {
  auto document = tessera::sdk::ConfigDocument::parse(
      "node.toml",
      "[http]\nmax_connections = 10\nrequest_timeout_ms = 2500\n"
      "max_header_bytes = 1\n");
  ASSERT_TRUE(document.ok());
  auto table = (*document)->at("http");
  auto options = http::ServerOptions::from_config(table);
  EXPECT_EQ(options.max_connections, 10u);
  EXPECT_EQ(options.request_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(options.idle_timeout, http::ServerOptions{}.idle_timeout);
  EXPECT_EQ(options.max_header_bytes, http::ServerOptions{}.max_header_bytes);  // out of range
  table.reject_unknown_keys();
  ASSERT_FALSE(table.status().ok());
  EXPECT_NE(table.status().error().message.find("node.toml:4:20: http.max_header_bytes"),
            std::string::npos)
      << table.status().error().message;
}

TEST(ServerOptions, AllowedHostsAreHostNamesAndAnythingElseIsReported) {
  auto document = tessera::sdk::ConfigDocument::parse(
      "node.toml",
      "[http]\nallowed_hosts = [\"cluster.example.org\", \"evil.example:80/x\", \"\"]\n");
  ASSERT_TRUE(document.ok());
  auto table = (*document)->at("http");
  auto options = http::ServerOptions::from_config(table);
  EXPECT_EQ(options.allowed_hosts, std::vector<std::string>{"cluster.example.org"});
  table.reject_unknown_keys();
  ASSERT_FALSE(table.status().ok());
  EXPECT_NE(table.status().error().message.find("'evil.example:80/x' is not a host name"),
            std::string::npos)
      << table.status().error().message;
}

}  // namespace
