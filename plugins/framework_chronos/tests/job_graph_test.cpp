// The dependency graph: unknown parents and cycles refused, rounds of several parents, and the
// CSV and DOT exports.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "job_graph.h"

namespace tessera::chronos {
namespace {

using Names = std::vector<std::string>;

JobGraph diamond() {
  // a -> b, a -> c, b -> d, c -> d
  JobGraph graph;
  graph.set("a", {});
  graph.set("b", {"a"});
  graph.set("c", {"a"});
  graph.set("d", {"b", "c"});
  return graph;
}

TEST(JobGraph, RefusesUnknownParentsAndCycles) {
  JobGraph graph = diamond();
  EXPECT_TRUE(graph.check_parents("e", {"d"}).ok());
  auto unknown = graph.check_parents("e", {"a", "zz"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "parent 'zz' of job 'e' does not exist");
  auto self = graph.check_parents("a", {"a"});
  ASSERT_FALSE(self.ok());
  EXPECT_EQ(self.error().message, "job 'a' cannot be its own parent");
  auto cycle = graph.check_parents("a", {"d"});
  ASSERT_FALSE(cycle.ok());
  EXPECT_EQ(cycle.error().message,
            "parents of job 'a' would make a cycle: 'a' -> 'b' -> 'd' -> 'a'");
  // Replacing b's parent with c keeps it acyclic.
  EXPECT_TRUE(graph.check_parents("b", {"c"}).ok());
  EXPECT_FALSE(graph.check_parents("b", {"d"}).ok());
}

TEST(JobGraph, SetReplacesParentsAndRemoveDropsEdgesBothWays) {
  JobGraph graph = diamond();
  EXPECT_EQ(graph.children_of("a").size(), 2u);
  graph.set("d", {"c"});
  EXPECT_EQ(graph.parents_of("d"), (Names{"c"}));
  EXPECT_TRUE(graph.children_of("b").empty());
  graph.remove("c");
  EXPECT_FALSE(graph.contains("c"));
  EXPECT_TRUE(graph.parents_of("d").empty());
  EXPECT_EQ(graph.children_of("a").size(), 1u);
  EXPECT_EQ(graph.size(), 3u);
}

TEST(JobGraph, AChildWithOneParentFiresEachTimeItCompletes) {
  JobGraph graph = diamond();
  EXPECT_EQ(graph.record_completion("a"), (Names{"b", "c"}));
  EXPECT_EQ(graph.record_completion("a"), (Names{"b", "c"}));
}

TEST(JobGraph, AChildWithTwoParentsFiresOncePerRoundOfBoth) {
  JobGraph graph = diamond();
  EXPECT_EQ(graph.record_completion("b"), Names{});
  EXPECT_EQ(graph.round_progress("d"), (Names{"b"}));
  // b again in the same round counts once.
  EXPECT_EQ(graph.record_completion("b"), Names{});
  EXPECT_EQ(graph.record_completion("c"), (Names{"d"}));
  EXPECT_TRUE(graph.round_progress("d").empty());
  // The next round starts from nothing: c alone does not fire d.
  EXPECT_EQ(graph.record_completion("c"), Names{});
  EXPECT_EQ(graph.record_completion("b"), (Names{"d"}));
  // Two full rounds, interleaved, fire twice.
  int fired = 0;
  for (const char* parent : {"b", "c", "c", "b"}) {
    fired += static_cast<int>(graph.record_completion(parent).size());
  }
  EXPECT_EQ(fired, 2);
}

TEST(JobGraph, ChangingParentsOrResettingStartsANewRound) {
  JobGraph graph = diamond();
  graph.record_completion("b");
  graph.reset_round("d");
  EXPECT_EQ(graph.record_completion("c"), Names{});
  graph.set("d", {"b", "c"});  // unchanged: the round is kept
  EXPECT_EQ(graph.round_progress("d"), (Names{"c"}));
  graph.set("e", {});
  graph.set("d", {"b", "c", "e"});
  EXPECT_TRUE(graph.round_progress("d").empty());
}

TEST(JobGraph, RestoresARoundFromTheStore) {
  JobGraph graph = diamond();
  graph.restore_round("d", {"c", "not-a-parent"});
  EXPECT_EQ(graph.round_progress("d"), (Names{"c"}));
  EXPECT_EQ(graph.record_completion("b"), (Names{"d"}));
  // A complete round is never restored as such.
  graph.restore_round("d", {"b", "c"});
  EXPECT_TRUE(graph.round_progress("d").empty());
}

TEST(JobGraph, ExportsCsvAsChronossGraphCsv) {
  JobGraph graph = diamond();
  std::string csv = graph.to_csv([](const std::string& name) {
    return std::make_pair(std::string_view(name == "a" ? "success" : "fresh"),
                          std::string(name == "b" ? "1 running" : "idle"));
  });
  EXPECT_EQ(csv,
            "node,a,success,idle\n"
            "node,b,fresh,1 running\n"
            "node,c,fresh,idle\n"
            "node,d,fresh,idle\n"
            "link,a,b\n"
            "link,a,c\n"
            "link,b,d\n"
            "link,c,d\n");
}

TEST(JobGraph, ExportsDotAsJGraphTDoes) {
  JobGraph graph = diamond();
  EXPECT_EQ(graph.to_dot(),
            "digraph G {\n"
            "  1 [ label=\"a\" ];\n"
            "  2 [ label=\"b\" ];\n"
            "  3 [ label=\"c\" ];\n"
            "  4 [ label=\"d\" ];\n"
            "  1 -> 2;\n"
            "  1 -> 3;\n"
            "  2 -> 4;\n"
            "  3 -> 4;\n"
            "}\n");
  EXPECT_EQ(JobGraph().to_dot(), "digraph G {\n}\n");
}

}  // namespace
}  // namespace tessera::chronos
