// Golden encodings: the wire bytes of every protocol message type, pinned.
//
// Each message of plugin_api/include/tessera/protocol/*.h is filled with a value in every field
// (nested structs included), encoded with a fixed header, and compared with the bytes checked
// in below. A renamed, retyped, reordered or removed msgpack field changes the bytes and fails
// its test; so does a change to the envelope. The golden bytes are also decoded and encoded
// again: that must give them back, so the reader still finds every field the writer wrote.
//
// Adding a field to a message is compatible (docs/architecture.md, "How a schema evolves"), but
// it changes the bytes: fill the new field in the message's builder below and replace its
// golden with the one the failing test prints, in the same commit. Anything else that changes
// a golden is a breaking change, which needs a new message type instead.
//
// A message type in the protocol headers without a golden here fails EveryMessageTypeHasOne.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

#include "tessera/message.h"
#include "tessera/protocol/agent.h"
#include "tessera/protocol/allocator.h"
#include "tessera/protocol/executor.h"
#include "tessera/protocol/files.h"
#include "tessera/protocol/isolator.h"
#include "tessera/protocol/master.h"
#include "tessera/protocol/master_events.h"
#include "tessera/protocol/operator.h"
#include "tessera/protocol/scheduler.h"
#include "tessera/protocol/store.h"

namespace {

namespace protocol = tessera::protocol;
namespace agent = tessera::protocol::agent;
namespace alloc = tessera::protocol::allocator;
namespace executor = tessera::protocol::executor;
namespace isolator = tessera::protocol::isolator;
namespace master = tessera::protocol::master;
namespace master_events = tessera::protocol::master_events;
namespace op = tessera::protocol::operator_api;
namespace files = tessera::protocol::files;
namespace sched = tessera::protocol::scheduler;
namespace store = tessera::protocol::store;

// --- Filled values of the shared types: every field differs from its default. ---------------

protocol::Resources resources() {
  protocol::Resources r;
  r.scalars = {{"cpus", 1.5}, {"mem", 256}};
  r.ranges["ports"] = {{31000, 31001}};
  return r;
}

protocol::CommandInfo command() {
  protocol::CommandInfo c;
  c.shell = false;
  c.value = "/bin/echo";
  c.arguments = {"hello"};
  c.environment = {{"GREETING", "hi"}};
  c.user = "nobody";
  return c;
}

protocol::ContainerInfo container() {
  protocol::ContainerInfo c;
  c.type = "DOCKER";
  c.image = "busybox:1";
  c.network = "host";
  return c;
}

protocol::TaskInfo task() {
  protocol::TaskInfo t;
  t.task_id = "t-1";
  t.name = "web";
  t.agent_id = "a-1";
  t.resources = resources();
  t.command = command();
  t.container = container();
  t.kill_grace_seconds = 2.5;
  t.labels = {{"tier", "front"}};
  t.executor.executor_id = "e-1";
  t.executor.name = "exec";
  t.executor.command = command();
  t.executor.resources = resources();
  t.executor.container = container();
  t.executor.kill_grace_seconds = 1.5;
  t.data = "bytes";
  return t;
}

protocol::TaskStatus status() {
  protocol::TaskStatus s;
  s.task_id = "t-1";
  s.agent_id = "a-1";
  s.framework_id = "f-1";
  s.state = protocol::state::kRunning;
  s.reason = protocol::reason::kReconciliation;
  s.source = protocol::source::kAgent;
  s.message = "fine";
  s.uuid = "00112233445566778899aabbccddeeff";
  s.exit_code = 3;
  s.timestamp = 1700000000.5;
  return s;
}

sched::Attribute attribute() { return {"rack", "r1"}; }

sched::Offer offer() {
  sched::Offer o;
  o.offer_id = "o-1";
  o.framework_id = "f-1";
  o.agent_id = "a-1";
  o.hostname = "h1";
  o.role = "web";
  o.resources = resources();
  o.attributes = {attribute()};
  return o;
}

op::AgentState agent_state() {
  op::AgentState a;
  a.agent_id = "a-1";
  a.hostname = "h1";
  a.active = false;
  a.total = resources();
  a.used = resources();
  a.offered = resources();
  a.attributes = {attribute()};
  a.registered_at = 1700000000.25;
  return a;
}

op::FrameworkState framework_state() {
  op::FrameworkState f;
  f.framework_id = "f-1";
  f.name = "marathon";
  f.roles = {"web"};
  f.connected = false;
  f.failover_timeout_seconds = 600;
  f.used = resources();
  f.offered = resources();
  f.active_tasks = 2;
  f.registered_at = 1700000000.5;
  return f;
}

op::TaskState task_state() {
  op::TaskState t;
  t.task_id = "t-1";
  t.name = "web";
  t.framework_id = "f-1";
  t.agent_id = "a-1";
  t.state = protocol::state::kRunning;
  t.resources = resources();
  t.last_status = status();
  t.usage = {12.5, 4096, 8192, 1.7e9};
  t.sandbox = "/w/sandboxes/f-1/t-1/c-1";
  t.container = protocol::ContainerInfo{"DOCKER", "busybox", "none"};
  t.executor_id = "e-1";
  return t;
}

// --- The messages. ----------------------------------------------------------------------------

// Every message is encoded with this header: the envelope's fields are pinned too.
tessera::Header header() {
  tessera::Header h;
  h.sender = "golden";
  h.sequence = 7;
  h.correlation = 3;
  return h;
}

struct Golden {
  std::string type;                                         // the message's kType
  std::function<std::string()> encode;                      // the filled message, encoded
  std::function<std::string(const std::string&)> reencode;  // decode, then encode again
  std::string hex;                                          // the checked-in bytes
};

// Encodes `value`, and decodes-then-encodes bytes, for message type T.
template <typename T>
Golden golden(T value, std::string hex) {
  Golden g;
  g.type = T::kType;
  g.encode = [value] { return tessera::encode(header(), value); };
  g.reencode = [](const std::string& bytes) -> std::string {
    auto decoded = tessera::Envelope::decode(bytes.data(), bytes.size());
    if (!decoded) return "(not an envelope: " + decoded.error().message + ")";
    if (!decoded->is<T>()) return "(the type is '" + decoded->type() + "')";
    auto body = decoded->body<T>();
    if (!body) return "(the body does not decode: " + body.error().message + ")";
    return tessera::encode(decoded->header(), *body);
  };
  g.hex = std::move(hex);
  return g;
}

// For messages with more fields than an initializer list reads well with.
template <typename T, typename Fill>
Golden golden_filled(Fill fill, std::string hex) {
  T value{};
  fill(value);
  return golden<T>(std::move(value), std::move(hex));
}

std::vector<Golden> goldens();  // at the end of the file, with the bytes

// --- Hex. -------------------------------------------------------------------------------------

std::string to_hex(const std::string& bytes) {
  static const char* const kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0xf];
  }
  return out;
}

// The hex as a C++ literal broken into lines, ready to paste below.
std::string as_literal(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 80) {
    out += "\n    \"" + hex.substr(i, 80) + "\"";
  }
  return out;
}

// msgpack's own rendering (JSON-like), to see what changed.
std::string readable(const std::string& bytes) {
  try {
    msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
    std::ostringstream out;
    out << handle.get();
    return out.str();
  } catch (const std::exception& e) {
    return std::string("(not msgpack: ") + e.what() + ")";
  }
}

// The bytes `hex` spells; a character that is not a hex digit reads as 0 (the comparison of
// the hex itself then fails and says what is wrong).
std::string from_hex(const std::string& hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return 0;
  };
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1]));
  }
  return out;
}

// --- The tests. -------------------------------------------------------------------------------

// Names the message in gtest's output instead of dumping the struct's bytes.
void PrintTo(const Golden& g, std::ostream* os) { *os << g.type; }

class GoldenEncoding : public ::testing::TestWithParam<Golden> {};

TEST_P(GoldenEncoding, BytesAreTheCheckedInOnes) {
  const Golden& g = GetParam();
  std::string actual = to_hex(g.encode());
  EXPECT_EQ(actual, g.hex) << "'" << g.type << "' is encoded differently. Now:\n  "
                           << readable(from_hex(actual)) << "\nChecked in:\n  "
                           << readable(from_hex(g.hex))
                           << "\nIf only fields were added, the new golden is:"
                           << as_literal(actual);
}

TEST_P(GoldenEncoding, DecodingTheCheckedInBytesLosesNothing) {
  const Golden& g = GetParam();
  std::string bytes = from_hex(g.hex);
  std::string again = g.reencode(bytes);
  EXPECT_EQ(to_hex(again), g.hex) << "'" << g.type << "' read back from its golden bytes:\n  "
                                  << readable(again) << "\nChecked in:\n  " << readable(bytes);
}

INSTANTIATE_TEST_SUITE_P(Protocol, GoldenEncoding, ::testing::ValuesIn(goldens()),
                         [](const ::testing::TestParamInfo<Golden>& info) {
                           std::string name = info.param.type;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

// Every message type the protocol headers declare (`kType = "..."`) has a golden above.
TEST(GoldenEncodings, EveryMessageTypeHasOne) {
  std::set<std::string> declared;
  std::filesystem::path headers =
      std::filesystem::path(TESSERA_SOURCE_DIR) / "plugin_api/include/tessera/protocol";
  std::regex type("kType = \"([^\"]+)\"");
  for (const auto& entry : std::filesystem::directory_iterator(headers)) {
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    for (std::sregex_iterator it(s.begin(), s.end(), type), end; it != end; ++it) {
      declared.insert((*it)[1]);
    }
  }
  ASSERT_GT(declared.size(), 50u) << "the protocol headers were not found in " << headers;
  std::set<std::string> pinned;
  for (const Golden& g : goldens()) {
    EXPECT_TRUE(pinned.insert(g.type).second) << "'" << g.type << "' has two goldens";
  }
  for (const std::string& t : declared) {
    EXPECT_EQ(pinned.count(t), 1u) << "message type '" << t << "' has no golden encoding";
  }
  for (const std::string& t : pinned) {
    EXPECT_EQ(declared.count(t), 1u) << "golden for '" << t << "', which no header declares";
  }
}

// --- The goldens. -----------------------------------------------------------------------------

std::vector<Golden> goldens() {
  return {
      // protocol/agent.h
      golden_filled<agent::Register>(
          [](agent::Register& m) {
            m.agent_id = "a-1";
            m.hostname = "h1";
            m.resources = resources();
            m.attributes = {attribute()};
            m.tasks = {agent::RunningTask{"f-1", task(), protocol::state::kRunning,
                                          "/w/sandboxes/f-1/t-1/c-1"}};
            m.secret = "s3cret";
            m.executors = {agent::RunningExecutor{"f-1", task().executor}};
          },
          "86a474797065ae6167656e742e7265676973746572a17602a466726f6da6676f6c64656ea3736571"
          "07a4636f727203a4626f647987a86167656e745f6964a3612d31a8686f73746e616d65a26831a972"
          "65736f757263657382a77363616c61727382a463707573cb3ff8000000000000a36d656dcd0100a6"
          "72616e67657381a5706f7274739192cd7918cd7919aa617474726962757465739182a46e616d65a4"
          "7261636ba576616c7565a27231a57461736b739184ac6672616d65776f726b5f6964a3662d31a474"
          "61736b8aa77461736b5f6964a3742d31a46e616d65a3776562a86167656e745f6964a3612d31a972"
          "65736f757263657382a77363616c61727382a463707573cb3ff8000000000000a36d656dcd0100a6"
          "72616e67657381a5706f7274739192cd7918cd7919a7636f6d6d616e6485a57368656c6cc2a57661"
          "6c7565a92f62696e2f6563686fa9617267756d656e747391a568656c6c6fab656e7669726f6e6d65"
          "6e7481a84752454554494e47a26869a475736572a66e6f626f6479a9636f6e7461696e657283a474"
          "797065a6444f434b4552a5696d616765a962757379626f783a31a76e6574776f726ba4686f7374b2"
          "6b696c6c5f67726163655f7365636f6e6473cb4004000000000000a66c6162656c7381a474696572"
          "a566726f6e74a86578656375746f7286ab6578656375746f725f6964a3652d31a46e616d65a46578"
          "6563a7636f6d6d616e6485a57368656c6cc2a576616c7565a92f62696e2f6563686fa9617267756d"
          "656e747391a568656c6c6fab656e7669726f6e6d656e7481a84752454554494e47a26869a4757365"
          "72a66e6f626f6479a97265736f757263657382a77363616c61727382a463707573cb3ff800000000"
          "0000a36d656dcd0100a672616e67657381a5706f7274739192cd7918cd7919a9636f6e7461696e65"
          "7283a474797065a6444f434b4552a5696d616765a962757379626f783a31a76e6574776f726ba468"
          "6f7374b26b696c6c5f67726163655f7365636f6e6473cb3ff8000000000000a464617461a5627974"
          "6573a57374617465ac5441534b5f52554e4e494e47a773616e64626f78b82f772f73616e64626f78"
          "65732f662d312f742d312f632d31a6736563726574a6733363726574a96578656375746f72739182"
          "ac6672616d65776f726b5f6964a3662d31a86578656375746f7286ab6578656375746f725f6964a3"
          "652d31a46e616d65a465786563a7636f6d6d616e6485a57368656c6cc2a576616c7565a92f62696e"
          "2f6563686fa9617267756d656e747391a568656c6c6fab656e7669726f6e6d656e7481a847524545"
          "54494e47a26869a475736572a66e6f626f6479a97265736f757263657382a77363616c61727382a4"
          "63707573cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd7918cd"
          "7919a9636f6e7461696e657283a474797065a6444f434b4552a5696d616765a962757379626f783a"
          "31a76e6574776f726ba4686f7374b26b696c6c5f67726163655f7365636f6e6473cb3ff800000000"
          "0000"),
      golden<agent::Registered>(
          agent::Registered{"a-1", "m-1", 2.5, "s3cret"},
          "86a474797065b06167656e742e72656769737465726564a17602a466726f6da6676f6c64656ea373"
          "657107a4636f727203a4626f647984a86167656e745f6964a3612d31a96d61737465725f6964a36d"
          "2d31b570696e675f696e74657276616c5f7365636f6e6473cb4004000000000000a6736563726574"
          "a6733363726574"),
      golden<agent::Refused>(
          agent::Refused{"agent 'a-1' did not prove its id"},
          "86a474797065ad6167656e742e72656675736564a17601a466726f6da6676f6c64656ea373657107"
          "a4636f727203a4626f647981a6726561736f6ed9206167656e742027612d312720646964206e6f74"
          "2070726f766520697473206964"),
      golden<agent::RunTask>(
          agent::RunTask{"f-1", task()},
          "86a474797065ae6167656e742e72756e5f7461736ba17601a466726f6da6676f6c64656ea3736571"
          "07a4636f727203a4626f647982ac6672616d65776f726b5f6964a3662d31a47461736b8aa7746173"
          "6b5f6964a3742d31a46e616d65a3776562a86167656e745f6964a3612d31a97265736f7572636573"
          "82a77363616c61727382a463707573cb3ff8000000000000a36d656dcd0100a672616e67657381a5"
          "706f7274739192cd7918cd7919a7636f6d6d616e6485a57368656c6cc2a576616c7565a92f62696e"
          "2f6563686fa9617267756d656e747391a568656c6c6fab656e7669726f6e6d656e7481a847524545"
          "54494e47a26869a475736572a66e6f626f6479a9636f6e7461696e657283a474797065a6444f434b"
          "4552a5696d616765a962757379626f783a31a76e6574776f726ba4686f7374b26b696c6c5f677261"
          "63655f7365636f6e6473cb4004000000000000a66c6162656c7381a474696572a566726f6e74a865"
          "78656375746f7286ab6578656375746f725f6964a3652d31a46e616d65a465786563a7636f6d6d61"
          "6e6485a57368656c6cc2a576616c7565a92f62696e2f6563686fa9617267756d656e747391a56865"
          "6c6c6fab656e7669726f6e6d656e7481a84752454554494e47a26869a475736572a66e6f626f6479"
          "a97265736f757263657382a77363616c61727382a463707573cb3ff8000000000000a36d656dcd01"
          "00a672616e67657381a5706f7274739192cd7918cd7919a9636f6e7461696e657283a474797065a6"
          "444f434b4552a5696d616765a962757379626f783a31a76e6574776f726ba4686f7374b26b696c6c"
          "5f67726163655f7365636f6e6473cb3ff8000000000000a464617461a56279746573"),
      golden<agent::KillTask>(
          agent::KillTask{"f-1", "t-1"},
          "86a474797065af6167656e742e6b696c6c5f7461736ba17601a466726f6da6676f6c64656ea37365"
          "7107a4636f727203a4626f647982ac6672616d65776f726b5f6964a3662d31a77461736b5f6964a3"
          "742d31"),
      golden<agent::StatusUpdate>(
          agent::StatusUpdate{"a-1", status(), protocol::state::kFinished,
                              "/w/sandboxes/f-1/t-1/c-1"},
          "86a474797065b36167656e742e7374617475735f757064617465a17602a466726f6da6676f6c6465"
          "6ea373657107a4636f727203a4626f647984a86167656e745f6964a3612d31a67374617475738aa7"
          "7461736b5f6964a3742d31a86167656e745f6964a3612d31ac6672616d65776f726b5f6964a3662d"
          "31a57374617465ac5441534b5f52554e4e494e47a6726561736f6eb5524541534f4e5f5245434f4e"
          "43494c494154494f4ea6736f75726365ac534f555243455f4147454e54a76d657373616765a46669"
          "6e65a475756964d92030303131323233333434353536363737383839396161626263636464656566"
          "66a9657869745f636f646503a974696d657374616d70cb41d954fc40200000ac6c61746573745f73"
          "74617465ad5441534b5f46494e4953484544a773616e64626f78b82f772f73616e64626f7865732f"
          "662d312f742d312f632d31"),
      golden<agent::StatusAck>(
          agent::StatusAck{"f-1", "t-1", "00112233445566778899aabbccddeeff"},
          "86a474797065b06167656e742e7374617475735f61636ba17601a466726f6da6676f6c64656ea373"
          "657107a4636f727203a4626f647983ac6672616d65776f726b5f6964a3662d31a77461736b5f6964"
          "a3742d31a475756964d9203030313132323333343435353636373738383939616162626363646465"
          "656666"),
      golden<agent::Ping>(
          agent::Ping{42},
          "86a474797065aa6167656e742e70696e67a17601a466726f6da6676f6c64656ea373657107a4636f"
          "727203a4626f647981a873657175656e63652a"),
      golden<agent::Pong>(
          agent::Pong{"a-1", 42},
          "86a474797065aa6167656e742e706f6e67a17601a466726f6da6676f6c64656ea373657107a4636f"
          "727203a4626f647982a86167656e745f6964a3612d31a873657175656e63652a"),
      golden<agent::Usage>(
          agent::Usage{"a-1", {{"f-1", "t-1", {12.5, 4096, 8192, 1.7e9}}}},
          "86a474797065ab6167656e742e7573616765a17601a466726f6da6676f6c64656ea373657107a463"
          "6f727203a4626f647982a86167656e745f6964a3612d31a57461736b739183ac6672616d65776f72"
          "6b5f6964a3662d31a77461736b5f6964a3742d31a5757361676584ab6370755f7365636f6e6473cb"
          "4029000000000000a96d656d5f6279746573cd1000ae6d656d5f7065616b5f6279746573cd2000a9"
          "74696d657374616d70ce6553f100"),
      golden<agent::Shutdown>(
          agent::Shutdown{"removed"},
          "86a474797065ae6167656e742e73687574646f776ea17601a466726f6da6676f6c64656ea3736571"
          "07a4636f727203a4626f647981a6726561736f6ea772656d6f766564"),
      golden<agent::ShutdownFramework>(
          agent::ShutdownFramework{"f-1"},
          "86a474797065b86167656e742e73687574646f776e5f6672616d65776f726ba17601a466726f6da6"
          "676f6c64656ea373657107a4636f727203a4626f647981ac6672616d65776f726b5f6964a3662d31"),
      golden<agent::ShutdownExecutor>(
          agent::ShutdownExecutor{"f-1", "e-1"},
          "86a474797065b76167656e742e73687574646f776e5f6578656375746f72a17601a466726f6da667"
          "6f6c64656ea373657107a4636f727203a4626f647982ac6672616d65776f726b5f6964a3662d31ab"
          "6578656375746f725f6964a3652d31"),
      golden<agent::ExecutorExited>(
          agent::ExecutorExited{"a-1", "f-1", "e-1", 3, "exited with status 3"},
          "86a474797065b56167656e742e6578656375746f725f657869746564a17601a466726f6da6676f6c"
          "64656ea373657107a4636f727203a4626f647985a86167656e745f6964a3612d31ac6672616d6577"
          "6f726b5f6964a3662d31ab6578656375746f725f6964a3652d31a673746174757303a76d65737361"
          "6765b46578697465642077697468207374617475732033"),
      golden<agent::FrameworkMessage>(
          agent::FrameworkMessage{"a-1", "f-1", "e-1", "hi"},
          "86a474797065b76167656e742e6672616d65776f726b5f6d657373616765a17601a466726f6da667"
          "6f6c64656ea373657107a4636f727203a4626f647984a86167656e745f6964a3612d31ac6672616d"
          "65776f726b5f6964a3662d31ab6578656375746f725f6964a3652d31a464617461a26869"),

      // protocol/executor.h
      golden<executor::Register>(
          executor::Register{"f-1", "e-1", "secret", {"t-1"}},
          "86a474797065b16578656375746f722e7265676973746572a17601a466726f6da6676f6c64656ea3"
          "73657107a4636f727203a4626f647984ac6672616d65776f726b5f6964a3662d31ab657865637574"
          "6f725f6964a3652d31a5746f6b656ea6736563726574a57461736b7391a3742d31"),
      golden<executor::Registered>(
          executor::Registered{"a-1", "f-1", "e-1", "h1"},
          "86a474797065b36578656375746f722e72656769737465726564a17601a466726f6da6676f6c6465"
          "6ea373657107a4636f727203a4626f647984a86167656e745f6964a3612d31ac6672616d65776f72"
          "6b5f6964a3662d31ab6578656375746f725f6964a3652d31a8686f73746e616d65a26831"),
      golden<executor::Refused>(
          executor::Refused{"wrong token"},
          "86a474797065b06578656375746f722e72656675736564a17601a466726f6da6676f6c64656ea373"
          "657107a4636f727203a4626f647981a6726561736f6eab77726f6e6720746f6b656e"),
      golden<executor::LaunchTask>(
          executor::LaunchTask{task()},
          "86a474797065b46578656375746f722e6c61756e63685f7461736ba17601a466726f6da6676f6c64"
          "656ea373657107a4636f727203a4626f647981a47461736b8aa77461736b5f6964a3742d31a46e61"
          "6d65a3776562a86167656e745f6964a3612d31a97265736f757263657382a77363616c61727382a4"
          "63707573cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd7918cd"
          "7919a7636f6d6d616e6485a57368656c6cc2a576616c7565a92f62696e2f6563686fa9617267756d"
          "656e747391a568656c6c6fab656e7669726f6e6d656e7481a84752454554494e47a26869a4757365"
          "72a66e6f626f6479a9636f6e7461696e657283a474797065a6444f434b4552a5696d616765a96275"
          "7379626f783a31a76e6574776f726ba4686f7374b26b696c6c5f67726163655f7365636f6e6473cb"
          "4004000000000000a66c6162656c7381a474696572a566726f6e74a86578656375746f7286ab6578"
          "656375746f725f6964a3652d31a46e616d65a465786563a7636f6d6d616e6485a57368656c6cc2a5"
          "76616c7565a92f62696e2f6563686fa9617267756d656e747391a568656c6c6fab656e7669726f6e"
          "6d656e7481a84752454554494e47a26869a475736572a66e6f626f6479a97265736f757263657382"
          "a77363616c61727382a463707573cb3ff8000000000000a36d656dcd0100a672616e67657381a570"
          "6f7274739192cd7918cd7919a9636f6e7461696e657283a474797065a6444f434b4552a5696d6167"
          "65a962757379626f783a31a76e6574776f726ba4686f7374b26b696c6c5f67726163655f7365636f"
          "6e6473cb3ff8000000000000a464617461a56279746573"),
      golden<executor::KillTask>(
          executor::KillTask{"t-1"},
          "86a474797065b26578656375746f722e6b696c6c5f7461736ba17601a466726f6da6676f6c64656e"
          "a373657107a4636f727203a4626f647981a77461736b5f6964a3742d31"),
      golden<executor::StatusUpdate>(
          executor::StatusUpdate{"t-1", protocol::state::kRunning,
                                 protocol::reason::kReconciliation, "fine", "u-1"},

          "86a474797065b66578656375746f722e7374617475735f757064617465a17601a466726f6da6676f"
          "6c64656ea373657107a4636f727203a4626f647985a77461736b5f6964a3742d31a57374617465ac"
          "5441534b5f52554e4e494e47a6726561736f6eb5524541534f4e5f5245434f4e43494c494154494f"
          "4ea76d657373616765a466696e65a475756964a3752d31"),
      golden<executor::StatusAck>(
          executor::StatusAck{"t-1", "u-1"},
          "86a474797065b36578656375746f722e7374617475735f61636ba17601a466726f6da6676f6c6465"
          "6ea373657107a4636f727203a4626f647982a77461736b5f6964a3742d31a475756964a3752d31"),
      golden<executor::Ping>(
          executor::Ping{4},
          "86a474797065ad6578656375746f722e70696e67a17601a466726f6da6676f6c64656ea373657107"
          "a4636f727203a4626f647981a873657175656e636504"),
      golden<executor::Pong>(
          executor::Pong{4},
          "86a474797065ad6578656375746f722e706f6e67a17601a466726f6da6676f6c64656ea373657107"
          "a4636f727203a4626f647981a873657175656e636504"),
      golden<executor::Shutdown>(
          executor::Shutdown{"framework removed"},
          "86a474797065b16578656375746f722e73687574646f776ea17601a466726f6da6676f6c64656ea3"
          "73657107a4636f727203a4626f647981a6726561736f6eb16672616d65776f726b2072656d6f7665"
          "64"),
      golden<executor::Message>(
          executor::Message{"hi"},
          "86a474797065b06578656375746f722e6d657373616765a17601a466726f6da6676f6c64656ea373"
          "657107a4636f727203a4626f647981a464617461a26869"),

      // protocol/allocator.h
      golden<alloc::AgentAdded>(
          alloc::AgentAdded{
              "a-1", "h1", resources(), {alloc::Allocation{"f-1", "web", resources()}}},
          "86a474797065b5616c6c6f6361746f722e6167656e745f6164646564a17601a466726f6da6676f6c"
          "64656ea373657107a4636f727203a4626f647984a86167656e745f6964a3612d31a8686f73746e61"
          "6d65a26831a5746f74616c82a77363616c61727382a463707573cb3ff8000000000000a36d656dcd"
          "0100a672616e67657381a5706f7274739192cd7918cd7919a9616c6c6f63617465649183ac667261"
          "6d65776f726b5f6964a3662d31a4726f6c65a3776562a97265736f757263657382a77363616c6172"
          "7382a463707573cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd"
          "7918cd7919"),
      golden<alloc::AgentRemoved>(
          alloc::AgentRemoved{"a-1"},
          "86a474797065b7616c6c6f6361746f722e6167656e745f72656d6f766564a17601a466726f6da667"
          "6f6c64656ea373657107a4636f727203a4626f647981a86167656e745f6964a3612d31"),
      golden<alloc::AgentActivation>(
          alloc::AgentActivation{"a-1", false},
          "86a474797065ba616c6c6f6361746f722e6167656e745f61637469766174696f6ea17601a466726f"
          "6da6676f6c64656ea373657107a4636f727203a4626f647982a86167656e745f6964a3612d31a661"
          "6374697665c2"),
      golden<alloc::FrameworkAdded>(
          alloc::FrameworkAdded{"f-1", {"web", "batch"}, false},
          "86a474797065b9616c6c6f6361746f722e6672616d65776f726b5f6164646564a17601a466726f6d"
          "a6676f6c64656ea373657107a4636f727203a4626f647983ac6672616d65776f726b5f6964a3662d"
          "31a5726f6c657392a3776562a56261746368a6616374697665c2"),
      golden<alloc::FrameworkRemoved>(
          alloc::FrameworkRemoved{"f-1"},
          "86a474797065bb616c6c6f6361746f722e6672616d65776f726b5f72656d6f766564a17601a46672"
          "6f6da6676f6c64656ea373657107a4636f727203a4626f647981ac6672616d65776f726b5f6964a3"
          "662d31"),
      golden<alloc::FrameworkActivation>(
          alloc::FrameworkActivation{"f-1", false},
          "86a474797065be616c6c6f6361746f722e6672616d65776f726b5f61637469766174696f6ea17601"
          "a466726f6da6676f6c64656ea373657107a4636f727203a4626f647982ac6672616d65776f726b5f"
          "6964a3662d31a6616374697665c2"),
      golden<alloc::Recover>(
          alloc::Recover{"f-1", "a-1", "web", resources(), 5.5},
          "86a474797065b1616c6c6f6361746f722e7265636f766572a17601a466726f6da6676f6c64656ea3"
          "73657107a4636f727203a4626f647985ac6672616d65776f726b5f6964a3662d31a86167656e745f"
          "6964a3612d31a4726f6c65a3776562a97265736f757263657382a77363616c61727382a463707573"
          "cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd7918cd7919ae72"
          "65667573655f7365636f6e6473cb4016000000000000"),
      golden<alloc::Suppress>(
          alloc::Suppress{"f-1", "web"},
          "86a474797065b2616c6c6f6361746f722e7375707072657373a17601a466726f6da6676f6c64656e"
          "a373657107a4636f727203a4626f647982ac6672616d65776f726b5f6964a3662d31a4726f6c65a3"
          "776562"),
      golden<alloc::Revive>(
          alloc::Revive{"f-1", "web"},
          "86a474797065b0616c6c6f6361746f722e726576697665a17601a466726f6da6676f6c64656ea373"
          "657107a4636f727203a4626f647982ac6672616d65776f726b5f6964a3662d31a4726f6c65a37765"
          "62"),
      golden<alloc::SetWeight>(
          alloc::SetWeight{"web", 2.5},
          "86a474797065b4616c6c6f6361746f722e7365745f776569676874a17601a466726f6da6676f6c64"
          "656ea373657107a4636f727203a4626f647982a4726f6c65a3776562a6776569676874cb40040000"
          "00000000"),
      golden<alloc::SetQuota>(
          alloc::SetQuota{"web", resources()},
          "86a474797065b3616c6c6f6361746f722e7365745f71756f7461a17601a466726f6da6676f6c6465"
          "6ea373657107a4636f727203a4626f647982a4726f6c65a3776562a56c696d697482a77363616c61"
          "727382a463707573cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192"
          "cd7918cd7919"),
      golden<alloc::SetPriority>(
          alloc::SetPriority{"web", -3},
          "86a474797065b6616c6c6f6361746f722e7365745f7072696f72697479a17601a466726f6da6676f"
          "6c64656ea373657107a4636f727203a4626f647982a4726f6c65a3776562a87072696f72697479fd"),
      golden<alloc::RoleResult>(
          alloc::RoleResult{false, "role 'web': no"},
          "86a474797065b5616c6c6f6361746f722e726f6c655f726573756c74a17601a466726f6da6676f6c"
          "64656ea373657107a4636f727203a4626f647982a26f6bc2a56572726f72ae726f6c652027776562"
          "273a206e6f"),
      golden<alloc::AllocateNow>(
          alloc::AllocateNow{},
          "86a474797065b6616c6c6f6361746f722e616c6c6f636174655f6e6f77a17601a466726f6da6676f"
          "6c64656ea373657107a4636f727203a4626f647980"),
      golden<alloc::Allocated>(
          alloc::Allocated{{alloc::Grant{"f-1", "a-1", "web", resources()}}, 0.25},
          "86a474797065b3616c6c6f6361746f722e616c6c6f6361746564a17601a466726f6da6676f6c6465"
          "6ea373657107a4636f727203a4626f647982a66772616e74739184ac6672616d65776f726b5f6964"
          "a3662d31a86167656e745f6964a3612d31a4726f6c65a3776562a97265736f757263657382a77363"
          "616c61727382a463707573cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274"
          "739192cd7918cd7919ad6379636c655f7365636f6e6473cb3fd0000000000000"),

      // protocol/isolator.h
      golden_filled<isolator::Launch>(
          [](isolator::Launch& m) {
            m.container_id = "c-1";
            m.task_id = "t-1";
            m.sandbox = "/sandbox";
            m.command = command();
            m.container = container();
            m.resources = resources();
            m.environment = {{"PORT0", "31000"}};
            m.hold = true;
          },
          "86a474797065af69736f6c61746f722e6c61756e6368a17601a466726f6da6676f6c64656ea37365"
          "7107a4636f727203a4626f647988ac636f6e7461696e65725f6964a3632d31a77461736b5f6964a3"
          "742d31a773616e64626f78a82f73616e64626f78a7636f6d6d616e6485a57368656c6cc2a576616c"
          "7565a92f62696e2f6563686fa9617267756d656e747391a568656c6c6fab656e7669726f6e6d656e"
          "7481a84752454554494e47a26869a475736572a66e6f626f6479a9636f6e7461696e657283a47479"
          "7065a6444f434b4552a5696d616765a962757379626f783a31a76e6574776f726ba4686f7374a972"
          "65736f757263657382a77363616c61727382a463707573cb3ff8000000000000a36d656dcd0100a6"
          "72616e67657381a5706f7274739192cd7918cd7919ab656e7669726f6e6d656e7481a5504f525430"
          "a53331303030a4686f6c64c3"),
      golden<isolator::Launched>(
          isolator::Launched{"c-1", 1234},
          "86a474797065b169736f6c61746f722e6c61756e63686564a17601a466726f6da6676f6c64656ea3"
          "73657107a4636f727203a4626f647982ac636f6e7461696e65725f6964a3632d31a3706964cd04d2"),
      golden<isolator::Kill>(
          isolator::Kill{"c-1", 0.5},
          "86a474797065ad69736f6c61746f722e6b696c6ca17601a466726f6da6676f6c64656ea373657107"
          "a4636f727203a4626f647982ac636f6e7461696e65725f6964a3632d31ad67726163655f7365636f"
          "6e6473cb3fe0000000000000"),
      golden<isolator::Killed>(
          isolator::Killed{"c-1"},
          "86a474797065af69736f6c61746f722e6b696c6c6564a17601a466726f6da6676f6c64656ea37365"
          "7107a4636f727203a4626f647981ac636f6e7461696e65725f6964a3632d31"),
      golden<isolator::Recover>(
          isolator::Recover{{isolator::KnownContainer{"c-1", 1234}}},
          "86a474797065b069736f6c61746f722e7265636f766572a17601a466726f6da6676f6c64656ea373"
          "657107a4636f727203a4626f647981aa636f6e7461696e6572739182ac636f6e7461696e65725f69"
          "64a3632d31a3706964cd04d2"),
      golden<isolator::Recovered>(
          isolator::Recovered{{"c-1"}, {"c-2"}},
          "86a474797065b269736f6c61746f722e7265636f7665726564a17601a466726f6da6676f6c64656e"
          "a373657107a4636f727203a4626f647982a5616c69766591a3632d31a4676f6e6591a3632d32"),
      golden<isolator::Failed>(
          isolator::Failed{"c-1", "no such program"},
          "86a474797065af69736f6c61746f722e6661696c6564a17601a466726f6da6676f6c64656ea37365"
          "7107a4636f727203a4626f647982ac636f6e7461696e65725f6964a3632d31a76d657373616765af"
          "6e6f20737563682070726f6772616d"),
      golden<isolator::Exited>(
          isolator::Exited{"c-1", 137, 9, protocol::reason::kMemoryLimit, "memory limit"},
          "86a474797065af69736f6c61746f722e657869746564a17601a466726f6da6676f6c64656ea37365"
          "7107a4636f727203a4626f647985ac636f6e7461696e65725f6964a3632d31a9657869745f636f64"
          "65cc89a67369676e616c09a6726561736f6ed922524541534f4e5f434f4e5441494e45525f4c494d"
          "49544154494f4e5f4d454d4f5259a76d657373616765ac6d656d6f7279206c696d6974"),

      golden<isolator::Release>(
          isolator::Release{"c-1"},
          "86a474797065b069736f6c61746f722e72656c65617365a17601a466726f6da6676f6c64656ea373"
          "657107a4636f727203a4626f647981ac636f6e7461696e65725f6964a3632d31"),
      golden<isolator::Released>(
          isolator::Released{"c-1"},
          "86a474797065b169736f6c61746f722e72656c6561736564a17601a466726f6da6676f6c64656ea3"
          "73657107a4636f727203a4626f647981ac636f6e7461696e65725f6964a3632d31"),
      golden_filled<isolator::Prepare>(
          [](isolator::Prepare& m) {
            m.container_id = "c-1";
            m.task_id = "t-1";
            m.sandbox = "/sandbox";
            m.container = container();
            m.resources = resources();
          },

          "86a474797065b069736f6c61746f722e70726570617265a17601a466726f6da6676f6c64656ea373"
          "657107a4636f727203a4626f647985ac636f6e7461696e65725f6964a3632d31a77461736b5f6964"
          "a3742d31a773616e64626f78a82f73616e64626f78a9636f6e7461696e657283a474797065a6444f"
          "434b4552a5696d616765a962757379626f783a31a76e6574776f726ba4686f7374a97265736f7572"
          "63657382a77363616c61727382a463707573cb3ff8000000000000a36d656dcd0100a672616e6765"
          "7381a5706f7274739192cd7918cd7919"),
      golden<isolator::Prepared>(
          isolator::Prepared{"c-1"},
          "86a474797065b169736f6c61746f722e7072657061726564a17601a466726f6da6676f6c64656ea3"
          "73657107a4636f727203a4626f647981ac636f6e7461696e65725f6964a3632d31"),
      golden<isolator::Isolate>(
          isolator::Isolate{"c-1", 1234},
          "86a474797065b069736f6c61746f722e69736f6c617465a17601a466726f6da6676f6c64656ea373"
          "657107a4636f727203a4626f647982ac636f6e7461696e65725f6964a3632d31a3706964cd04d2"),
      golden<isolator::Isolated>(
          isolator::Isolated{"c-1"},
          "86a474797065b169736f6c61746f722e69736f6c61746564a17601a466726f6da6676f6c64656ea3"
          "73657107a4636f727203a4626f647981ac636f6e7461696e65725f6964a3632d31"),
      golden<isolator::Update>(
          isolator::Update{"c-1", resources()},
          "86a474797065af69736f6c61746f722e757064617465a17601a466726f6da6676f6c64656ea37365"
          "7107a4636f727203a4626f647982ac636f6e7461696e65725f6964a3632d31a97265736f75726365"
          "7382a77363616c61727382a463707573cb3ff8000000000000a36d656dcd0100a672616e67657381"
          "a5706f7274739192cd7918cd7919"),
      golden<isolator::Updated>(
          isolator::Updated{"c-1"},
          "86a474797065b069736f6c61746f722e75706461746564a17601a466726f6da6676f6c64656ea373"
          "657107a4636f727203a4626f647981ac636f6e7461696e65725f6964a3632d31"),
      golden<isolator::GetUsage>(
          isolator::GetUsage{"c-1"},
          "86a474797065b269736f6c61746f722e6765745f7573616765a17601a466726f6da6676f6c64656e"
          "a373657107a4636f727203a4626f647981ac636f6e7461696e65725f6964a3632d31"),
      golden<isolator::Usage>(
          isolator::Usage{"c-1", 1.5, 4096, 8192},
          "86a474797065ae69736f6c61746f722e7573616765a17601a466726f6da6676f6c64656ea3736571"
          "07a4636f727203a4626f647984ac636f6e7461696e65725f6964a3632d31ab6370755f7365636f6e"
          "6473cb3ff8000000000000ac6d656d6f72795f6279746573cd1000b16d656d6f72795f7065616b5f"
          "6279746573cd2000"),
      golden<isolator::Cleanup>(
          isolator::Cleanup{"c-1"},
          "86a474797065b069736f6c61746f722e636c65616e7570a17601a466726f6da6676f6c64656ea373"
          "657107a4636f727203a4626f647981ac636f6e7461696e65725f6964a3632d31"),
      golden<isolator::CleanedUp>(
          isolator::CleanedUp{"c-1", protocol::reason::kMemoryLimit, "memory limit"},

          "86a474797065b369736f6c61746f722e636c65616e65645f7570a17601a466726f6da6676f6c6465"
          "6ea373657107a4636f727203a4626f647983ac636f6e7461696e65725f6964a3632d31a672656173"
          "6f6ed922524541534f4e5f434f4e5441494e45525f4c494d49544154494f4e5f4d454d4f5259a76d"
          "657373616765ac6d656d6f7279206c696d6974"),
      golden<isolator::Limitation>(
          isolator::Limitation{"c-1", protocol::reason::kMemoryLimit, "memory limit"},

          "86a474797065b369736f6c61746f722e6c696d69746174696f6ea17601a466726f6da6676f6c6465"
          "6ea373657107a4636f727203a4626f647983ac636f6e7461696e65725f6964a3632d31a672656173"
          "6f6ed922524541534f4e5f434f4e5441494e45525f4c494d49544154494f4e5f4d454d4f5259a76d"
          "657373616765ac6d656d6f7279206c696d6974"),

      // protocol/operator.h
      golden<op::GetState>(
          op::GetState{},
          "86a474797065b26f70657261746f722e6765745f7374617465a17601a466726f6da6676f6c64656e"
          "a373657107a4636f727203a4626f647980"),
      golden_filled<op::State>(
          [](op::State& m) {
            m.master_id = "m-1";
            m.endpoint = "tcp://127.0.0.1:5050";
            m.agents = {agent_state()};
            m.frameworks = {framework_state()};
            m.tasks = {task_state()};
            m.version = "0.1.0";
            m.start_time = 1700000000.75;
            m.hostname = "m1";
            m.active_tasks = 1;
            m.offers = {offer()};
            m.roles = {op::RoleState{"web", 2, true, resources(), 7, resources(), 0.25}};
            m.counters = op::MasterCounters{10, 11, 12, 13, {1, 0, 2}, 0.5};
            m.executors = {op::ExecutorState{"e-1", "primes", "f-1", "a-1", resources()}};
          },
          "86a474797065ae6f70657261746f722e7374617465a17601a466726f6da6676f6c64656ea3736571"
          "07a4636f727203a4626f64798da96d61737465725f6964a36d2d31a8656e64706f696e74b4746370"
          "3a2f2f3132372e302e302e313a35303530a66167656e74739188a86167656e745f6964a3612d31a8"
          "686f73746e616d65a26831a6616374697665c2a5746f74616c82a77363616c61727382a463707573"
          "cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd7918cd7919a475"
          "73656482a77363616c61727382a463707573cb3ff8000000000000a36d656dcd0100a672616e6765"
          "7381a5706f7274739192cd7918cd7919a76f66666572656482a77363616c61727382a463707573cb"
          "3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd7918cd7919aa6174"
          "74726962757465739182a46e616d65a47261636ba576616c7565a27231ad72656769737465726564"
          "5f6174cb41d954fc40100000aa6672616d65776f726b739189ac6672616d65776f726b5f6964a366"
          "2d31a46e616d65a86d61726174686f6ea5726f6c657391a3776562a9636f6e6e6563746564c2b866"
          "61696c6f7665725f74696d656f75745f7365636f6e6473cd0258a47573656482a77363616c617273"
          "82a463707573cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd79"
          "18cd7919a76f66666572656482a77363616c61727382a463707573cb3ff8000000000000a36d656d"
          "cd0100a672616e67657381a5706f7274739192cd7918cd7919ac6163746976655f7461736b7302ad"
          "726567697374657265645f6174cb41d954fc40200000a57461736b73918ba77461736b5f6964a374"
          "2d31a46e616d65a3776562ac6672616d65776f726b5f6964a3662d31a86167656e745f6964a3612d"
          "31a57374617465ac5441534b5f52554e4e494e47a97265736f757263657382a77363616c61727382"
          "a463707573cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd7918"
          "cd7919ab6c6173745f7374617475738aa77461736b5f6964a3742d31a86167656e745f6964a3612d"
          "31ac6672616d65776f726b5f6964a3662d31a57374617465ac5441534b5f52554e4e494e47a67265"
          "61736f6eb5524541534f4e5f5245434f4e43494c494154494f4ea6736f75726365ac534f55524345"
          "5f4147454e54a76d657373616765a466696e65a475756964d9203030313132323333343435353636"
          "373738383939616162626363646465656666a9657869745f636f646503a974696d657374616d70cb"
          "41d954fc40200000a773616e64626f78b82f772f73616e64626f7865732f662d312f742d312f632d"
          "31a9636f6e7461696e657283a474797065a6444f434b4552a5696d616765a762757379626f78a76e"
          "6574776f726ba46e6f6e65a5757361676584ab6370755f7365636f6e6473cb4029000000000000a9"
          "6d656d5f6279746573cd1000ae6d656d5f7065616b5f6279746573cd2000a974696d657374616d70"
          "ce6553f100ab6578656375746f725f6964a3652d31a776657273696f6ea5302e312e30aa73746172"
          "745f74696d65cb41d954fc40300000a8686f73746e616d65a26d31ac6163746976655f7461736b73"
          "01a66f66666572739187a86f666665725f6964a36f2d31ac6672616d65776f726b5f6964a3662d31"
          "a86167656e745f6964a3612d31a8686f73746e616d65a26831a4726f6c65a3776562a97265736f75"
          "7263657382a77363616c61727382a463707573cb3ff8000000000000a36d656dcd0100a672616e67"
          "657381a5706f7274739192cd7918cd7919aa617474726962757465739182a46e616d65a47261636b"
          "a576616c7565a27231a5726f6c65739187a46e616d65a3776562a677656967687402a96861735f71"
          "756f7461c3a571756f746182a77363616c61727382a463707573cb3ff8000000000000a36d656dcd"
          "0100a672616e67657381a5706f7274739192cd7918cd7919a87072696f7269747907a9616c6c6f63"
          "6174656482a77363616c61727382a463707573cb3ff8000000000000a36d656dcd0100a672616e67"
          "657381a5706f7274739192cd7918cd7919a57368617265cb3fd0000000000000a8636f756e746572"
          "7386b16d657373616765735f72656365697665640ab06576656e74735f7075626c69736865640bab"
          "616c6c6f636174696f6e730cad6d657373616765735f73656e740db8616c6c6f636174696f6e5f63"
          "79636c655f6275636b65747393010002bc616c6c6f636174696f6e5f6379636c655f7365636f6e64"
          "735f73756dcb3fe0000000000000a96578656375746f72739185ab6578656375746f725f6964a365"
          "2d31a46e616d65a67072696d6573ac6672616d65776f726b5f6964a3662d31a86167656e745f6964"
          "a3612d31a97265736f757263657382a77363616c61727382a463707573cb3ff8000000000000a36d"
          "656dcd0100a672616e67657381a5706f7274739192cd7918cd7919"),
      golden<op::GetStateSummary>(
          op::GetStateSummary{.roles_only = true,
                              .with_usages = true,
                              .known_version = 9,
                              .agents_delta = true,
                              .offers_delta = true},
          "86a474797065ba6f70657261746f722e6765745f73746174655f73756d6d617279a17601a466726f"
          "6da6676f6c64656ea373657107a4636f727203a4626f647985aa726f6c65735f6f6e6c79c3ab7769"
          "74685f757361676573c3ad6b6e6f776e5f76657273696f6e09ac6167656e74735f64656c7461c3ac"
          "6f66666572735f64656c7461c3"),
      golden_filled<op::StateSummary>(
          [](op::StateSummary& m) {
            m.state.master_id = "m-1";
            m.state.active_tasks = 2;
            op::RoleState role;
            role.name = "web";
            role.weight = 2;
            role.allocated = resources();
            m.state.roles = {role};
            m.event_sequence = 41;
            m.completed_tasks = 3;
            m.max_completed_tasks = 1000;
            op::TaskUsage usage;
            usage.framework_id = "f-1";
            usage.task_id = "t-1";
            usage.usage.cpu_seconds = 12.5;
            usage.usage.mem_bytes = 4096;
            usage.usage.mem_peak_bytes = 8192;
            usage.usage.timestamp = 1700000000;
            m.usages = {usage};
            m.version = 12;
            m.unchanged = true;
            m.agents_since = 11;
            m.offers_since = 10;
            m.offers_gone = {"o-7"};
          },
          "86a474797065b66f70657261746f722e73746174655f73756d6d617279a17601a466726f6da6676f"
          "6c64656ea373657107a4636f727203a4626f64798aa573746174658da96d61737465725f6964a36d"
          "2d31a8656e64706f696e74a0a66167656e747390aa6672616d65776f726b7390a57461736b7390a7"
          "76657273696f6ea0aa73746172745f74696d6500a8686f73746e616d65a0ac6163746976655f7461"
          "736b7302a66f666665727390a5726f6c65739187a46e616d65a3776562a677656967687402a96861"
          "735f71756f7461c2a571756f746182a77363616c61727380a672616e67657380a87072696f726974"
          "7900a9616c6c6f636174656482a77363616c61727382a463707573cb3ff8000000000000a36d656d"
          "cd0100a672616e67657381a5706f7274739192cd7918cd7919a5736861726500a8636f756e746572"
          "7386b16d657373616765735f726563656976656400b06576656e74735f7075626c697368656400ab"
          "616c6c6f636174696f6e7300ad6d657373616765735f73656e7400b8616c6c6f636174696f6e5f63"
          "79636c655f6275636b65747390bc616c6c6f636174696f6e5f6379636c655f7365636f6e64735f73"
          "756d00a96578656375746f727390ae6576656e745f73657175656e636529af636f6d706c65746564"
          "5f7461736b7303b36d61785f636f6d706c657465645f7461736b73cd03e8a67573616765739183ac"
          "6672616d65776f726b5f6964a3662d31a77461736b5f6964a3742d31a5757361676584ab6370755f"
          "7365636f6e6473cb4029000000000000a96d656d5f6279746573cd1000ae6d656d5f7065616b5f62"
          "79746573cd2000a974696d657374616d70ce6553f100a776657273696f6e0ca9756e6368616e6765"
          "64c3ac6167656e74735f73696e63650bac6f66666572735f73696e63650aab6f66666572735f676f"
          "6e6591a36f2d37"),
      golden<op::GetMetrics>(
          op::GetMetrics{},
          "86a474797065b46f70657261746f722e6765745f6d657472696373a17601a466726f6da6676f6c64"
          "656ea373657107a4636f727203a4626f647980"),
      golden_filled<op::Metrics>(
          [](op::Metrics& m) {
            m.master_id = "m-1";
            m.start_time = 1700000000.75;
            m.agents_active = 3;
            m.agents_inactive = 1;
            m.frameworks_connected = 2;
            m.frameworks_disconnected = 1;
            m.tasks = {{protocol::state::kRunning, 5}};
            m.completed_tasks = {{protocol::state::kFinished, 9}};
            m.total = resources();
            m.used = resources();
            m.offered = resources();
            m.outstanding_offers = 4;
            m.counters = op::MasterCounters{10, 11, 12, 13, {1, 0, 2}, 0.5};
          },
          "86a474797065b06f70657261746f722e6d657472696373a17601a466726f6da6676f6c64656ea373"
          "657107a4636f727203a4626f64798da96d61737465725f6964a36d2d31aa73746172745f74696d65"
          "cb41d954fc40300000ad6167656e74735f61637469766503af6167656e74735f696e616374697665"
          "01b46672616d65776f726b735f636f6e6e656374656402b76672616d65776f726b735f646973636f"
          "6e6e656374656401a57461736b7381ac5441534b5f52554e4e494e4705af636f6d706c657465645f"
          "7461736b7381ad5441534b5f46494e495348454409a5746f74616c82a77363616c61727382a46370"
          "7573cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd7918cd7919"
          "a47573656482a77363616c61727382a463707573cb3ff8000000000000a36d656dcd0100a672616e"
          "67657381a5706f7274739192cd7918cd7919a76f66666572656482a77363616c61727382a4637075"
          "73cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd7918cd7919b2"
          "6f75747374616e64696e675f6f666665727304a8636f756e7465727386b16d657373616765735f72"
          "656365697665640ab06576656e74735f7075626c69736865640bab616c6c6f636174696f6e730cad"
          "6d657373616765735f73656e740db8616c6c6f636174696f6e5f6379636c655f6275636b65747393"
          "010002bc616c6c6f636174696f6e5f6379636c655f7365636f6e64735f73756dcb3fe00000000000"
          "00"),
      golden<op::KillTask>(
          op::KillTask{"t-1", "f-1"},
          "86a474797065b26f70657261746f722e6b696c6c5f7461736ba17601a466726f6da6676f6c64656e"
          "a373657107a4636f727203a4626f647982a77461736b5f6964a3742d31ac6672616d65776f726b5f"
          "6964a3662d31"),
      golden<op::UpdateRole>(
          op::UpdateRole{"web", 2, true, resources(), true, 7},
          "86a474797065b46f70657261746f722e7570646174655f726f6c65a17601a466726f6da6676f6c64"
          "656ea373657107a4636f727203a4626f647986a4726f6c65a3776562a677656967687402a9736574"
          "5f71756f7461c3a571756f746182a77363616c61727382a463707573cb3ff8000000000000a36d65"
          "6dcd0100a672616e67657381a5706f7274739192cd7918cd7919ac7365745f7072696f72697479c3"
          "a87072696f7269747907"),
      golden<op::Result>(
          op::Result{false, "role 'web': no"},
          "86a474797065af6f70657261746f722e726573756c74a17601a466726f6da6676f6c64656ea37365"
          "7107a4636f727203a4626f647982a26f6bc2a56572726f72ae726f6c652027776562273a206e6f"),

      // protocol/files.h
      golden<files::Request>(
          files::Request{9, "f-1", "t-1", "/w/sandboxes/f-1/t-1/c-1", files::kRead, "stdout", 10,
                         20, "e-1"},
          "86a474797065ad66696c65732e72657175657374a17601a466726f6da6676f6c64656ea373657107"
          "a4636f727203a4626f647989aa726571756573745f696409ac6672616d65776f726b5f6964a3662d"
          "31a77461736b5f6964a3742d31a773616e64626f78b82f772f73616e64626f7865732f662d312f74"
          "2d312f632d31a96f7065726174696f6ea472656164a470617468a67374646f7574a66f6666736574"
          "0aa66c656e67746814ab6578656375746f725f6964a3652d31"),
      golden_filled<files::Answer>(
          [](files::Answer& m) {
            m.request_id = 9;
            m.code = files::code::kNotFound;
            m.error = "no file";
            m.entries = {files::Entry{"stdout", 12, 1700000000.5, 0100644}};
            m.data = "hello";
            m.offset = 10;
            m.size = 15;
            m.sandbox = "/w/sandboxes/f-1/t-1/c-1";
          },
          "86a474797065ac66696c65732e616e73776572a17601a466726f6da6676f6c64656ea373657107a4"
          "636f727203a4626f647988aa726571756573745f696409a4636f6465a96e6f745f666f756e64a565"
          "72726f72a76e6f2066696c65a7656e74726965739184a470617468a67374646f7574a473697a650c"
          "a56d74696d65cb41d954fc40200000a46d6f6465cd81a4a464617461a568656c6c6fa66f66667365"
          "740aa473697a650fa773616e64626f78b82f772f73616e64626f7865732f662d312f742d312f632d"
          "31"),

      // protocol/scheduler.h
      golden<sched::Subscribe>(
          sched::Subscribe{"f-1", "marathon", {"web"}, 600, {"PARTITION_AWARE"}, "nobody"},
          "86a474797065b37363686564756c65722e737562736372696265a17601a466726f6da6676f6c6465"
          "6ea373657107a4636f727203a4626f647986ac6672616d65776f726b5f6964a3662d31a46e616d65"
          "a86d61726174686f6ea5726f6c657391a3776562b86661696c6f7665725f74696d656f75745f7365"
          "636f6e6473cd0258ac6361706162696c697469657391af504152544954494f4e5f4157415245a475"
          "736572a66e6f626f6479"),
      golden<sched::Subscribed>(
          sched::Subscribed{"f-1", "m-1", 2.5},
          "86a474797065b47363686564756c65722e73756273637269626564a17601a466726f6da6676f6c64"
          "656ea373657107a4636f727203a4626f647983ac6672616d65776f726b5f6964a3662d31a96d6173"
          "7465725f6964a36d2d31ba6865617274626561745f696e74657276616c5f7365636f6e6473cb4004"
          "000000000000"),
      golden<sched::Offers>(
          sched::Offers{{offer()}},
          "86a474797065b07363686564756c65722e6f6666657273a17601a466726f6da6676f6c64656ea373"
          "657107a4636f727203a4626f647981a66f66666572739187a86f666665725f6964a36f2d31ac6672"
          "616d65776f726b5f6964a3662d31a86167656e745f6964a3612d31a8686f73746e616d65a26831a4"
          "726f6c65a3776562a97265736f757263657382a77363616c61727382a463707573cb3ff800000000"
          "0000a36d656dcd0100a672616e67657381a5706f7274739192cd7918cd7919aa6174747269627574"
          "65739182a46e616d65a47261636ba576616c7565a27231"),
      golden<sched::Rescind>(
          sched::Rescind{"o-1"},
          "86a474797065b17363686564756c65722e72657363696e64a17601a466726f6da6676f6c64656ea3"
          "73657107a4636f727203a4626f647981a86f666665725f6964a36f2d31"),
      golden<sched::Accept>(
          sched::Accept{"f-1", {"o-1"}, {task()}, 1.5},
          "86a474797065b07363686564756c65722e616363657074a17601a466726f6da6676f6c64656ea373"
          "657107a4636f727203a4626f647984ac6672616d65776f726b5f6964a3662d31a96f666665725f69"
          "647391a36f2d31a57461736b73918aa77461736b5f6964a3742d31a46e616d65a3776562a8616765"
          "6e745f6964a3612d31a97265736f757263657382a77363616c61727382a463707573cb3ff8000000"
          "000000a36d656dcd0100a672616e67657381a5706f7274739192cd7918cd7919a7636f6d6d616e64"
          "85a57368656c6cc2a576616c7565a92f62696e2f6563686fa9617267756d656e747391a568656c6c"
          "6fab656e7669726f6e6d656e7481a84752454554494e47a26869a475736572a66e6f626f6479a963"
          "6f6e7461696e657283a474797065a6444f434b4552a5696d616765a962757379626f783a31a76e65"
          "74776f726ba4686f7374b26b696c6c5f67726163655f7365636f6e6473cb4004000000000000a66c"
          "6162656c7381a474696572a566726f6e74a86578656375746f7286ab6578656375746f725f6964a3"
          "652d31a46e616d65a465786563a7636f6d6d616e6485a57368656c6cc2a576616c7565a92f62696e"
          "2f6563686fa9617267756d656e747391a568656c6c6fab656e7669726f6e6d656e7481a847524545"
          "54494e47a26869a475736572a66e6f626f6479a97265736f757263657382a77363616c61727382a4"
          "63707573cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd7918cd"
          "7919a9636f6e7461696e657283a474797065a6444f434b4552a5696d616765a962757379626f783a"
          "31a76e6574776f726ba4686f7374b26b696c6c5f67726163655f7365636f6e6473cb3ff800000000"
          "0000a464617461a56279746573ae7265667573655f7365636f6e6473cb3ff8000000000000"),
      golden<sched::Decline>(
          sched::Decline{"f-1", {"o-1"}, 3600},
          "86a474797065b17363686564756c65722e6465636c696e65a17601a466726f6da6676f6c64656ea3"
          "73657107a4636f727203a4626f647983ac6672616d65776f726b5f6964a3662d31a96f666665725f"
          "69647391a36f2d31ae7265667573655f7365636f6e6473cd0e10"),
      golden<sched::Revive>(
          sched::Revive{"f-1", "web"},
          "86a474797065b07363686564756c65722e726576697665a17601a466726f6da6676f6c64656ea373"
          "657107a4636f727203a4626f647982ac6672616d65776f726b5f6964a3662d31a4726f6c65a37765"
          "62"),
      golden<sched::Suppress>(
          sched::Suppress{"f-1", "web"},
          "86a474797065b27363686564756c65722e7375707072657373a17601a466726f6da6676f6c64656e"
          "a373657107a4636f727203a4626f647982ac6672616d65776f726b5f6964a3662d31a4726f6c65a3"
          "776562"),
      golden<sched::Kill>(
          sched::Kill{"f-1", "t-1", "a-1"},
          "86a474797065ae7363686564756c65722e6b696c6ca17601a466726f6da6676f6c64656ea3736571"
          "07a4636f727203a4626f647983ac6672616d65776f726b5f6964a3662d31a77461736b5f6964a374"
          "2d31a86167656e745f6964a3612d31"),
      golden<sched::Acknowledge>(
          sched::Acknowledge{"f-1", "a-1", "t-1", "00112233445566778899aabbccddeeff"},
          "86a474797065b57363686564756c65722e61636b6e6f776c65646765a17601a466726f6da6676f6c"
          "64656ea373657107a4636f727203a4626f647984ac6672616d65776f726b5f6964a3662d31a86167"
          "656e745f6964a3612d31a77461736b5f6964a3742d31a475756964d9203030313132323333343435"
          "353636373738383939616162626363646465656666"),
      golden<sched::Reconcile>(
          sched::Reconcile{"f-1", {sched::ReconcileTask{"t-1", "a-1"}}},
          "86a474797065b37363686564756c65722e7265636f6e63696c65a17601a466726f6da6676f6c6465"
          "6ea373657107a4636f727203a4626f647982ac6672616d65776f726b5f6964a3662d31a57461736b"
          "739182a77461736b5f6964a3742d31a86167656e745f6964a3612d31"),
      golden<sched::Teardown>(
          sched::Teardown{"f-1"},
          "86a474797065b27363686564756c65722e74656172646f776ea17601a466726f6da6676f6c64656e"
          "a373657107a4636f727203a4626f647981ac6672616d65776f726b5f6964a3662d31"),
      golden<sched::Update>(
          sched::Update{status()},
          "86a474797065b07363686564756c65722e757064617465a17601a466726f6da6676f6c64656ea373"
          "657107a4636f727203a4626f647981a67374617475738aa77461736b5f6964a3742d31a86167656e"
          "745f6964a3612d31ac6672616d65776f726b5f6964a3662d31a57374617465ac5441534b5f52554e"
          "4e494e47a6726561736f6eb5524541534f4e5f5245434f4e43494c494154494f4ea6736f75726365"
          "ac534f555243455f4147454e54a76d657373616765a466696e65a475756964d92030303131323233"
          "33343435353636373738383939616162626363646465656666a9657869745f636f646503a974696d"
          "657374616d70cb41d954fc40200000"),
      golden<sched::AgentLost>(
          sched::AgentLost{"a-1"},
          "86a474797065b47363686564756c65722e6167656e745f6c6f7374a17601a466726f6da6676f6c64"
          "656ea373657107a4636f727203a4626f647981a86167656e745f6964a3612d31"),
      golden<sched::FrameworkMessage>(
          sched::FrameworkMessage{"f-1", "a-1", "e-1", "hi"},
          "86a474797065b17363686564756c65722e6d657373616765a17601a466726f6da6676f6c64656ea3"
          "73657107a4636f727203a4626f647984ac6672616d65776f726b5f6964a3662d31a86167656e745f"
          "6964a3612d31ab6578656375746f725f6964a3652d31a464617461a26869"),
      golden<sched::ShutdownExecutor>(
          sched::ShutdownExecutor{"f-1", "a-1", "e-1"},
          "86a474797065bb7363686564756c65722e73687574646f776e5f6578656375746f72a17601a46672"
          "6f6da6676f6c64656ea373657107a4636f727203a4626f647983ac6672616d65776f726b5f6964a3"
          "662d31a86167656e745f6964a3612d31ab6578656375746f725f6964a3652d31"),
      golden<sched::ExecutorExited>(
          sched::ExecutorExited{"f-1", "a-1", "e-1", 3, "exited with status 3"},
          "86a474797065b97363686564756c65722e6578656375746f725f657869746564a17601a466726f6d"
          "a6676f6c64656ea373657107a4636f727203a4626f647985ac6672616d65776f726b5f6964a3662d"
          "31a86167656e745f6964a3612d31ab6578656375746f725f6964a3652d31a673746174757303a76d"
          "657373616765b46578697465642077697468207374617475732033"),
      golden<sched::Heartbeat>(
          sched::Heartbeat{},
          "86a474797065b37363686564756c65722e686561727462656174a17601a466726f6da6676f6c6465"
          "6ea373657107a4636f727203a4626f647980"),
      golden<sched::Error>(
          sched::Error{"role 'web' is not allowed"},
          "86a474797065af7363686564756c65722e6572726f72a17601a466726f6da6676f6c64656ea37365"
          "7107a4636f727203a4626f647981a76d657373616765b9726f6c65202777656227206973206e6f74"
          "20616c6c6f776564"),

      // protocol/master.h
      golden<master::NotLeader>(
          master::NotLeader{"tcp://127.0.0.1:5051", "m-2", "m-1",
                            "not the leader; the leader is at tcp://127.0.0.1:5051"},
          "86a474797065b16d61737465722e6e6f745f6c6561646572a17601a466726f6da6676f6c64656ea3"
          "73657107a4636f727203a4626f647984a66c6561646572b47463703a2f2f3132372e302e302e313a"
          "35303531a96c65616465725f6964a36d2d32a96d61737465725f6964a36d2d31a76d657373616765"
          "d9356e6f7420746865206c65616465723b20746865206c6561646572206973206174207463703a2f"
          "2f3132372e302e302e313a35303531"),

      // protocol/master_events.h
      golden<master_events::AgentAdded>(
          master_events::AgentAdded{agent_state(), true},
          "86a474797065b86d61737465722e6576656e742e6167656e745f6164646564a17601a466726f6da6"
          "676f6c64656ea373657107a4636f727203a4626f647982a56167656e7488a86167656e745f6964a3"
          "612d31a8686f73746e616d65a26831a6616374697665c2a5746f74616c82a77363616c61727382a4"
          "63707573cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd7918cd"
          "7919a47573656482a77363616c61727382a463707573cb3ff8000000000000a36d656dcd0100a672"
          "616e67657381a5706f7274739192cd7918cd7919a76f66666572656482a77363616c61727382a463"
          "707573cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd7918cd79"
          "19aa617474726962757465739182a46e616d65a47261636ba576616c7565a27231ad726567697374"
          "657265645f6174cb41d954fc40100000ac726572656769737465726564c3"),
      golden<master_events::AgentRemoved>(
          master_events::AgentRemoved{"a-1", "unreachable for longer than 60000 ms"},
          "86a474797065ba6d61737465722e6576656e742e6167656e745f72656d6f766564a17601a466726f"
          "6da6676f6c64656ea373657107a4636f727203a4626f647982a86167656e745f6964a3612d31a672"
          "6561736f6ed924756e726561636861626c6520666f72206c6f6e676572207468616e203630303030"
          "206d73"),
      golden<master_events::FrameworkAdded>(
          master_events::FrameworkAdded{framework_state(), true},
          "86a474797065bc6d61737465722e6576656e742e6672616d65776f726b5f6164646564a17601a466"
          "726f6da6676f6c64656ea373657107a4636f727203a4626f647982a96672616d65776f726b89ac66"
          "72616d65776f726b5f6964a3662d31a46e616d65a86d61726174686f6ea5726f6c657391a3776562"
          "a9636f6e6e6563746564c2b86661696c6f7665725f74696d656f75745f7365636f6e6473cd0258a4"
          "7573656482a77363616c61727382a463707573cb3ff8000000000000a36d656dcd0100a672616e67"
          "657381a5706f7274739192cd7918cd7919a76f66666572656482a77363616c61727382a463707573"
          "cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd7918cd7919ac61"
          "63746976655f7461736b7302ad726567697374657265645f6174cb41d954fc40200000ac72657375"
          "6273637269626564c3"),
      golden<master_events::FrameworkRemoved>(
          master_events::FrameworkRemoved{"f-1", "the framework tore itself down"},
          "86a474797065be6d61737465722e6576656e742e6672616d65776f726b5f72656d6f766564a17601"
          "a466726f6da6676f6c64656ea373657107a4636f727203a4626f647982ac6672616d65776f726b5f"
          "6964a3662d31a6726561736f6ebe746865206672616d65776f726b20746f726520697473656c6620"
          "646f776e"),
      golden<master_events::TaskAdded>(
          master_events::TaskAdded{task_state()},
          "86a474797065b76d61737465722e6576656e742e7461736b5f6164646564a17601a466726f6da667"
          "6f6c64656ea373657107a4636f727203a4626f647981a47461736b8ba77461736b5f6964a3742d31"
          "a46e616d65a3776562ac6672616d65776f726b5f6964a3662d31a86167656e745f6964a3612d31a5"
          "7374617465ac5441534b5f52554e4e494e47a97265736f757263657382a77363616c61727382a463"
          "707573cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd7918cd79"
          "19ab6c6173745f7374617475738aa77461736b5f6964a3742d31a86167656e745f6964a3612d31ac"
          "6672616d65776f726b5f6964a3662d31a57374617465ac5441534b5f52554e4e494e47a672656173"
          "6f6eb5524541534f4e5f5245434f4e43494c494154494f4ea6736f75726365ac534f555243455f41"
          "47454e54a76d657373616765a466696e65a475756964d92030303131323233333434353536363737"
          "38383939616162626363646465656666a9657869745f636f646503a974696d657374616d70cb41d9"
          "54fc40200000a773616e64626f78b82f772f73616e64626f7865732f662d312f742d312f632d31a9"
          "636f6e7461696e657283a474797065a6444f434b4552a5696d616765a762757379626f78a76e6574"
          "776f726ba46e6f6e65a5757361676584ab6370755f7365636f6e6473cb4029000000000000a96d65"
          "6d5f6279746573cd1000ae6d656d5f7065616b5f6279746573cd2000a974696d657374616d70ce65"
          "53f100ab6578656375746f725f6964a3652d31"),
      golden<master_events::TaskUpdated>(
          master_events::TaskUpdated{task_state()},
          "86a474797065b96d61737465722e6576656e742e7461736b5f75706461746564a17601a466726f6d"
          "a6676f6c64656ea373657107a4636f727203a4626f647981a47461736b8ba77461736b5f6964a374"
          "2d31a46e616d65a3776562ac6672616d65776f726b5f6964a3662d31a86167656e745f6964a3612d"
          "31a57374617465ac5441534b5f52554e4e494e47a97265736f757263657382a77363616c61727382"
          "a463707573cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd7918"
          "cd7919ab6c6173745f7374617475738aa77461736b5f6964a3742d31a86167656e745f6964a3612d"
          "31ac6672616d65776f726b5f6964a3662d31a57374617465ac5441534b5f52554e4e494e47a67265"
          "61736f6eb5524541534f4e5f5245434f4e43494c494154494f4ea6736f75726365ac534f55524345"
          "5f4147454e54a76d657373616765a466696e65a475756964d9203030313132323333343435353636"
          "373738383939616162626363646465656666a9657869745f636f646503a974696d657374616d70cb"
          "41d954fc40200000a773616e64626f78b82f772f73616e64626f7865732f662d312f742d312f632d"
          "31a9636f6e7461696e657283a474797065a6444f434b4552a5696d616765a762757379626f78a76e"
          "6574776f726ba46e6f6e65a5757361676584ab6370755f7365636f6e6473cb4029000000000000a9"
          "6d656d5f6279746573cd1000ae6d656d5f7065616b5f6279746573cd2000a974696d657374616d70"
          "ce6553f100ab6578656375746f725f6964a3652d31"),
      golden<master_events::TaskRemoved>(
          master_events::TaskRemoved{task_state()},
          "86a474797065b96d61737465722e6576656e742e7461736b5f72656d6f766564a17601a466726f6d"
          "a6676f6c64656ea373657107a4636f727203a4626f647981a47461736b8ba77461736b5f6964a374"
          "2d31a46e616d65a3776562ac6672616d65776f726b5f6964a3662d31a86167656e745f6964a3612d"
          "31a57374617465ac5441534b5f52554e4e494e47a97265736f757263657382a77363616c61727382"
          "a463707573cb3ff8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd7918"
          "cd7919ab6c6173745f7374617475738aa77461736b5f6964a3742d31a86167656e745f6964a3612d"
          "31ac6672616d65776f726b5f6964a3662d31a57374617465ac5441534b5f52554e4e494e47a67265"
          "61736f6eb5524541534f4e5f5245434f4e43494c494154494f4ea6736f75726365ac534f55524345"
          "5f4147454e54a76d657373616765a466696e65a475756964d9203030313132323333343435353636"
          "373738383939616162626363646465656666a9657869745f636f646503a974696d657374616d70cb"
          "41d954fc40200000a773616e64626f78b82f772f73616e64626f7865732f662d312f742d312f632d"
          "31a9636f6e7461696e657283a474797065a6444f434b4552a5696d616765a762757379626f78a76e"
          "6574776f726ba46e6f6e65a5757361676584ab6370755f7365636f6e6473cb4029000000000000a9"
          "6d656d5f6279746573cd1000ae6d656d5f7065616b5f6279746573cd2000a974696d657374616d70"
          "ce6553f100ab6578656375746f725f6964a3652d31"),
      golden<master_events::OfferMade>(
          master_events::OfferMade{offer()},
          "86a474797065b76d61737465722e6576656e742e6f666665725f6d616465a17601a466726f6da667"
          "6f6c64656ea373657107a4636f727203a4626f647981a56f6666657287a86f666665725f6964a36f"
          "2d31ac6672616d65776f726b5f6964a3662d31a86167656e745f6964a3612d31a8686f73746e616d"
          "65a26831a4726f6c65a3776562a97265736f757263657382a77363616c61727382a463707573cb3f"
          "f8000000000000a36d656dcd0100a672616e67657381a5706f7274739192cd7918cd7919aa617474"
          "726962757465739182a46e616d65a47261636ba576616c7565a27231"),
      golden<master_events::OfferRescinded>(
          master_events::OfferRescinded{"o-1", "f-1", "a-1", master_events::offer_end::kAccepted},

          "86a474797065bc6d61737465722e6576656e742e6f666665725f72657363696e646564a17601a466"
          "726f6da6676f6c64656ea373657107a4636f727203a4626f647984a86f666665725f6964a36f2d31"
          "ac6672616d65776f726b5f6964a3662d31a86167656e745f6964a3612d31a3776879a86163636570"
          "746564"),

      // protocol/store.h
      golden<store::Get>(
          store::Get{"master/agents/a-1"},
          "86a474797065a973746f72652e676574a17601a466726f6da6676f6c64656ea373657107a4636f72"
          "7203a4626f647981a36b6579b16d61737465722f6167656e74732f612d31"),
      golden<store::Put>(
          store::Put{"master/agents/a-1", "value", 7},
          "86a474797065a973746f72652e707574a17602a466726f6da6676f6c64656ea373657107a4636f72"
          "7203a4626f647983a36b6579b16d61737465722f6167656e74732f612d31a576616c7565a576616c"
          "7565a565706f636807"),
      golden<store::CompareAndSet>(
          store::CompareAndSet{"k", 4, "value", 7},
          "86a474797065a973746f72652e636173a17602a466726f6da6676f6c64656ea373657107a4636f72"
          "7203a4626f647984a36b6579a16bb065787065637465645f76657273696f6e04a576616c7565a576"
          "616c7565a565706f636807"),
      golden<store::Delete>(
          store::Delete{"k", 7},
          "86a474797065ac73746f72652e64656c657465a17602a466726f6da6676f6c64656ea373657107a4"
          "636f727203a4626f647982a36b6579a16ba565706f636807"),
      golden<store::Batch>(
          store::Batch{{store::BatchWrite{"k", "value", false}, store::BatchWrite{"old", "", true}},
                       7},
          "86a474797065ab73746f72652e6261746368a17601a466726f6da6676f6c64656ea373657107a463"
          "6f727203a4626f647982a67772697465739283a36b6579a16ba576616c7565a576616c7565a67265"
          "6d6f7665c283a36b6579a36f6c64a576616c7565a0a672656d6f7665c3a565706f636807"),
      golden<store::List>(
          store::List{"master/", "master/agents/a-1", 100},
          "86a474797065aa73746f72652e6c697374a17602a466726f6da6676f6c64656ea373657107a4636f"
          "727203a4626f647983a6707265666978a76d61737465722fab73746172745f6166746572b16d6173"
          "7465722f6167656e74732f612d31a56c696d697464"),
      golden<store::Result>(
          store::Result{false,
                        "version conflict",
                        true,
                        {store::Entry{"k", "value", 4}},
                        5,
                        "conflict",
                        7,
                        true},
          "86a474797065ac73746f72652e726573756c74a17603a466726f6da6676f6c64656ea373657107a4"
          "636f727203a4626f647988a26f6bc2a56572726f72b076657273696f6e20636f6e666c696374a863"
          "6f6e666c696374c3a7656e74726965739183a36b6579a16ba576616c7565a576616c7565a7766572"
          "73696f6e04a776657273696f6e05a4636f6465a8636f6e666c696374a565706f636807a46d6f7265"
          "c3"),
      golden<store::Changed>(
          store::Changed{"k", 5, true},
          "86a474797065ad73746f72652e6368616e676564a17601a466726f6da6676f6c64656ea373657107"
          "a4636f727203a4626f647983a36b6579a16ba776657273696f6e05a764656c65746564c3"),
      golden<store::GetLeader>(
          store::GetLeader{},
          "86a474797065aa6c65616465722e676574a17601a466726f6da6676f6c64656ea373657107a4636f"
          "727203a4626f647980"),
      golden<store::Campaign>(
          store::Campaign{"m-1", "tcp://127.0.0.1:5050"},
          "86a474797065af6c65616465722e63616d706169676ea17601a466726f6da6676f6c64656ea37365"
          "7107a4636f727203a4626f647982a96d61737465725f6964a36d2d31a8656e64706f696e74b47463"
          "703a2f2f3132372e302e302e313a35303530"),
      golden<store::Resign>(
          store::Resign{"m-1"},
          "86a474797065ad6c65616465722e72657369676ea17601a466726f6da6676f6c64656ea373657107a4"
          "636f727203a4626f647981a96d61737465725f6964a36d2d31"),
      golden<store::Leader>(
          store::Leader{true, "m-1", "tcp://127.0.0.1:5050", true, 7},
          "86a474797065ab6c65616465722e696e666fa17602a466726f6da6676f6c64656ea373657107a463"
          "6f727203a4626f647985a56b6e6f776ec3a96d61737465725f6964a36d2d31a8656e64706f696e74"
          "b47463703a2f2f3132372e302e302e313a35303530a9746869735f6e6f6465c3a565706f636807"),
  };
}

}  // namespace
