// The SDK's HTTP facility: an HTTP/1.1 server on Boost.Beast that runs on the plugin's own
// EventLoop, for plugins that serve a REST API, a web UI or an event stream.
//
//   http::Server            listen, route, authorize; limits and timeouts (http/server.h)
//   http::Request/Response  what handlers see and return; json_error() (http/message.h)
//   http::Responder         answer later, e.g. after asking another plugin over the bus
//   http::Stream            chunked responses and Server-Sent Events
//   http::EventBroadcaster  SSE fan-out with Last-Event-ID replay (http/event_stream.h)
//   http::StaticFiles       files served from memory, with ETag and 304 (http/static_files.h)
//   http::Router            the path-pattern matcher the server uses (http/router.h)
//   http::Client            one-shot requests to other servers: proxying, callbacks (http/client.h)
//
// A plugin using it links Tessera::http (Boost.JSON and Boost.URL) as well as Tessera::sdk:
//
//   http::Server server(loop(), log(), http::ServerOptions::from_config(table));
//   server.route(http::Method::get, "/v2/apps/{id*}", [&](const http::Request& r) {
//     auto app = apps_.find(std::string(r.param("id")));
//     if (app == apps_.end()) return http::json_error(404, "no app '" + ... + "'");
//     return http::Response::json(to_json(*app));
//   });
//   auto address = server.listen("127.0.0.1", 8080);
//
// See docs/plugins.md ("Serving HTTP") and docs/architecture.md ("HTTP in plugins").
#pragma once

#include "tessera/sdk/http/client.h"
#include "tessera/sdk/http/event_stream.h"
#include "tessera/sdk/http/message.h"
#include "tessera/sdk/http/router.h"
#include "tessera/sdk/http/server.h"
#include "tessera/sdk/http/static_files.h"
