// The cgroup library without a kernel: mount-table detection, limits from resources, and the
// v2 file layout against a temporary directory tree (v1 is exercised for real, as root, by
// cgroups_isolator_test.cpp).
#include "cgroups.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace {

using namespace tessera::isolator_cgroups;
namespace fs = std::filesystem;

struct TempTree {
  TempTree() {
    char name[] = "/tmp/tessera-cgroups-XXXXXX";
    root = ::mkdtemp(name);
  }
  ~TempTree() { fs::remove_all(root); }
  void write(const fs::path& relative, const std::string& text) const {
    fs::create_directories((root / relative).parent_path());
    std::ofstream(root / relative) << text;
  }
  std::string read(const fs::path& relative) const {
    std::ifstream in(root / relative);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  fs::path root;
};

const char* kV1Mounts =
    "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0\n"
    "cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,memory 0 0\n"
    "cgroup /sys/fs/cgroup/pids cgroup rw,nosuid,pids 0 0\n"
    "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid 0 0\n";

TEST(Detect, PrefersACompleteV1AndFindsEachController) {
  TempTree tree;
  tree.write("sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
  auto h = detect(kV1Mounts, "auto", tree.root);
  ASSERT_TRUE(h.ok()) << h.error().message;
  EXPECT_EQ(h->version, Version::kV1);
  EXPECT_EQ(h->controllers.at("cpu"), tree.root / "sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(h->controllers.at("cpuacct"), tree.root / "sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(h->controllers.at("memory"), tree.root / "sys/fs/cgroup/memory");
  // This machine's unified hierarchy offers only hugetlb: v2 cannot be had.
  auto v2 = detect(kV1Mounts, "v2", tree.root);
  ASSERT_FALSE(v2.ok());
  EXPECT_NE(v2.error().message.find("v2 lacks cpu, memory, pids"), std::string::npos)
      << v2.error().message;
}

TEST(Detect, TakesV2WhenItOffersEveryController) {
  TempTree tree;
  tree.write("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma\n");
  auto h = detect("cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev 0 0\n", "auto", tree.root);
  ASSERT_TRUE(h.ok()) << h.error().message;
  EXPECT_EQ(h->version, Version::kV2);
  for (const auto& name : required_controllers()) {
    EXPECT_EQ(h->controllers.at(name), tree.root / "sys/fs/cgroup") << name;
  }
  auto v1 = detect("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n", "v1", tree.root);
  ASSERT_FALSE(v1.ok());
  EXPECT_NE(v1.error().message.find("no v1 hierarchy"), std::string::npos) << v1.error().message;
}

TEST(Detect, NothingMountedSaysWhatIsMissing) {
  auto h = detect("proc /proc proc rw 0 0\n", "auto");
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.error().message.find("no v1 hierarchy; no v2 hierarchy"), std::string::npos)
      << h.error().message;
}

TEST(Limits, FromResources) {
  tessera::protocol::Resources r;
  r.scalars = {{"cpus", 0.5}, {"mem", 64}};
  LimitSettings s;
  s.pids_max = 100;
  Limits soft = limits_for(r, s);
  EXPECT_EQ(soft.cpu_shares, 512u);
  EXPECT_FALSE(soft.cpu_quota_us.has_value());
  EXPECT_EQ(soft.memory_bytes, 64 << 20);
  EXPECT_EQ(soft.pids_max, 100);
  s.cpu_hard_limit = true;
  EXPECT_EQ(limits_for(r, s).cpu_quota_us, 50000);
  EXPECT_FALSE(limits_for({}, LimitSettings{}).memory_bytes.has_value());
  EXPECT_EQ(weight_for_shares(2), 1u);
  EXPECT_EQ(weight_for_shares(262144), 10000u);
  EXPECT_EQ(weight_for_shares(1024), 39u);
}

TEST(CgroupNames, RoundTripAndStayOneComponent) {
  for (std::string id : {"web-1-00ab", "a/b", "..", "x y%z"}) {
    std::string name = cgroup_name(id);
    EXPECT_EQ(name.find('/'), std::string::npos) << name;
    EXPECT_NE(name, "..");
    EXPECT_EQ(container_id_of(name), id);
  }
}

// The v2 layout on a fake tree: one directory for every controller, the controllers enabled
// down to the agent's parent, limits in cpu.weight, cpu.max, memory.max and pids.max, usage from
// cpu.stat, memory.current and memory.peak, OOM kills from memory.events.
TEST(CgroupsV2, WritesAndReadsTheV2FilesInOneDirectory) {
  TempTree tree;
  Hierarchy h{Version::kV2, {}};
  for (const auto& c : required_controllers()) h.controllers[c] = tree.root;
  tree.write("cgroup.subtree_control", "");
  tree.write("tessera/cgroup.subtree_control", "");
  tree.write("tessera/agent1/cgroup.subtree_control", "");
  auto opened = Cgroups::open(h, "tessera/agent1");
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(tree.read("tessera/cgroup.subtree_control"), "+cpu +memory +pids");
  EXPECT_EQ(tree.read("tessera/agent1/cgroup.subtree_control"), "+cpu +memory +pids");
  auto dirs = opened->directories("c1");
  ASSERT_EQ(dirs.size(), 1u);
  EXPECT_EQ(dirs[0], tree.root / "tessera/agent1/c1");
  for (const char* file : {"cpu.weight", "cpu.max", "memory.max", "pids.max", "cgroup.procs"}) {
    tree.write(fs::path("tessera/agent1/c1") / file, "");
  }
  Limits limits;
  limits.cpu_shares = 512;
  limits.cpu_quota_us = 20000;
  limits.memory_bytes = 32 << 20;
  limits.pids_max = 64;
  ASSERT_TRUE(opened->create("c1", limits).ok());
  EXPECT_EQ(tree.read("tessera/agent1/c1/cpu.weight"), std::to_string(weight_for_shares(512)));
  EXPECT_EQ(tree.read("tessera/agent1/c1/cpu.max"), "20000 100000");
  EXPECT_EQ(tree.read("tessera/agent1/c1/memory.max"), std::to_string(32 << 20));
  EXPECT_EQ(tree.read("tessera/agent1/c1/pids.max"), "64");
  ASSERT_TRUE(opened->attach("c1", 4242).ok());
  EXPECT_EQ(tree.read("tessera/agent1/c1/cgroup.procs"), "4242");

  tree.write("tessera/agent1/c1/cpu.stat", "usage_usec 2500000\nuser_usec 2000000\n");
  tree.write("tessera/agent1/c1/memory.current", "1048576\n");
  tree.write("tessera/agent1/c1/memory.peak", "2097152\n");
  tree.write("tessera/agent1/c1/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
  Usage u = opened->usage("c1");
  EXPECT_DOUBLE_EQ(u.cpu_seconds, 2.5);
  EXPECT_EQ(u.memory_bytes, 1048576);
  EXPECT_EQ(u.memory_peak_bytes, 2097152);
  EXPECT_EQ(opened->oom_kills("c1"), 1);
  EXPECT_EQ(opened->containers(), std::vector<std::string>{"c1"});
}

}  // namespace
