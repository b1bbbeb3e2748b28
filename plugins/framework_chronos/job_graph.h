// The dependency graph of jobs: which jobs run after which, kept acyclic, and when a dependent
// job's round of parents is complete.
//
// Every job is a node (scheduled jobs have no parents); an edge goes from a parent to a child.
//
// Rounds, as Chronos counts them (JobGraph.getExecutableChildren): a child with one parent fires
// each time that parent completes. A child with several parents fires once per round: a round
// is complete when every parent has completed at least once since the child last fired, and the
// child fires at the completion that makes it complete. A parent that completes twice within a
// round counts once. "Completes" means succeeded, was marked successful, or (with softError)
// failed for good; the caller decides and calls record_completion. Chronos resets a round when
// the child's task starts; this graph resets it when the child fires, so that a parent that
// completes again between the child's firing and its start opens the next round instead of
// being lost.
//
// Ownership and threading: a plain value owned by the scheduler core, used from one thread.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/result.h"

namespace tessera::chronos {

class JobGraph {
 public:
  bool contains(const std::string& name) const { return nodes_.count(name) != 0; }
  size_t size() const { return nodes_.size(); }

  // Whether `name` may have these parents: each must be a job (other than `name`), and the
  // edges must not close a cycle. The error names the unknown parent or the cycle's path.
  Status check_parents(const std::string& name, const std::vector<std::string>& parents) const;

  // Adds the job or replaces its parents (check_parents first). A child whose set of parents
  // changes starts a new round.
  void set(const std::string& name, const std::vector<std::string>& parents);
  // Removes the job and its edges in both directions.
  void remove(const std::string& name);

  const std::vector<std::string>& parents_of(const std::string& name) const;
  const std::set<std::string>& children_of(const std::string& name) const;

  // Records that `parent` completed and returns the children that fire now, in name order.
  std::vector<std::string> record_completion(const std::string& parent);
  // Starts a new round for `child` (Chronos does this when a job is marked successful).
  void reset_round(const std::string& child);
  // The parents that have completed in `child`'s current round, for the store.
  std::vector<std::string> round_progress(const std::string& child) const;
  // Puts back a round read from the store; names that are not parents are ignored.
  void restore_round(const std::string& child, const std::vector<std::string>& completed);

  // Chronos's /graph/csv: "node,NAME,LAST,CURRENT" for every job, then "link,PARENT,CHILD" for
  // every edge, each line ending in a newline. `describe` gives a job's last state (success,
  // failure, fresh) and current state (idle, queued, "N running").
  using NodeDescriber =
      std::function<std::pair<std::string_view, std::string>(const std::string& name)>;
  std::string to_csv(const NodeDescriber& describe) const;
  // Chronos's /graph/dot (JGraphT's DOTExporter with integer ids and names as labels).
  std::string to_dot() const;

  // Every job name, in name order.
  std::vector<std::string> names() const;

 private:
  struct Node {
    std::vector<std::string> parents;  // sorted, unique
    std::set<std::string> children;
    std::set<std::string> round;  // parents completed in the current round
  };

  std::map<std::string, Node> nodes_;
};

}  // namespace tessera::chronos
