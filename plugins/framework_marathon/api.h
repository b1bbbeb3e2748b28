// Marathon's /v2 REST API as functions of a request's parts (path ids, query, body text) that
// return the status, headers and JSON body Marathon answers with. The plugin maps its HTTP
// routes onto them; tests call them directly.
//
// Bodies and ids come from the wire: a body is parsed only up to the HTTP server's size limit,
// and every field is checked by parse_app (422 naming each bad field).
//
// Threading: the scheduler's thread.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "scheduler.h"

namespace tessera::marathon {

struct Reply {
  unsigned status = 200;
  boost::json::value body;  // JSON, unless `text` is set
  std::optional<std::string> text;
  std::string content_type = "application/json; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
};

// A request's query: every value of every key, decoded.
using Query = std::map<std::string, std::vector<std::string>>;

// What /v2/info and /v2/leader tell.
struct ServiceInfo {
  std::string name = "marathon";
  std::string version = "1.9.0";
  std::string framework_id;
  std::string http_address;  // HOST:PORT this API serves on
  std::function<bool()> leading;
  std::function<std::string()> leader_address;  // "" when unknown
};

class Api {
 public:
  Api(Scheduler& scheduler, ServiceInfo info) : scheduler_(scheduler), info_(std::move(info)) {}

  // Publishes api_post_event through this hook (the plugin's event stream). The changes below
  // that take a `client` (the request's peer, "HOST:PORT") name its address alone as the
  // event's clientIp, as Marathon does.
  std::function<void(const boost::json::object&)> on_api_post;

  Reply list_apps(const Query& query) const;
  Reply create_app(const std::string& body, const std::string& client);
  Reply get_app(const std::string& id, const Query& query) const;
  // PUT and PATCH: the fields given replace the app's (a new app for PUT); PUT with
  // partialUpdate=false replaces the whole definition (instances kept when not given).
  Reply put_app(const std::string& id, const std::string& body, const Query& query, bool patch,
                const std::string& client);
  // PUT /v2/apps and PATCH /v2/apps: a JSON array of app updates (each with its id), applied as
  // put_app applies one and deployed together in one deployment; PATCH only changes apps that
  // exist (404 otherwise).
  Reply put_apps(const std::string& body, const Query& query, bool patch,
                 const std::string& client);
  // DELETE /v2/apps/{id}: forced unless force=false, as Marathon's.
  Reply delete_app(const std::string& id, const Query& query);
  Reply restart_app(const std::string& id, const Query& query);
  // GET /v2/apps/{id}/tasks: JSON, or with `plain_text` the text form of tasks(), for this app.
  Reply app_tasks(const std::string& id, bool plain_text = false) const;
  Reply kill_app_tasks(const std::string& id, const Query& query);
  Reply kill_app_task(const std::string& id, const std::string& task_id, const Query& query);
  Reply app_versions(const std::string& id) const;
  Reply app_version(const std::string& id, const std::string& version) const;
  Reply tasks(const Query& query, bool plain_text) const;
  Reply kill_tasks(const std::string& body, const Query& query);
  Reply queue(const Query& query) const;
  // DELETE /v2/queue/{id}/delay: 204, or 404 when the app has no instance waiting.
  Reply reset_delay(const std::string& id);
  Reply deployments() const;
  Reply delete_deployment(const std::string& id, const Query& query);
  // GET /v2/groups/{id}, and as Marathon's GroupsResource reads the same path:
  // `{id}/versions` (and the root's `versions`) lists the group's versions, newest first, and
  // `{id}/versions/{version}` shows the group as of a version (only its current one is kept
  // whole: any other is 404).
  Reply groups(const std::string& id, const Query& query = {}) const;
  // POST /v2/groups (id from the body), POST /v2/groups/{id} (a relative id in the body is
  // taken from {id}) and PUT /v2/groups/{id}: every app of the group and its
  // subgroups is created or updated; with PUT, the group's apps that the body does not name
  // are removed. DELETE /v2/groups/{id} removes every app below the group.
  Reply put_group(const std::string& id, const std::string& body, const Query& query, bool create,
                  const std::string& client);
  Reply delete_group(const std::string& id, const Query& query);
  Reply info() const;
  Reply leader() const;
  // DELETE /v2/leader, as Marathon's LeaderResource answers it: 200 "Leadership abdicated" once
  // this host asked its leader plugin to give leadership up (`resigned`), 404 "There is no
  // leader" on a host that does not lead.
  static Reply abdicate(bool resigned);
  // A change asked for by a web page of another origin (a browser's cross-site POST: a form,
  // or fetch() with a text/plain body, which needs no CORS preflight) is refused with 403, so
  // that a page the operator opens cannot create apps (run commands) through an API bound to
  // 127.0.0.1. `origin` is the request's Origin header (browsers send it with every POST; other
  // clients send none, and are not affected), `host` its Host header. nullopt: allowed.
  static std::optional<Reply> refuse_cross_origin(std::string_view origin, std::string_view host);
  // The endpoints whose body is JSON are Marathon's resources that consume only
  // application/json (AppsResource and TasksResource's delete: Jersey's @Consumes): a body
  // declared as anything else (a form's type, text/plain) gets 415 {"message": "Unsupported
  // Media Type"}. Parameters are allowed ("application/json; charset=utf-8"), and, as Jersey
  // matches, so is a request without a Content-Type. GroupsResource consumes anything (no
  // @Consumes since Marathon 0.9), so the group endpoints do not ask for this. nullopt:
  // allowed.
  static std::optional<Reply> refuse_media_type(std::string_view content_type);

  void set_framework_id(const std::string& id) { info_.framework_id = id; }
  void set_http_address(const std::string& address) { info_.http_address = address; }

  // The app as GET /v2/apps shows it, with the parts `embed` asks for.
  boost::json::object app_json(const App& app, bool tasks, bool counts, bool deployments,
                               bool last_failure) const;
  // Marathon's `taskStats` (embed=apps.taskStats): counts and life times of the app's tasks,
  // in all, started since its last scaling, and with its latest and with older configs.
  boost::json::object task_stats(const App& app) const;

 private:
  // Reads the body as JSON: 400 with Marathon's "Invalid JSON" body when it is not.
  std::optional<Reply> parse_body(const std::string& body, boost::json::value& out) const;
  // 409 when the app has a deployment and force is not set.
  std::optional<Reply> locked(const std::string& app_id, const Query& query) const;
  Reply change_reply(const Scheduler::Change& change, unsigned status) const;
  // api_post_event for `app` as changed over `uri` by `client` (on_api_post).
  void post_event(std::string_view client, const std::string& uri, const App& app) const;
  // The group `id` (canonical) as GET /v2/groups shows it, with what `query` embeds; with
  // `definitions`, its apps as their definitions alone (a group version's form).
  Reply group_tree(const std::string& id, const Query& query, bool definitions) const;
  Reply group_versions(const std::string& raw_id) const;
  Reply group_version(const std::string& raw_id, const std::string& version,
                      const Query& query) const;
  // The text form of the tasks for load-balancer bridges, of every app or of `only`.
  Reply tasks_text(const std::optional<std::string>& only) const;
  // The id of an app the change would add that is also a group's (an app or a group below it,
  // or a group of that id), or of a group it would add that is also an app's, as Marathon's
  // root group validation refuses ("Groups and Applications may not have the same identifier.").
  // Only what the change adds is looked at, so an older clash does not block other changes.
  std::optional<std::string> id_clash(const std::vector<App>& apps,
                                      const std::vector<std::string>& gone,
                                      const std::vector<GroupSpec>& groups,
                                      const std::vector<std::string>& gone_groups) const;
  // What this Marathon accepts of a valid app but cannot do: COMMAND checks it does not run (a
  // check that never reports keeps every task unhealthy) are violations at `where`.
  void check_supported(const App& app, const std::string& where,
                       std::vector<Violation>& violations) const;

  Scheduler& scheduler_;
  ServiceInfo info_;
};

bool query_flag(const Query& query, const std::string& key);

}  // namespace tessera::marathon
