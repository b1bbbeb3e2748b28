// The reverse proxy's decisions: the upstream target, what is refused, redirects seen through it.
#include "proxy.h"

#include <gtest/gtest.h>

namespace {

using tessera::master_http::asks_for_event_stream;
using tessera::master_http::frameworks_http;
using tessera::master_http::proxied_location;
using tessera::master_http::proxy_target;

TEST(Proxy, TargetKeepsTheRestOfThePathAndTheQueryAsTheClientEncodedThem) {
  auto t = proxy_target("/marathon/v2/apps/prod%2Fweb?embed=apps.counts&x=%20",
                        {"marathon", "v2", "apps", "prod/web"});
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->framework, "marathon");
  EXPECT_EQ(t->target, "/v2/apps/prod%2Fweb?embed=apps.counts&x=%20");
}

TEST(Proxy, TheFrameworkAloneIsItsRoot) {
  EXPECT_EQ(proxy_target("/chronos", {"chronos"})->target, "/");
  EXPECT_EQ(proxy_target("/chronos/", {"chronos", ""})->target, "/");
  EXPECT_EQ(proxy_target("/chronos?x=1", {"chronos"})->target, "/?x=1");
}

TEST(Proxy, DotSegmentsInAnyEncodingAreRefused) {
  for (const auto& [raw, segments] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"/marathon/../state", {"marathon", "..", "state"}},
           {"/marathon/%2e%2e/state", {"marathon", "..", "state"}},
           {"/marathon/v2/%2E/apps", {"marathon", "v2", ".", "apps"}},
       }) {
    auto t = proxy_target(raw, segments);
    ASSERT_FALSE(t) << raw;
    EXPECT_EQ(t.error().code, tessera::ErrorCode::kInvalidArgument);
    EXPECT_NE(t.error().message.find("'..' segment"), std::string::npos) << t.error().message;
  }
  // A name that merely contains dots is a name.
  EXPECT_TRUE(proxy_target("/marathon/v2/apps/a..b", {"marathon", "v2", "apps", "a..b"}));
}

TEST(Proxy, EventStreamsAreRecognised) {
  auto events = *proxy_target("/marathon/v2/events", {"marathon", "v2", "events"});
  EXPECT_TRUE(asks_for_event_stream(events, ""));
  EXPECT_TRUE(asks_for_event_stream(
      *proxy_target("/marathon/v2/events/?a=b", {"marathon", "v2", "events", ""}), ""));
  auto apps = *proxy_target("/marathon/v2/apps", {"marathon", "v2", "apps"});
  EXPECT_FALSE(asks_for_event_stream(apps, "application/json"));
  EXPECT_FALSE(asks_for_event_stream(apps, "*/*"));
  EXPECT_TRUE(asks_for_event_stream(apps, "text/event-stream"));
  // Chronos has no /v2/events of its own: only the Accept header decides.
  EXPECT_FALSE(
      asks_for_event_stream(*proxy_target("/chronos/v2/events", {"chronos", "v2", "events"}), ""));
}

TEST(Proxy, UpstreamRedirectsAreFollowedThroughTheProxy) {
  EXPECT_EQ(proxied_location("/v2/apps/web", "marathon", "127.0.0.1:8080"),
            "/marathon/v2/apps/web");
  EXPECT_EQ(proxied_location("http://127.0.0.1:8080/v2/apps?x=1", "marathon", "127.0.0.1:8080"),
            "/marathon/v2/apps?x=1");
  EXPECT_EQ(proxied_location("http://127.0.0.1:8080", "chronos", "127.0.0.1:8080"), "/chronos/");
  // Elsewhere, or a longer port that only starts like the upstream's: kept as it is.
  EXPECT_EQ(proxied_location("http://10.0.0.5:8080/v2/apps", "marathon", "127.0.0.1:8080"),
            "http://10.0.0.5:8080/v2/apps");
  EXPECT_EQ(proxied_location("http://127.0.0.1:80801/x", "marathon", "127.0.0.1:8080"),
            "http://127.0.0.1:80801/x");
  EXPECT_EQ(proxied_location("//evil.example/x", "marathon", "127.0.0.1:8080"), "//evil.example/x");
}

TEST(Proxy, FrameworksHttpNamesOnlyTheProxiedOnes) {
  auto proxied = frameworks_http({{"marathon", "127.0.0.1:8080"}, {"chronos", ""}});
  EXPECT_EQ(proxied, (std::map<std::string, std::string>{{"marathon", "/marathon"}}));
}

}  // namespace
