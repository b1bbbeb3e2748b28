#include "job_graph.h"

#include <algorithm>
#include <deque>

namespace tessera::chronos {

namespace {

const std::vector<std::string> kNoParents;
const std::set<std::string> kNoChildren;

}  // namespace

Status JobGraph::check_parents(const std::string& name,
                               const std::vector<std::string>& parents) const {
  for (const std::string& parent : parents) {
    if (parent == name) {
      return make_error("job '" + name + "' cannot be its own parent");
    }
    if (!contains(parent)) {
      return make_error("parent '" + parent + "' of job '" + name + "' does not exist");
    }
  }
  if (!contains(name)) return {};
  // The new edges parent -> name close a cycle exactly when a parent is reachable from name:
  // search breadth-first from name, remembering how each job was reached to name the path.
  std::set<std::string> wanted(parents.begin(), parents.end());
  std::map<std::string, std::string> reached_from{{name, ""}};
  std::deque<std::string> queue{name};
  while (!queue.empty()) {
    std::string current = std::move(queue.front());
    queue.pop_front();
    if (wanted.count(current) != 0) {
      std::vector<std::string> path{name};
      for (std::string at = current; at != name; at = reached_from[at]) path.push_back(at);
      std::reverse(path.begin() + 1, path.end());
      std::string text;
      for (const std::string& step : path) text += "'" + step + "' -> ";
      return make_error("parents of job '" + name + "' would make a cycle: " + text + "'" + name +
                        "'");
    }
    for (const std::string& child : children_of(current)) {
      if (reached_from.emplace(child, current).second) queue.push_back(child);
    }
  }
  return {};
}

void JobGraph::set(const std::string& name, const std::vector<std::string>& parents) {
  std::vector<std::string> sorted = parents;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  Node& node = nodes_[name];
  if (node.parents == sorted) return;
  for (const std::string& old_parent : node.parents) {
    auto it = nodes_.find(old_parent);
    if (it != nodes_.end()) it->second.children.erase(name);
  }
  for (const std::string& parent : sorted) nodes_[parent].children.insert(name);
  node.parents = std::move(sorted);
  node.round.clear();
}

void JobGraph::remove(const std::string& name) {
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return;
  for (const std::string& parent : it->second.parents) {
    auto p = nodes_.find(parent);
    if (p != nodes_.end()) p->second.children.erase(name);
  }
  for (const std::string& child : it->second.children) {
    auto c = nodes_.find(child);
    if (c == nodes_.end()) continue;
    auto& list = c->second.parents;
    list.erase(std::remove(list.begin(), list.end(), name), list.end());
    c->second.round.erase(name);
  }
  nodes_.erase(it);
}

const std::vector<std::string>& JobGraph::parents_of(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? kNoParents : it->second.parents;
}

const std::set<std::string>& JobGraph::children_of(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? kNoChildren : it->second.children;
}

std::vector<std::string> JobGraph::record_completion(const std::string& parent) {
  std::vector<std::string> fired;
  for (const std::string& child : children_of(parent)) {
    Node& node = nodes_.at(child);
    node.round.insert(parent);
    if (node.round.size() >= node.parents.size()) {
      node.round.clear();
      fired.push_back(child);
    }
  }
  return fired;
}

void JobGraph::reset_round(const std::string& child) {
  auto it = nodes_.find(child);
  if (it != nodes_.end()) it->second.round.clear();
}

std::vector<std::string> JobGraph::round_progress(const std::string& child) const {
  auto it = nodes_.find(child);
  if (it == nodes_.end()) return {};
  return {it->second.round.begin(), it->second.round.end()};
}

void JobGraph::restore_round(const std::string& child, const std::vector<std::string>& completed) {
  auto it = nodes_.find(child);
  if (it == nodes_.end()) return;
  Node& node = it->second;
  node.round.clear();
  for (const std::string& parent : completed) {
    if (std::binary_search(node.parents.begin(), node.parents.end(), parent)) {
      node.round.insert(parent);
    }
  }
  // A round that was complete would have fired; never leave one complete.
  if (!node.parents.empty() && node.round.size() >= node.parents.size()) node.round.clear();
}

std::string JobGraph::to_csv(const NodeDescriber& describe) const {
  std::string out;
  out.reserve(nodes_.size() * 48);
  for (const auto& [name, node] : nodes_) {
    auto [last, current] = describe(name);
    out.append("node,").append(name).append(",").append(last).append(",").append(current);
    out.push_back('\n');
  }
  for (const auto& [name, node] : nodes_) {
    for (const std::string& child : node.children) {
      out.append("link,").append(name).append(",").append(child).push_back('\n');
    }
  }
  return out;
}

std::string JobGraph::to_dot() const {
  std::map<std::string_view, size_t> ids;
  std::string out = "digraph G {\n";
  for (const auto& [name, node] : nodes_) {
    size_t id = ids.size() + 1;
    ids.emplace(name, id);
    out.append("  ")
        .append(std::to_string(id))
        .append(" [ label=\"")
        .append(name)
        .append("\" ];\n");
  }
  for (const auto& [name, node] : nodes_) {
    for (const std::string& child : node.children) {
      out.append("  ")
          .append(std::to_string(ids.at(name)))
          .append(" -> ")
          .append(std::to_string(ids.at(child)))
          .append(";\n");
    }
  }
  out += "}\n";
  return out;
}

std::vector<std::string> JobGraph::names() const {
  std::vector<std::string> out;
  out.reserve(nodes_.size());
  for (const auto& entry : nodes_) out.push_back(entry.first);
  return out;
}

}  // namespace tessera::chronos
