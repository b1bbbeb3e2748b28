// The embedded web UI: the page at "/" and its modules under "/ui/", with content types a browser
// accepts for a module script, and nothing outside the table.
#include <gtest/gtest.h>

#include <string>

#include "webui_assets.h"

namespace {

using tessera::webui::find_asset;

TEST(WebuiAssets, RootAndUiAreTheHtmlPage) {
  for (const char* path : {"/", "/ui", "/ui/", "/ui/index.html"}) {
    auto page = find_asset(path);
    ASSERT_TRUE(page.has_value()) << path;
    EXPECT_EQ(page->content_type, "text/html; charset=utf-8") << path;
    EXPECT_NE(page->body.find("<script type=\"module\" src=\"/ui/app.js\">"), std::string::npos);
  }
}

TEST(WebuiAssets, ModulesAreJavaScriptWithTheirWholeBody) {
  auto app = find_asset("/ui/app.js");
  ASSERT_TRUE(app.has_value());
  EXPECT_EQ(app->content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(app->body.find("new URLSearchParams"), std::string::npos);
  // The last line of the file is there: nothing was cut.
  EXPECT_NE(app->body.find("route();\n"), std::string::npos);
  EXPECT_EQ(app->body.back(), '\n');

  auto view = find_asset("/ui/views/tasks.js");
  ASSERT_TRUE(view.has_value());
  EXPECT_NE(view->body.find("/tasks"), std::string::npos);
  EXPECT_EQ(find_asset("/ui/style.css")->content_type, "text/css; charset=utf-8");
  EXPECT_EQ(find_asset("/ui/favicon.svg")->content_type, "image/svg+xml");
}

TEST(WebuiAssets, EveryModuleTheAppImportsIsEmbedded) {
  auto app = find_asset("/ui/app.js");
  ASSERT_TRUE(app.has_value());
  std::string body(app->body);
  size_t at = 0;
  int imports = 0;
  while ((at = body.find("from './", at)) != std::string::npos) {
    at += 8;
    std::string name = body.substr(at, body.find('\'', at) - at);
    EXPECT_TRUE(find_asset("/ui/" + name).has_value()) << name;
    ++imports;
  }
  EXPECT_GE(imports, 9);
}

TEST(WebuiAssets, UnknownAndEscapingPathsAreNotAssets) {
  for (const char* path : {"", "/state", "/index.html", "/ui/nope.js", "/ui/../state",
                           "/ui/views/../app.js", "ui/app.js", "/ui/app.js/", "/UI/app.js"}) {
    EXPECT_FALSE(find_asset(path).has_value()) << path;
  }
}

}  // namespace
