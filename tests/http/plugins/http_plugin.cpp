// fixture_http_plugin: a framework plugin that serves HTTP from its own loop, for
// http_plugin_e2e_test. GET /hello says whether the handler ran on the plugin's thread,
// POST /echo returns its JSON body, GET /events streams a tick every 50 ms.
#include <thread>

#include "tessera/plugin_export.h"
#include "tessera/sdk/http.h"

namespace fixture {

namespace http = tessera::sdk::http;

class HttpPlugin : public tessera::sdk::FrameworkPlugin {
 public:
  using FrameworkPlugin::FrameworkPlugin;

  tessera::Status configure(tessera::sdk::ConfigTable& table) override {
    port_ = static_cast<uint16_t>(table.integer("port", 0, 0, 65535));
    auto http_table = table.table("http");
    options_ = http::ServerOptions::from_config(http_table);
    http_table.reject_unknown_keys();
    return {};
  }

  tessera::Status start() override {
    plugin_thread_ = std::this_thread::get_id();
    server_ = std::make_unique<http::Server>(loop(), log(), options_);
    server_->route(http::Method::get, "/hello", [this](const http::Request&) {
      boost::json::object reply;
      reply["plugin"] = context().name();
      reply["on_plugin_thread"] = std::this_thread::get_id() == plugin_thread_;
      return http::Response::json(reply);
    });
    server_->route(http::Method::post, "/echo", [](const http::Request& request) {
      auto body = request.json();
      if (!body) return http::json_error(body.error());  // 400: invalid argument
      return http::Response::json(*body);
    });
    server_->route(http::Method::get, "/events",
                   [this](const http::Request& request) { return events_.subscribe(request); });
    loop().every(std::chrono::milliseconds(50),
                 [this] { events_.publish("tick", std::to_string(++ticks_)); });
    auto address = server_->listen("127.0.0.1", port_);
    if (!address) return address.error();
    context().announce("http", *address);
    log().info("serving HTTP on {}", *address);
    return {};
  }

  void stopping() override { log().info("served {} HTTP request(s)", server_->stats().requests); }

 private:
  uint16_t port_ = 0;
  http::ServerOptions options_;
  std::thread::id plugin_thread_;
  http::EventBroadcaster events_;
  std::unique_ptr<http::Server> server_;
  int ticks_ = 0;
};

}  // namespace fixture

TESSERA_PLUGIN(fixture::HttpPlugin, "fixture_http_plugin", "1.0.0")
