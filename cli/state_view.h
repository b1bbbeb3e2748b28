// How `tessera agents|frameworks|tasks` show the master's state: aligned text tables, or JSON
// with Mesos's field names (see docs/cli.md for both shapes).
#pragma once

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "tessera/protocol/operator.h"
#include "tessera/protocol/resources.h"

namespace tessera::cli {

// A text table: a header row and rows, each column as wide as its widest cell, columns two
// spaces apart, no trailing blanks; every line ends with '\n'.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

std::string agents_table(const protocol::operator_api::State& state);
std::string frameworks_table(const protocol::operator_api::State& state);
std::string tasks_table(const protocol::operator_api::State& state);
// `tessera roles`: each role's weight, priority, quota, what it holds and its dominant share.
std::string roles_table(const protocol::operator_api::State& state);
// `tessera state`: the master, its agents, frameworks, tasks by state and the cluster's
// resources used over total, in a few lines.
std::string state_summary(const protocol::operator_api::State& state);

// {"cpus": 0.5, "mem": 64, "ports": "[31000-31001]"}: scalars as numbers, ranges in Mesos's
// text form.
boost::json::object resources_json(const protocol::Resources& resources);
// {"agents": [...]}, {"frameworks": [...]}, {"tasks": [...]}.
boost::json::object agents_json(const protocol::operator_api::State& state);
boost::json::object frameworks_json(const protocol::operator_api::State& state);
boost::json::object tasks_json(const protocol::operator_api::State& state);

// JSON text, indented two spaces per level, ending with '\n'.
std::string pretty(const boost::json::value& value);

}  // namespace tessera::cli
