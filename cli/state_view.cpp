#include "state_view.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include "options.h"
#include "state_json.h"

namespace tessera::cli {

namespace json = boost::json;
using master_http::number_json;
using protocol::operator_api::State;

std::string Table::render() const {
  std::vector<size_t> width(header_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  };
  measure(header_);
  for (const auto& row : rows_) measure(row);
  std::string out;
  auto line = [&](const std::vector<std::string>& row) {
    std::string text;
    for (size_t i = 0; i < width.size(); ++i) {
      std::string cell = i < row.size() ? row[i] : "";
      if (i + 1 < width.size()) cell.resize(width[i], ' ');
      text += cell;
      if (i + 1 < width.size()) text += "  ";
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  line(header_);
  for (const auto& row : rows_) line(row);
  return out;
}

namespace {

std::string used_of(const protocol::Resources& used, const protocol::Resources& total,
                    const std::string& name) {
  return number(used.scalar(name)) + "/" + number(total.scalar(name));
}

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

std::string ranges_text(const std::vector<protocol::Range>& ranges) {
  std::string out = "[";
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(ranges[i].begin) + "-" + std::to_string(ranges[i].end);
  }
  return out + "]";
}

}  // namespace

std::string agents_table(const State& state) {
  Table table({"ID", "HOSTNAME", "ACTIVE", "CPUS", "MEM", "DISK"});
  for (const auto& a : state.agents) {
    table.add({a.agent_id, a.hostname, a.active ? "true" : "false",
               used_of(a.used, a.total, "cpus"), used_of(a.used, a.total, "mem"),
               used_of(a.used, a.total, "disk")});
  }
  return table.render();
}

std::string frameworks_table(const State& state) {
  Table table({"ID", "NAME", "ROLES", "CONNECTED", "TASKS", "CPUS", "MEM"});
  for (const auto& f : state.frameworks) {
    table.add({f.framework_id, f.name, join(f.roles, ","), f.connected ? "true" : "false",
               std::to_string(f.active_tasks), number(f.used.scalar("cpus")),
               number(f.used.scalar("mem"))});
  }
  return table.render();
}

namespace {

// A measured amount in the unit of its column ("-" when it was not measured).
std::string measured(double value, double unit, const char* format) {
  if (value < 0) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value / unit);
  return buf;
}

}  // namespace

std::string tasks_table(const State& state) {
  Table table({"ID", "NAME", "STATE", "FRAMEWORK", "AGENT", "CPUS", "MEM", "CPU-SECS", "MEM-USED",
               "MEM-PEAK"});
  constexpr double kMB = 1024.0 * 1024.0;
  for (const auto& t : state.tasks) {
    const protocol::ResourceUsage& u = t.usage;
    bool reported = u.timestamp > 0;
    table.add({t.task_id, t.name, t.state, t.framework_id, t.agent_id,
               number(t.resources.scalar("cpus")), number(t.resources.scalar("mem")),
               reported ? measured(u.cpu_seconds, 1, "%.2f") : "-",
               reported ? measured(static_cast<double>(u.mem_bytes), kMB, "%.1f") : "-",
               reported ? measured(static_cast<double>(u.mem_peak_bytes), kMB, "%.1f") : "-"});
  }
  return table.render();
}

std::string roles_table(const State& state) {
  Table table({"ROLE", "WEIGHT", "PRIORITY", "QUOTA", "ALLOCATED", "SHARE"});
  for (const auto& r : state.roles) {
    table.add({r.name, number(r.weight), std::to_string(r.priority),
               r.has_quota ? r.quota.to_string() : "-",
               r.allocated.empty() ? "-" : r.allocated.to_string(), number(r.share)});
  }
  return table.render();
}

std::string state_summary(const State& state) {
  size_t active = 0;
  protocol::Resources total, used;
  for (const auto& a : state.agents) {
    if (!a.active) continue;
    ++active;
    total += a.total;
    used += a.used;
  }
  size_t connected = 0;
  for (const auto& f : state.frameworks) connected += f.connected ? 1 : 0;
  std::map<std::string, size_t> live, completed;
  for (size_t i = 0; i < state.tasks.size(); ++i) {
    ++(i < state.active_tasks ? live : completed)[state.tasks[i].state];
  }
  auto by_state = [](const std::map<std::string, size_t>& counts) {
    std::string out;
    for (const auto& [name, count] : counts) {
      out += (out.empty() ? "" : ", ") + std::to_string(count) + " " + name;
    }
    return out.empty() ? std::string("none") : out;
  };
  std::string out;
  out += "master      " + state.master_id + " at " + state.endpoint +
         (state.version.empty() ? "" : " (version " + state.version + ")") + "\n";
  out += "agents      " + std::to_string(active) + " active, " +
         std::to_string(state.agents.size() - active) + " unreachable\n";
  out += "frameworks  " + std::to_string(connected) + " connected, " +
         std::to_string(state.frameworks.size() - connected) + " disconnected\n";
  out += "tasks       " + by_state(live) + "\n";
  out += "completed   " + by_state(completed) + "\n";
  out += "resources   cpus " + used_of(used, total, "cpus") + ", mem " +
         used_of(used, total, "mem") + " MB, disk " + used_of(used, total, "disk") + " MB used\n";
  out += "offers      " + std::to_string(state.offers.size()) + " outstanding\n";
  return out;
}

json::object resources_json(const protocol::Resources& resources) {
  json::object out;
  // Mesos always lists the four standard scalars.
  for (const char* name : {"cpus", "mem", "disk", "gpus"})
    out[name] = number_json(resources.scalar(name));
  for (const auto& [name, value] : resources.scalars) out[name] = number_json(value);
  for (const auto& [name, ranges] : resources.ranges) out[name] = ranges_text(ranges);
  return out;
}

json::object agents_json(const State& state) {
  json::array agents;
  for (const auto& a : state.agents) {
    json::object attributes;
    for (const auto& attribute : a.attributes) attributes[attribute.name] = attribute.value;
    agents.push_back(json::object{
        {"id", a.agent_id},
        {"hostname", a.hostname},
        {"active", a.active},
        {"resources", resources_json(a.total)},
        {"used_resources", resources_json(a.used)},
        {"offered_resources", resources_json(a.offered)},
        {"unreserved_resources", resources_json(a.total - a.used)},
        {"attributes", std::move(attributes)},
        {"registered_time", number_json(a.registered_at)},
    });
  }
  return json::object{{"agents", std::move(agents)}};
}

json::object frameworks_json(const State& state) {
  json::array frameworks;
  for (const auto& f : state.frameworks) {
    json::array roles;
    for (const auto& r : f.roles) roles.push_back(json::value(r));
    frameworks.push_back(json::object{
        {"id", f.framework_id},
        {"name", f.name},
        {"roles", std::move(roles)},
        {"active", f.connected},
        {"connected", f.connected},
        {"failover_timeout", number_json(f.failover_timeout_seconds)},
        {"used_resources", resources_json(f.used)},
        {"offered_resources", resources_json(f.offered)},
        {"active_tasks", f.active_tasks},
    });
  }
  return json::object{{"frameworks", std::move(frameworks)}};
}

json::object tasks_json(const State& state) {
  json::array tasks;
  for (const auto& t : state.tasks) {
    json::object task{
        {"id", t.task_id},
        {"name", t.name},
        {"framework_id", t.framework_id},
        {"agent_id", t.agent_id},
        {"slave_id", t.agent_id},
        {"state", t.state},
        {"resources", resources_json(t.resources)},
        {"sandbox", t.sandbox},
    };
    json::array statuses;
    if (!t.last_status.state.empty()) {
      const auto& s = t.last_status;
      json::object status{{"state", s.state}, {"timestamp", number_json(s.timestamp)}};
      if (!s.reason.empty()) status["reason"] = s.reason;
      if (!s.source.empty()) status["source"] = s.source;
      if (!s.message.empty()) status["message"] = s.message;
      if (s.exit_code >= 0) status["exit_code"] = s.exit_code;
      statuses.push_back(std::move(status));
    }
    task["statuses"] = std::move(statuses);
    // The latest usage the agent reported; what was not measured is left out.
    if (t.usage.timestamp > 0) task["usage"] = master_http::usage_json(t.usage);
    tasks.push_back(std::move(task));
  }
  return json::object{{"tasks", std::move(tasks)}};
}

namespace {

void pretty_into(std::string& out, const json::value& v, int indent) {
  auto pad = [&](int n) { out.append(static_cast<size_t>(n) * 2, ' '); };
  if (v.is_object()) {
    const auto& o = v.get_object();
    if (o.empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    size_t i = 0;
    for (const auto& kv : o) {
      pad(indent + 1);
      out += json::serialize(json::value(kv.key())) + ": ";
      pretty_into(out, kv.value(), indent + 1);
      out += ++i < o.size() ? ",\n" : "\n";
    }
    pad(indent);
    out += "}";
  } else if (v.is_array()) {
    const auto& a = v.get_array();
    if (a.empty()) {
      out += "[]";
      return;
    }
    out += "[\n";
    for (size_t i = 0; i < a.size(); ++i) {
      pad(indent + 1);
      pretty_into(out, a[i], indent + 1);
      out += i + 1 < a.size() ? ",\n" : "\n";
    }
    pad(indent);
    out += "]";
  } else if (v.is_double() && std::isfinite(v.get_double())) {
    // The shortest text that reads back as the same double ("0.5", not Boost.JSON's "5E-1").
    char buffer[32];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v.get_double());
    out.append(buffer, ec == std::errc() ? end : buffer);
    if (ec != std::errc()) out += json::serialize(v);
  } else {
    out += json::serialize(v);
  }
}

}  // namespace

std::string pretty(const json::value& value) {
  std::string out;
  pretty_into(out, value, 0);
  return out + "\n";
}

}  // namespace tessera::cli
