// The checks the SDK's configuration reader makes beyond types and ranges: endpoints,
// directories, and where an error about something missing points. Each message a user can get
// is pinned here word for word; tests/host/host_errors_test.cpp shows them through the binary.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "support/process.h"
#include "tessera/sdk/config.h"

namespace tessera::sdk {
namespace {

using tessera::testing::TempDir;

std::string problem(const std::string& endpoint, EndpointUse use = EndpointUse::bind) {
  return detail::endpoint_problem(endpoint, use);
}

TEST(ConfigEndpoint, AcceptsTcpIpcAndInprocEndpoints) {
  for (const char* endpoint :
       {"tcp://127.0.0.1:0", "tcp://127.0.0.1:5050", "tcp://*:5050", "tcp://0.0.0.0:*",
        "tcp://[::1]:5050", "tcp://host-1.example.com:65535", "tcp://eth0:1", "ipc:///tmp/m.sock",
        "ipc://relative.sock", "inproc://tessera.leader"}) {
    EXPECT_EQ(problem(endpoint), "") << endpoint;
  }
  for (const char* address : {"tcp://10.0.0.1:5050", "tcp://[::1]:1", "tcp://master:65535",
                              "ipc:///tmp/m.sock", "inproc://example_pong"}) {
    EXPECT_EQ(problem(address, EndpointUse::connect), "") << address;
  }
}

TEST(ConfigEndpoint, PortOutOfRange) {
  // ZeroMQ would take the port modulo 65536: tcp://127.0.0.1:99999 binds port 34463.
  EXPECT_EQ(problem("tcp://127.0.0.1:99999"),
            "'tcp://127.0.0.1:99999': port 99999 is out of range (1 to 65535, or 0 for a free "
            "port)");
  EXPECT_EQ(problem("tcp://10.0.0.1:65536", EndpointUse::connect),
            "'tcp://10.0.0.1:65536': port 65536 is out of range (1 to 65535)");
}

TEST(ConfigEndpoint, NotAnEndpoint) {
  for (const char* text : {"localhost:5050", "http://master:5050", "", "tcp:/x:1"}) {
    EXPECT_EQ(problem(text), "'" + std::string(text) +
                                 "' is not an endpoint: expected tcp://HOST:PORT, ipc://PATH or "
                                 "inproc://NAME");
  }
}

TEST(ConfigEndpoint, TcpWithoutHost) {
  EXPECT_EQ(problem("tcp://"), "'tcp://' has no host: expected tcp://HOST:PORT");
  EXPECT_EQ(problem("tcp://:5050"), "'tcp://:5050' has no host: expected tcp://HOST:PORT");
}

TEST(ConfigEndpoint, TcpWithoutPort) {
  for (const char* text : {"tcp://127.0.0.1", "tcp://127.0.0.1:", "tcp://[::1]"}) {
    EXPECT_EQ(problem(text), "'" + std::string(text) + "' has no port: expected tcp://HOST:PORT");
  }
}

TEST(ConfigEndpoint, PortThatIsNotANumber) {
  EXPECT_EQ(problem("tcp://master:http"), "'tcp://master:http': port 'http' is not a number");
  EXPECT_EQ(problem("tcp://master:-1"), "'tcp://master:-1': port '-1' is not a number");
  EXPECT_EQ(problem("tcp://master:123456"), "'tcp://master:123456': port '123456' is not a number");
  EXPECT_EQ(problem("tcp://master:*", EndpointUse::connect),
            "'tcp://master:*': port '*' is not a number");
}

TEST(ConfigEndpoint, HostThatIsNotAHost) {
  EXPECT_EQ(problem("tcp://my master:5050"),
            "'tcp://my master:5050': host 'my master' is not a host name or address");
  EXPECT_EQ(problem("tcp://a/b:5050"),
            "'tcp://a/b:5050': host 'a/b' is not a host name or address");
}

TEST(ConfigEndpoint, WildcardHostIsOnlyForBinding) {
  EXPECT_EQ(problem("tcp://*:5050", EndpointUse::connect),
            "'tcp://*:5050': '*' binds every interface; an address to connect to needs a host "
            "name or address");
}

TEST(ConfigEndpoint, PortZeroIsOnlyForBinding) {
  EXPECT_EQ(problem("tcp://10.0.0.1:0", EndpointUse::connect),
            "'tcp://10.0.0.1:0': port 0 only picks a free port when binding; an address to "
            "connect to needs the real port");
}

TEST(ConfigEndpoint, IpcWithoutPath) {
  EXPECT_EQ(problem("ipc://"), "'ipc://' has no path: expected ipc://PATH");
}

TEST(ConfigEndpoint, IpcPathLongerThanASocketAddressHolds) {
  std::string path = "/tmp/" + std::string(103, 'x');  // 108 bytes: one too many
  EXPECT_EQ(
      problem("ipc://" + path),
      "'ipc://" + path + "': the path is 108 bytes long, a unix socket path holds at most 107");
  EXPECT_EQ(problem("ipc://" + path.substr(1)), "");
}

TEST(ConfigEndpoint, InprocWithoutName) {
  EXPECT_EQ(problem("inproc://"), "'inproc://' has no name: expected inproc://NAME");
}

// A parsed document and its errors, for the ConfigTable checks.
struct Document {
  explicit Document(const std::string& text) {
    auto parsed = ConfigDocument::parse("n.toml", text);
    EXPECT_TRUE(parsed.ok()) << parsed.error().message;
    doc = std::move(*parsed);
  }
  std::string errors() const {
    Status s = doc->status();
    return s ? "" : s.error().message;
  }
  std::unique_ptr<ConfigDocument> doc;
};

TEST(ConfigTableChecks, EndpointErrorPointsAtTheValue) {
  Document d("[p]\nendpoint = \"tcp://127.0.0.1:99999\"\n");
  ConfigTable p = d.doc->at("p");
  EXPECT_EQ(p.endpoint("endpoint", "inproc://fallback"), "inproc://fallback");
  EXPECT_EQ(d.errors(),
            "n.toml:2:12: p.endpoint: 'tcp://127.0.0.1:99999': port 99999 is out of range (1 to "
            "65535, or 0 for a free port)");
}

TEST(ConfigTableChecks, EndpointsKeepTheGoodOnesAndReportTheBadOnes) {
  Document d("[p]\nextra = [\"tcp://127.0.0.1:0\", \"tcp://127.0.0.1\", \"inproc://x\"]\n");
  ConfigTable p = d.doc->at("p");
  EXPECT_EQ(p.endpoints("extra", {}),
            (std::vector<std::string>{"tcp://127.0.0.1:0", "inproc://x"}));
  EXPECT_EQ(d.errors(),
            "n.toml:2:9: p.extra: 'tcp://127.0.0.1' has no port: expected "
            "tcp://HOST:PORT");
}

TEST(ConfigTableChecks, AbsentEndpointIsNoError) {
  Document d("[p]\n");
  ConfigTable p = d.doc->at("p");
  EXPECT_EQ(p.optional_endpoint("endpoint", EndpointUse::connect), std::nullopt);
  EXPECT_EQ(d.errors(), "");
}

TEST(ConfigTableChecks, RequiredKeyOfAPresentTablePointsAtItsHeader) {
  Document d("# a comment\n[p]\nx = 1\n");
  ConfigTable p = d.doc->at("p");
  (void)p.required<std::string>("address");
  EXPECT_EQ(d.errors(), "n.toml:2:1: p.address: required key is missing");
}

TEST(ConfigTableChecks, RequiredKeyOfAnAbsentTablePointsAtTheFirstLine) {
  Document d("");
  ConfigTable p = d.doc->at("plugins.p");
  (void)p.required<std::string>("address");
  EXPECT_EQ(d.errors(), "n.toml:1:1: plugins.p.address: required key is missing");
}

TEST(ConfigTableChecks, RequiredKeyOfAnAbsentSubTablePointsAtTheNearestTable) {
  Document d("x = 1\n\n[node]\nname = \"n\"\n");
  ConfigTable node = d.doc->root().table("node");
  ConfigTable sub = node.table("limits");
  (void)sub.required<int64_t>("cpus");
  EXPECT_EQ(d.errors(), "n.toml:3:1: node.limits.cpus: required key is missing");
}

TEST(ConfigTableChecks, DottedTableThatIsNotATableHasALine) {
  Document d("[plugins]\npong = 3\n");
  (void)d.doc->at("plugins.pong");
  EXPECT_EQ(d.errors(), "n.toml:2:8: plugins.pong: expected a table, got an integer");
}

// The directory checks, run with an identity that may not write where the test says so: as
// root (who may write anywhere) with the effective ids of 'nobody', which the check consults;
// otherwise as the user, with write permission taken from `dir`.
class WithoutWriteAccess {
 public:
  explicit WithoutWriteAccess(const std::filesystem::path& dir) : dir_(dir) {
    if (geteuid() == 0) {
      // Others may search the directory (so only writing is refused), as with chmod 0555.
      ::chmod(dir_.c_str(), 0755);
      EXPECT_EQ(setegid(65534), 0);
      EXPECT_EQ(seteuid(65534), 0);
      dropped_ = true;
    } else {
      ::chmod(dir_.c_str(), 0555);
    }
  }
  ~WithoutWriteAccess() {
    if (dropped_) {
      EXPECT_EQ(seteuid(0), 0);
      EXPECT_EQ(setegid(0), 0);
    }
    ::chmod(dir_.c_str(), 0700);
  }

 private:
  std::filesystem::path dir_;
  bool dropped_ = false;
};

TEST(ConfigDirectory, ExistingOrCreatableDirectoryIsFine) {
  TempDir dir;
  EXPECT_EQ(detail::directory_problem(dir.path()), "");
  EXPECT_EQ(detail::directory_problem(dir / "a" / "b" / "c"), "");
}

TEST(ConfigDirectory, FileIsNotADirectory) {
  TempDir dir;
  auto file = dir.write("work", "a file");
  EXPECT_EQ(detail::directory_problem(file), "'" + file.string() + "' is not a directory");
}

TEST(ConfigDirectory, DirectoryUnderAFileCannotBeCreated) {
  TempDir dir;
  auto file = dir.write("work", "a file");
  EXPECT_EQ(detail::directory_problem(file / "node"), "'" + (file / "node").string() +
                                                          "' cannot be created: '" + file.string() +
                                                          "' is not a directory");
}

TEST(ConfigDirectory, ReadOnlyDirectoryIsNotWritable) {
  TempDir dir;
  std::filesystem::create_directories(dir / "work");
  std::string message;
  {
    WithoutWriteAccess guard(dir / "work");
    message = detail::directory_problem(dir / "work");
  }
  EXPECT_EQ(message, "'" + (dir / "work").string() + "' is not writable");
}

TEST(ConfigDirectory, DirectoryUnderAReadOnlyOneCannotBeCreated) {
  TempDir dir;
  std::filesystem::create_directories(dir / "ro");
  std::string message;
  {
    WithoutWriteAccess guard(dir / "ro");
    message = detail::directory_problem(dir / "ro" / "work" / "node");
  }
  EXPECT_EQ(message, "'" + (dir / "ro" / "work" / "node").string() + "' cannot be created: '" +
                         (dir / "ro").string() + "' is not writable");
}

TEST(ConfigTableChecks, DirectoryResolvesRelativePathsAndPointsAtTheValue) {
  TempDir dir;
  dir.write("state", "a file");
  Document d("[node]\nwork_dir = \"state\"\n");
  ConfigTable node = d.doc->at("node");
  EXPECT_EQ(node.directory("work_dir", "/var/lib/x", dir.path()), dir / "state");
  EXPECT_EQ(d.errors(),
            "n.toml:2:12: node.work_dir: '" + (dir / "state").string() + "' is not a directory");
}

}  // namespace
}  // namespace tessera::sdk
