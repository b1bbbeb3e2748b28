// The host's pieces driven directly: check_descriptor with one bad field at a time, load_config
// on files with one problem each, and the plugin search. The end-to-end tests show the same
// errors through the binary; these pin down each message and the cases a binary run cannot
// reach easily (every null entry point, every descriptor field).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

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
                                   &fake_void,
                                   TESSERA_ABI_MIN_HOST_VERSION};
}

std::string descriptor_error(const tessera_plugin_descriptor& d, const std::string& name = "drf") {
  Status status = check_descriptor(d, name);
  return status ? "accepted" : status.error().message;
}

TEST(HostCheckDescriptor, AcceptsValidDescriptor) {
  EXPECT_EQ(descriptor_error(valid_descriptor()), "accepted");
}

// The layout of a plugin built against this SDK before its last `fields` host services were
// appended.
const char* fingerprint_without_last_services(size_t fields) {
  static abi::FingerprintText text;
  text = abi::to_text(abi::layout_fingerprint(abi::count(abi::kDescriptorFields),
                                              abi::count(abi::kHostServicesFields) - fields));
  return text.text;
}

TEST(HostCheckDescriptor, AcceptsPluginBuiltBeforeHostServicesWereAppended) {
  auto d = valid_descriptor();
  d.abi_fingerprint = fingerprint_without_last_services(2);
  EXPECT_EQ(descriptor_error(d), "accepted");
}

TEST(HostCheckDescriptor, AcceptsPluginBuiltBeforeDescriptorFieldsWereAppended) {
  // A descriptor that ends at `destroy`: min_host_version lies beyond its struct_size and is
  // never read (whatever the bytes there hold).
  auto d = valid_descriptor();
  d.struct_size = offsetof(tessera_plugin_descriptor, min_host_version);
  d.min_host_version = "not read";
  static const abi::FingerprintText old = abi::to_text(
      abi::layout_fingerprint(abi::kDescriptorBaseFields, abi::count(abi::kHostServicesFields)));
  d.abi_fingerprint = old.text;
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
  EXPECT_EQ(descriptor_error(d),
            "struct_size is 12, expected at least " +
                std::to_string(offsetof(tessera_plugin_descriptor, min_host_version)));
}

TEST(HostCheckDescriptor, UnknownKind) {
  for (uint32_t kind : {0u, 6u, 1000u}) {
    auto d = valid_descriptor();
    d.kind = kind;
    EXPECT_EQ(descriptor_error(d), "kind is " + std::to_string(kind) +
                                       ", expected 1 (allocator), 2 (isolator), 3 (leader), 4 "
                                       "(framework) or 5 (service)");
  }
}

TEST(HostCheckDescriptor, ServiceKindIsAccepted) {
  auto d = valid_descriptor();
  d.kind = TESSERA_KIND_SERVICE;
  EXPECT_EQ(descriptor_error(d), "accepted");
}

TEST(HostCheckDescriptor, EmptyOrNullSdkVersion) {
  auto d = valid_descriptor();
  d.sdk_version = "";
  EXPECT_EQ(descriptor_error(d), "sdk_version is empty");
  d.sdk_version = nullptr;
  EXPECT_EQ(descriptor_error(d), "sdk_version is empty");
}

TEST(HostCheckDescriptor, MinHostVersionNewerThanTheHost) {
  auto d = valid_descriptor();
  d.min_host_version = "1000.0.0";
  EXPECT_EQ(descriptor_error(d), std::string("min_host_version is '1000.0.0', this host is ") +
                                     TESSERA_SDK_VERSION +
                                     ": upgrade tessera-host, or use a build of the plugin made "
                                     "for this host");
}

TEST(HostCheckDescriptor, MinHostVersionThatIsNotAVersion) {
  for (const char* text : {"soon", "", "1.2.3.4", "1..2", "v1.0"}) {
    auto d = valid_descriptor();
    d.min_host_version = text;
    EXPECT_EQ(descriptor_error(d), "min_host_version is '" + std::string(text) +
                                       "', expected a version such as '" TESSERA_SDK_VERSION "'");
  }
  auto d = valid_descriptor();
  d.min_host_version = nullptr;
  EXPECT_EQ(descriptor_error(d),
            "min_host_version is null, expected a version such as '" TESSERA_SDK_VERSION "'");
}

TEST(HostCheckDescriptor, MinHostVersionUpToTheHostsIsAccepted) {
  for (const char* text : {"0.0.1", "0", "0.1", TESSERA_SDK_VERSION, "0.1.0-rc1", "0.1.0+build7"}) {
    auto d = valid_descriptor();
    d.min_host_version = text;
    EXPECT_EQ(descriptor_error(d), "accepted") << text;
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
  EXPECT_EQ(descriptor_error(d),
            std::string("abi_fingerprint is 'ffffffffffffffff', this host's is '") +
                TESSERA_ABI_FINGERPRINT +
                "' (or an older layout of it): the plugin was built against a tessera/abi.h "
                "whose structs are laid out differently; rebuild it against this host's SDK");
}

TEST(HostCheckDescriptor, StructSizeThatDisagreesWithTheFingerprintIsRefused) {
  // The fingerprint says which fields the descriptor has; a struct_size claiming more (a
  // hand-made descriptor) is not that layout.
  auto d = valid_descriptor();
  d.struct_size += 16;
  EXPECT_EQ(
      descriptor_error(d).rfind(
          "abi_fingerprint is '" + std::string(TESSERA_ABI_FINGERPRINT) + "', this host's is", 0),
      0u)
      << descriptor_error(d);
}

TEST(HostAbiLayout, FingerprintStandsForThisHostsLayout) {
  auto layout = served_layout(TESSERA_ABI_FINGERPRINT);
  ASSERT_TRUE(layout.has_value());
  EXPECT_EQ(layout->descriptor_fields, abi::count(abi::kDescriptorFields));
  EXPECT_EQ(layout->services_fields, abi::count(abi::kHostServicesFields));
  EXPECT_EQ(std::strlen(TESSERA_ABI_FINGERPRINT), 16u);
}

TEST(HostAbiLayout, EveryOlderLayoutSinceTheFirstIsServed) {
  for (size_t s = abi::kHostServicesBaseFields; s <= abi::count(abi::kHostServicesFields); ++s) {
    auto layout = served_layout(
        abi::to_text(abi::layout_fingerprint(abi::count(abi::kDescriptorFields), s)).text);
    ASSERT_TRUE(layout.has_value()) << s;
    EXPECT_EQ(layout->services_fields, s);
  }
  // Layouts shorter than the first one never existed.
  EXPECT_FALSE(
      served_layout(abi::to_text(abi::layout_fingerprint(abi::count(abi::kDescriptorFields),
                                                         abi::kHostServicesBaseFields - 1))
                        .text));
}

// A copy of the host-service layout with one change, and whether the host would serve it.
bool served_with(void (*change)(std::vector<abi::Field>&)) {
  std::vector<abi::Field> services(std::begin(abi::kHostServicesFields),
                                   std::end(abi::kHostServicesFields));
  change(services);
  uint64_t hash = abi::fingerprint(abi::kDescriptorFields, abi::count(abi::kDescriptorFields),
                                   services.data(), services.size());
  return served_layout(abi::to_text(hash).text).has_value();
}

TEST(HostAbiLayout, MovingResizingOrRemovingAFieldIsNotServed) {
  EXPECT_TRUE(served_with([](std::vector<abi::Field>&) {}));
  // A field inserted before `announce` moves it.
  EXPECT_FALSE(served_with([](std::vector<abi::Field>& f) { f[14].offset += 8; }));
  // `log_level` widened from int to a 64-bit integer.
  EXPECT_FALSE(served_with([](std::vector<abi::Field>& f) { f[4].size = 8; }));
  // `log_level` removed: what follows moves up.
  EXPECT_FALSE(served_with([](std::vector<abi::Field>& f) {
    f.erase(f.begin() + 4);
    for (size_t i = 4; i < f.size(); ++i) f[i].offset -= 8;
  }));
  // `log_context` turned from a data pointer into a function pointer (same size and place).
  EXPECT_FALSE(
      served_with([](std::vector<abi::Field>& f) { f[2].shape = abi::Shape::function_pointer; }));
  // A field appended beyond what this host knows: a newer plugin, which must say which host
  // it needs (min_host_version) rather than be run by a host that lacks the field.
  EXPECT_FALSE(served_with([](std::vector<abi::Field>& f) {
    f.push_back(abi::Field{f.back().offset + 8, 8, abi::Shape::number});
  }));
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
                "heartbeat_interval_ms, max_completed_tasks, "
                "registry_max_removed_agent_age_hours, registry_max_removed_agents)");
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

TEST_F(HostLoadConfig, MasterEndpointWithPortOutOfRange) {
  // ZeroMQ would have bound port 34463 (99999 modulo 65536) without a word.
  EXPECT_EQ(error("[master]\nendpoint = \"tcp://127.0.0.1:99999\"\n"),
            file() +
                ":2:12: master.endpoint: 'tcp://127.0.0.1:99999': port 99999 is out of range (1 "
                "to 65535, or 0 for a free port)");
}

TEST_F(HostLoadConfig, MasterEndpointThatIsNotAnEndpoint) {
  EXPECT_EQ(error("[master]\nendpoint = \"localhost:5050\"\n"),
            file() +
                ":2:12: master.endpoint: 'localhost:5050' is not an endpoint: expected "
                "tcp://HOST:PORT, ipc://PATH or inproc://NAME");
}

TEST_F(HostLoadConfig, MasterAdvertiseIsAnAddressToConnectTo) {
  EXPECT_EQ(error("[master]\nadvertise = \"tcp://10.0.0.1:0\"\n"),
            file() +
                ":2:13: master.advertise: 'tcp://10.0.0.1:0': port 0 only picks a free port when "
                "binding; an address to connect to needs the real port");
}

TEST_F(HostLoadConfig, WorkDirThatIsAFile) {
  dir_.write("state", "a file");
  EXPECT_EQ(
      error("[node]\nwork_dir = \"state\"\n"),
      file() + ":2:12: node.work_dir: '" + (dir_ / "state").string() + "' is not a directory");
}

TEST_F(HostLoadConfig, WorkDirUnderAFile) {
  dir_.write("state", "a file");
  EXPECT_EQ(error("[node]\nwork_dir = \"state/node\"\n"),
            file() + ":2:12: node.work_dir: '" + (dir_ / "state" / "node").string() +
                "' cannot be created: '" + (dir_ / "state").string() + "' is not a directory");
}

TEST_F(HostLoadConfig, PluginDirThatIsAFile) {
  dir_.write("plugins", "a file");
  EXPECT_EQ(
      error("[node]\nplugin_dirs = [\"plugins\"]\n"),
      file() + ":2:15: node.plugin_dirs: '" + (dir_ / "plugins").string() + "' is not a directory");
}

TEST_F(HostLoadConfig, EndpointsFileThatIsADirectory) {
  std::filesystem::create_directories(dir_ / "endpoints");
  EXPECT_EQ(error("[node]\nendpoints_file = \"endpoints\"\n"),
            file() + ":2:18: node.endpoints_file: '" + (dir_ / "endpoints").string() +
                "' is a directory");
}

TEST_F(HostLoadConfig, EndpointsFileWhoseDirectoryCannotBeCreated) {
  dir_.write("state", "a file");
  EXPECT_EQ(error("[node]\nendpoints_file = \"state/endpoints.toml\"\n"),
            file() + ":2:18: node.endpoints_file: '" + (dir_ / "state").string() +
                "' is not a directory");
}

TEST_F(HostLoadConfig, AgentPortsBeyondSixteenBits) {
  EXPECT_EQ(error("[agent]\nresources = \"cpus:2;ports:[31000-32000,70000-80000]\"\n"),
            file() +
                ":2:13: agent.resources: resource 'ports': range '70000-80000' goes past the "
                "largest port 65535");
}

TEST_F(HostLoadConfig, AgentPortZero) {
  EXPECT_EQ(error("[agent]\nresources = \"ports:[0-10]\"\n"),
            file() +
                ":2:13: agent.resources: resource 'ports': [0-10] is out of range: ports "
                "are 1 to 65535");
}

TEST_F(HostLoadConfig, EmptyPluginName) {
  EXPECT_EQ(error("[node]\nleader = \"\"\n"),
            file() + ":2:10: node.leader: a plugin name is empty");
}

TEST_F(HostLoadConfig, ServicesAreSelectedLastAndOfKindService) {
  auto config = load(
      "[node]\n"
      "roles = [\"agent\"]\n"
      "leader = \"standalone\"\n"
      "services = [\"web_ui\", \"exporter\"]\n"
      "[agent]\n"
      "isolators = [\"posix\"]\n");
  ASSERT_TRUE(config) << config.error().message;
  std::vector<std::string> order;
  for (const auto& s : config->plugins) order.push_back(s.slot + "=" + s.name);
  EXPECT_EQ(order, (std::vector<std::string>{"node.leader=standalone", "agent.isolators=posix",
                                             "node.roles=agent", "node.services=web_ui",
                                             "node.services=exporter"}));
  EXPECT_EQ(config->plugins[3].kind, TESSERA_KIND_SERVICE);
  EXPECT_EQ(config->plugins[4].where, file() + ":4:12");
}

TEST_F(HostLoadConfig, SlotsTheRolesNeedHaveALocationEvenWhenUnset) {
  // An empty file: everything points at its first line.
  auto empty = load("");
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_EQ(empty->leader_where, file() + ":1:1");
  EXPECT_EQ(empty->allocator_where, file() + ":1:1");
  // A slot's table, when it is there; the roles that need it, when it is not.
  auto config = load("# a node\n[node]\nroles = [\"master\", \"agent\"]\n\n[master]\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->leader_where, file() + ":2:1");
  EXPECT_EQ(config->allocator_where, file() + ":5:1");
  EXPECT_EQ(config->isolators_where, file() + ":3:9");
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

TEST(HostLoadPlugin, PluginBuiltAgainstTheOlderHeaderLoads) {
  // fixture_older_sdk.so is compiled against tests/fixtures/abi_before_append/tessera/abi.h.
  auto library = load_plugin("fixture_older_sdk", {TESSERA_FIXTURE_PLUGIN_DIR});
  ASSERT_TRUE(library) << library.error().message;
  const tessera_plugin_descriptor& d = library->descriptor();
  EXPECT_STRNE(d.abi_fingerprint, TESSERA_ABI_FINGERPRINT);
  auto layout = served_layout(d.abi_fingerprint);
  ASSERT_TRUE(layout.has_value());
  EXPECT_EQ(layout->services_fields, abi::count(abi::kHostServicesFields) - 2);
  EXPECT_EQ(d.kind, static_cast<uint32_t>(TESSERA_KIND_SERVICE));
}

TEST(HostLoadPlugin, PrivateCopyIsLoadedAndTheInstalledFileIsNotMapped) {
  TempDir dir;
  std::filesystem::create_directories(dir / "plugins");
  std::filesystem::create_directories(dir / "run");
  std::filesystem::copy_file(std::filesystem::path(TESSERA_PLUGIN_DIR) / "example_pong.so",
                             dir / "plugins" / "example_pong.so");
  auto library = load_plugin("example_pong", {dir / "plugins"}, dir / "run");
  ASSERT_TRUE(library) << library.error().message;
  EXPECT_EQ(library->path(), dir / "plugins" / "example_pong.so");
  EXPECT_EQ(library->loaded_path(), dir / "run" / "example_pong.so");
  // The process maps the copy, never the installed file.
  std::string maps = tessera::testing::read_file("/proc/self/maps");
  EXPECT_NE(maps.find((dir / "run" / "example_pong.so").string()), std::string::npos);
  EXPECT_EQ(maps.find((dir / "plugins" / "example_pong.so").string()), std::string::npos);
}

TEST(HostLoadPlugin, LoadErrorsNameTheInstalledFileNotTheCopy) {
  TempDir dir;
  dir.write("plugins/broken.so", "not a library");
  std::filesystem::create_directories(dir / "run");
  auto library = load_plugin("broken", {dir / "plugins"}, dir / "run");
  ASSERT_FALSE(library);
  // dlerror() names the file it opened (the copy); the user is told about the installed one.
  const std::string installed = (dir / "plugins" / "broken.so").string();
  EXPECT_EQ(library.error().message,
            "cannot load '" + installed + "': " + installed + ": file too short");
}

TEST(HostLoadPlugin, CopyThatCannotBeMadeIsReported) {
  TempDir dir;
  std::filesystem::create_directories(dir / "plugins");
  std::filesystem::copy_file(std::filesystem::path(TESSERA_PLUGIN_DIR) / "example_pong.so",
                             dir / "plugins" / "example_pong.so");
  auto library = load_plugin("example_pong", {dir / "plugins"}, dir / "no-such-dir");
  ASSERT_FALSE(library);
  EXPECT_EQ(library.error().message, "cannot copy '" +
                                         (dir / "plugins" / "example_pong.so").string() + "' to '" +
                                         (dir / "no-such-dir" / "example_pong.so").string() +
                                         "': No such file or directory");
}

TEST(HostLoadPlugin, FileThatKeepsChangingWhileCopiedIsRefused) {
  // Another thread keeps changing the file's modification time, as a writer rewriting it in
  // place would. A copy that overlaps a change is made again, three times at most; the load
  // is retried until all three overlapped, which a writer that never pauses makes certain
  // within a few tries.
  TempDir dir;
  std::filesystem::create_directories(dir / "plugins");
  std::filesystem::create_directories(dir / "run");
  const std::filesystem::path installed = dir / "plugins" / "example_pong.so";
  std::filesystem::copy_file(std::filesystem::path(TESSERA_PLUGIN_DIR) / "example_pong.so",
                             installed);
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    for (long second = 1; writing; ++second) {
      timespec times[2] = {{second, 0}, {second, 0}};
      utimensat(AT_FDCWD, installed.c_str(), times, 0);
    }
  });
  std::string message;
  for (int attempt = 0; attempt < 10000 && message.empty(); ++attempt) {
    auto library = load_plugin_file(installed, dir / "run");
    if (!library) message = library.error().message;
  }
  writing = false;
  writer.join();
  EXPECT_EQ(message, "'" + installed.string() +
                         "' kept changing while it was being copied: install a plugin under a "
                         "new name and rename it into place");
}

TEST(HostLoadPlugin, SdkRefusesHostServicesOlderThanItself) {
  // What a plugin does when a host hands over fewer services than its SDK reads (a plugin whose
  // min_host_version claims too little): it refuses to be created, saying why.
  auto library = load_plugin("example_pong", {TESSERA_PLUGIN_DIR});
  ASSERT_TRUE(library) << library.error().message;
  tessera_host_services services{};
  services.struct_size = offsetof(tessera_host_services, host_version);
  void* instance = nullptr;
  char error[512] = {};
  EXPECT_EQ(
      library->descriptor().create(&services, &instance, tessera_error_buffer{error, sizeof error}),
      TESSERA_ERROR);
  EXPECT_EQ(std::string(error),
            "the host's services are " +
                std::to_string(offsetof(tessera_host_services, host_version)) +
                " bytes, this plugin's SDK " TESSERA_SDK_VERSION " reads " +
                std::to_string(sizeof(tessera_host_services)) +
                ": the host is older than the plugin's SDK; upgrade tessera-host");
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
