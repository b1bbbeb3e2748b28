// The host's pieces driven directly: check_descriptor with one bad field at a time, load_config
// on files with one problem each, and the plugin search. The end-to-end tests show the same
// errors through the binary; these pin down each message and the cases a binary run cannot
// reach easily (every null entry point, every descriptor field).
#include <gtest/gtest.h>

#include "config.h"
#include "loader.h"
#include "support/process.h"
#include "tessera/abi.h"
#include "tessera/abi_fingerprint.h"

namespace tessera::host {
namespace {

using tessera::testing::TempDir;

tessera_status fake_create(const tessera_host_services*, void**, tessera_error_buffer) {
  return TESSERA_ERROR;
}
tessera_status fake_call(void*, tessera_error_buffer) { return TESSERA_ERROR; }
void fake_void(void*) {}

tessera_plugin_descriptor valid_descriptor() {
  return tessera_plugin_descriptor{TESSERA_ABI_VERSION,
                                   sizeof(tessera_plugin_descriptor),
                                   TESSERA_KIND_ALLOCATOR,
                                   "drf",
                                   "1.0.0",
                                   TESSERA_ABI_FINGERPRINT,
                                   TESSERA_SDK_VERSION,
                                   &fake_create,
                                   &fake_call,
                                   &fake_call,
                                   &fake_void,
                                   &fake_void};
}

std::string descriptor_error(const tessera_plugin_descriptor& d, const std::string& name = "drf") {
  Status status = check_descriptor(d, name);
  return status ? "accepted" : status.error().message;
}

TEST(HostCheckDescriptor, AcceptsValidDescriptor) {
  EXPECT_EQ(descriptor_error(valid_descriptor()), "accepted");
}

TEST(HostCheckDescriptor, AcceptsLargerStructFromNewerPlugin) {
  auto d = valid_descriptor();
  d.struct_size += 16;
  EXPECT_EQ(descriptor_error(d), "accepted");
}

TEST(HostCheckDescriptor, AbiVersionMismatch) {
  auto d = valid_descriptor();
  d.abi_version = TESSERA_ABI_VERSION + 1;
  EXPECT_EQ(descriptor_error(d), "abi_version is " + std::to_string(TESSERA_ABI_VERSION + 1) +
                                     ", this host supports " + std::to_string(TESSERA_ABI_VERSION) +
                                     ": rebuild the plugin against this host's SDK");
}

TEST(HostCheckDescriptor, StructTooSmall) {
  auto d = valid_descriptor();
  d.struct_size = 12;
  EXPECT_EQ(descriptor_error(d), "struct_size is 12, expected at least " +
                                     std::to_string(sizeof(tessera_plugin_descriptor)));
}

TEST(HostCheckDescriptor, UnknownKind) {
  for (uint32_t kind : {0u, 5u, 1000u}) {
    auto d = valid_descriptor();
    d.kind = kind;
    EXPECT_EQ(descriptor_error(d),
              "kind is " + std::to_string(kind) +
                  ", expected 1 (allocator), 2 (isolator), 3 (leader) or 4 (framework)");
  }
}

TEST(HostCheckDescriptor, NameNotMatchingFile) {
  EXPECT_EQ(descriptor_error(valid_descriptor(), "priority"),
            "name is 'drf' but the file is named 'priority.so': a plugin's file is named after "
            "it");
}

TEST(HostCheckDescriptor, NullName) {
  auto d = valid_descriptor();
  d.name = nullptr;
  EXPECT_EQ(descriptor_error(d),
            "name is null but the file is named 'drf.so': a plugin's file is named after it");
}

TEST(HostCheckDescriptor, EmptyOrNullVersion) {
  auto d = valid_descriptor();
  d.version = "";
  EXPECT_EQ(descriptor_error(d), "version is empty");
  d.version = nullptr;
  EXPECT_EQ(descriptor_error(d), "version is empty");
}

TEST(HostCheckDescriptor, FingerprintMismatch) {
  auto d = valid_descriptor();
  d.abi_fingerprint = "ffffffffffffffff";
  EXPECT_EQ(descriptor_error(d), std::string("abi_fingerprint is 'ffffffffffffffff', this "
                                             "host's is '") +
                                     TESSERA_ABI_FINGERPRINT +
                                     "': the plugin was built against a different "
                                     "tessera/abi.h; rebuild it against this host's SDK");
}

TEST(HostCheckDescriptor, NullFingerprint) {
  auto d = valid_descriptor();
  d.abi_fingerprint = nullptr;
  EXPECT_EQ(descriptor_error(d).rfind("abi_fingerprint is null, this host's is '", 0), 0u)
      << descriptor_error(d);
}

TEST(HostCheckDescriptor, EachNullEntryPointIsNamed) {
  struct Case {
    const char* name;
    void (*clear)(tessera_plugin_descriptor&);
  };
  const Case cases[] = {
      {"create", [](tessera_plugin_descriptor& d) { d.create = nullptr; }},
      {"start", [](tessera_plugin_descriptor& d) { d.start = nullptr; }},
      {"run", [](tessera_plugin_descriptor& d) { d.run = nullptr; }},
      {"request_stop", [](tessera_plugin_descriptor& d) { d.request_stop = nullptr; }},
      {"destroy", [](tessera_plugin_descriptor& d) { d.destroy = nullptr; }},
  };
  for (const Case& c : cases) {
    auto d = valid_descriptor();
    c.clear(d);
    EXPECT_EQ(descriptor_error(d), std::string("entry point '") + c.name + "' is null");
  }
}

TEST(HostCheckDescriptor, AbiVersionIsCheckedBeforeAnythingElse) {
  // A library built for another ABI may lay out the rest differently: nothing past the first
  // two fields may be trusted, so the version error wins over every other one.
  tessera_plugin_descriptor d{};
  d.abi_version = 7;
  EXPECT_EQ(descriptor_error(d).rfind("abi_version is 7,", 0), 0u) << descriptor_error(d);
}

// load_config on a file with one problem. Paths are the file's own, as the user wrote it.
class HostLoadConfig : public ::testing::Test {
 protected:
  Result<NodeConfig> load(const std::string& text, const std::string& default_dir = "") {
    dir_.write("node.toml", text);
    return load_config(path_, default_dir);
  }
  std::string error(const std::string& text) {
    auto config = load(text);
    return config ? "loaded" : config.error().message;
  }
  std::string file() const { return path_.string(); }

  TempDir dir_;
  std::filesystem::path path_ = dir_ / "node.toml";
};

TEST_F(HostLoadConfig, MissingFile) {
  auto config = load_config(dir_ / "absent.toml", "");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message,
            "cannot read configuration '" + (dir_ / "absent.toml").string() + "'");
}

TEST_F(HostLoadConfig, SyntaxErrorHasLineAndColumn) {
  std::string message = error("[node]\nname = \"x\"\nroles = [\"master\"\n");
  EXPECT_EQ(message.rfind(file() + ":3:", 0), 0u) << message;
}

TEST_F(HostLoadConfig, UnknownKeyListsValidKeys) {
  EXPECT_EQ(error("[log]\nlevl = \"info\"\n"),
            file() + ":2:1: unknown key 'log.levl' (valid keys: level, pattern)");
}

TEST_F(HostLoadConfig, WrongTypeNamesKeyPathAndBothTypes) {
  EXPECT_EQ(error("[node]\nroles = \"master\"\n"),
            file() + ":2:9: node.roles: expected an array of strings, got a string");
}

TEST_F(HostLoadConfig, UnknownRole) {
  EXPECT_EQ(error("[node]\nroles = [\"master\", \"scheduler\"]\n"),
            file() + ":2:9: node.roles: unknown role 'scheduler' (valid roles: master, agent)");
}

TEST_F(HostLoadConfig, NoRolesRunsPluginsOnly) {
  auto config = load("[node]\nroles = []\n[master]\nframeworks = [\"pong\"]\n");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->plugins.size(), 1u);
  EXPECT_EQ(config->plugins[0].name, "pong");
  EXPECT_FALSE(config->plugins[0].builtin);
}

TEST_F(HostLoadConfig, TableThatIsNotATable) {
  EXPECT_EQ(error("master = 3\n"), file() + ":1:10: master: expected a table, got an integer");
}

TEST_F(HostLoadConfig, PluginSelectedTwice) {
  EXPECT_EQ(error("[master]\nallocator = \"drf\"\nframeworks = [\"drf\"]\n"),
            file() + ":3:14: plugin 'drf' is selected twice; a plugin fills one slot");
}

TEST_F(HostLoadConfig, SlotsInStartOrderAndRelativeDirsResolvedAgainstTheFile) {
  auto config = load(
      "[node]\n"
      "roles = [\"master\", \"agent\"]\n"
      "work_dir = \"state\"\n"
      "plugin_dirs = [\"plugins\", \"/opt/tessera/plugins\"]\n"
      "start_timeout_ms = 250\n"
      "leader = \"standalone\"\n"
      "[master]\n"
      "frameworks = [\"marathon\"]\n"
      "allocator = \"drf\"\n"
      "[agent]\n"
      "isolators = [\"posix\", \"cgroups\"]\n",
      "/usr/lib/tessera/plugins");
  ASSERT_TRUE(config) << config.error().message;
  std::vector<std::string> order;
  for (const auto& s : config->plugins) order.push_back(s.slot + "=" + s.name);
  // The built-in roles start after the plugins they use and before the frameworks.
  EXPECT_EQ(order, (std::vector<std::string>{"node.leader=standalone", "master.allocator=drf",
                                             "agent.isolators=posix", "agent.isolators=cgroups",
                                             "node.roles=master", "node.roles=agent",
                                             "master.frameworks=marathon"}));
  EXPECT_TRUE(config->plugins[4].builtin);
  EXPECT_FALSE(config->plugins[3].builtin);
  EXPECT_EQ(config->work_dir, dir_.path() / "state");
  EXPECT_EQ(config->plugin_dirs,
            (std::vector<std::filesystem::path>{dir_.path() / "plugins", "/opt/tessera/plugins",
                                                "/usr/lib/tessera/plugins"}));
  EXPECT_EQ(config->start_timeout, std::chrono::milliseconds(250));
}

TEST_F(HostLoadConfig, SlotsAreSelectedWhateverTheRolesWhichOnlyAddBuiltInRoles) {
  auto config = load("[node]\nroles = [\"agent\"]\n[master]\nallocator = \"drf\"\n");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->plugins.size(), 2u);  // the allocator, then the agent role
  EXPECT_EQ(config->plugins[0].name, "drf");
  EXPECT_EQ(config->plugins[1].name, "agent");
  EXPECT_TRUE(config->plugins[1].builtin);
  EXPECT_EQ(error("[node]\nroles = [\"agent\"]\n[master]\nalocator = \"drf\"\n"),
            file() +
                ":4:1: unknown key 'master.alocator' (valid keys: advertise, "
                "agent_ping_interval_ms, agent_ping_timeout_ms, agent_removal_timeout_ms, "
                "agent_removals_per_minute, allocator, endpoint, frameworks, "
                "heartbeat_interval_ms, max_completed_tasks)");
}

TEST_F(HostLoadConfig, LeaderSlotIsFilledWhateverTheRoles) {
  auto config = load("[node]\nroles = [\"agent\"]\nleader = \"standalone\"\n");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->plugins.size(), 2u);  // the leader, then the agent role
  EXPECT_EQ(config->plugins[1].name, "agent");
  EXPECT_EQ(config->plugins[0].slot, "node.leader");
  EXPECT_EQ(config->plugins[0].kind, TESSERA_KIND_LEADER);
  EXPECT_EQ(config->plugins[0].where, file() + ":3:10");
}

TEST(HostLoadPlugin, UnknownPluginWithNothingFoundSaysNone) {
  TempDir dir;
  std::filesystem::create_directories(dir / "empty");
  auto library = load_plugin("drf", {dir / "empty", dir / "absent"});
  ASSERT_FALSE(library);
  EXPECT_EQ(library.error().message,
            "unknown plugin 'drf'; plugins found: none; searched: " + (dir / "empty").string() +
                ", " + (dir / "absent").string());
}

TEST(HostLoadPlugin, ListPluginsIsSortedAndIgnoresOtherFiles) {
  TempDir dir;
  dir.write("a/zeta.so", "");
  dir.write("a/README", "");
  dir.write("b/alpha.so", "");
  dir.write("b/zeta.so", "");
  EXPECT_EQ(list_plugins({dir / "a", dir / "b", dir / "missing"}),
            (std::vector<std::string>{"alpha", "zeta"}));
}

TEST(HostLoadPlugin, FirstDirectoryWins) {
  // A name found in an earlier directory is loaded from there, even when it is broken and a
  // later directory has a good one.
  TempDir dir;
  dir.write("first/example_pong.so", "not a library");
  auto library = load_plugin("example_pong", {dir / "first", TESSERA_PLUGIN_DIR});
  ASSERT_FALSE(library);
  EXPECT_EQ(library.error().message.rfind(
                "cannot load '" + (dir / "first" / "example_pong.so").string() + "': ", 0),
            0u)
      << library.error().message;
}

TEST(HostLoadPlugin, LoadsExamplePlugin) {
  auto library = load_plugin("example_pong", {TESSERA_FIXTURE_PLUGIN_DIR, TESSERA_PLUGIN_DIR});
  ASSERT_TRUE(library) << library.error().message;
  EXPECT_STREQ(library->descriptor().name, "example_pong");
  EXPECT_EQ(library->descriptor().kind, static_cast<uint32_t>(TESSERA_KIND_FRAMEWORK));
  EXPECT_EQ(library->path(), std::filesystem::path(TESSERA_PLUGIN_DIR) / "example_pong.so");
}

}  // namespace
}  // namespace tessera::host
