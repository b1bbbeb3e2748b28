// The envelope codec: round trips, schema evolution in both directions, and malformed input.
#include <gtest/gtest.h>

#include <random>

#include "tessera/message.h"
#include "tessera/msgpack_map.h"

namespace {

// Three generations of one message type, as three builds of a plugin would define it.
struct TaskV1 {
  static constexpr const char* kType = "test.task";
  static constexpr uint32_t kSchema = 1;
  std::string id;
  double cpus = 0;
  MSGPACK_DEFINE_MAP(id, cpus);
};

struct TaskV2 {
  static constexpr const char* kType = "test.task";
  static constexpr uint32_t kSchema = 2;
  std::string id;
  double cpus = 0;
  uint64_t mem_mb = 128;  // added in v2; v1 writers do not send it
  std::vector<std::string> labels;
  MSGPACK_DEFINE_MAP(id, cpus, mem_mb, labels);
};

struct WrongTypes {
  static constexpr const char* kType = "test.task";
  static constexpr uint32_t kSchema = 1;
  std::string cpus = "lots";  // a string where readers expect a number
  MSGPACK_DEFINE_MAP(cpus);
};

tessera::Envelope decode(const std::string& bytes) {
  auto decoded = tessera::Envelope::decode(bytes.data(), bytes.size());
  EXPECT_TRUE(decoded.ok()) << decoded.error().message;
  return std::move(*decoded);
}

TEST(Codec, RoundTripKeepsHeaderAndBody) {
  tessera::Header header;
  header.sender = "master";
  header.sequence = 42;
  header.correlation = 7;
  std::string bytes = tessera::encode(header, TaskV2{"t-1", 0.5, 256, {"web", "prod"}});
  tessera::Envelope message = decode(bytes);
  EXPECT_EQ(message.type(), "test.task");
  EXPECT_EQ(message.header().schema, 2u);
  EXPECT_EQ(message.header().sender, "master");
  EXPECT_EQ(message.header().sequence, 42u);
  EXPECT_EQ(message.header().correlation, 7u);
  EXPECT_TRUE(message.is<TaskV2>());
  auto task = message.body<TaskV2>();
  ASSERT_TRUE(task.ok()) << task.error().message;
  EXPECT_EQ(task->id, "t-1");
  EXPECT_DOUBLE_EQ(task->cpus, 0.5);
  EXPECT_EQ(task->mem_mb, 256u);
  EXPECT_EQ(task->labels, (std::vector<std::string>{"web", "prod"}));
}

// A body packed once and sent under many headers (the agent emulator's registrations) makes
// the same frame as packing it with each header.
TEST(Codec, APackedBodyEncodesAsTheBodyItself) {
  TaskV2 body{"t-1", 0.5, 256, {"web", "prod"}};
  msgpack::sbuffer packed;
  msgpack::pack(packed, body);
  tessera::Header header;
  header.sender = "agent";
  for (uint64_t sequence : {1u, 2u, 1000000u}) {
    header.sequence = sequence;
    msgpack::sbuffer direct, from_packed;
    tessera::encode(direct, header, body);
    tessera::encode(from_packed, header,
                    tessera::PackedBody<TaskV2>{std::string_view(packed.data(), packed.size())});
    ASSERT_EQ(std::string(from_packed.data(), from_packed.size()),
              std::string(direct.data(), direct.size()));
    tessera::Envelope message = decode(std::string(from_packed.data(), from_packed.size()));
    EXPECT_TRUE(message.is<TaskV2>());
    EXPECT_EQ(message.header().schema, 2u);
    EXPECT_EQ(message.header().sequence, sequence);
    auto task = message.body<TaskV2>();
    ASSERT_TRUE(task.ok()) << task.error().message;
    EXPECT_EQ(task->labels, body.labels);
  }
}

TEST(Codec, OlderWriterMissingFieldGetsDefault) {
  std::string bytes = tessera::encode({}, TaskV1{"t-2", 2.0});
  tessera::Envelope message = decode(bytes);
  EXPECT_EQ(message.header().schema, 1u);
  auto task = message.body<TaskV2>();
  ASSERT_TRUE(task.ok()) << task.error().message;
  EXPECT_EQ(task->id, "t-2");
  EXPECT_DOUBLE_EQ(task->cpus, 2.0);
  EXPECT_EQ(task->mem_mb, 128u);  // the reader's default
  EXPECT_TRUE(task->labels.empty());
}

TEST(Codec, NewerWriterUnknownFieldIsIgnored) {
  std::string bytes = tessera::encode({}, TaskV2{"t-3", 1.5, 512, {"batch"}});
  auto task = decode(bytes).body<TaskV1>();
  ASSERT_TRUE(task.ok()) << task.error().message;
  EXPECT_EQ(task->id, "t-3");
  EXPECT_DOUBLE_EQ(task->cpus, 1.5);
}

TEST(Codec, UnknownEnvelopeKeysAreIgnored) {
  // A future envelope with an extra header field ("trace") must still decode.
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_map(3);
  packer.pack(std::string("type"));
  packer.pack(std::string("test.task"));
  packer.pack(std::string("trace"));
  packer.pack(std::string("abc123"));
  packer.pack(std::string("body"));
  packer.pack(TaskV1{"t-4", 3});
  auto message = tessera::Envelope::decode(buffer.data(), buffer.size());
  ASSERT_TRUE(message.ok()) << message.error().message;
  EXPECT_EQ(message->body<TaskV1>()->id, "t-4");
  EXPECT_EQ(message->header().schema, 1u);
}

TEST(Codec, FieldOfWrongTypeIsAnErrorNamingTheMessage) {
  std::string bytes = tessera::encode({}, WrongTypes{});
  auto task = decode(bytes).body<TaskV1>();
  ASSERT_FALSE(task.ok());
  EXPECT_NE(task.error().message.find("message 'test.task' schema 1: body does not match"),
            std::string::npos)
      << task.error().message;
}

TEST(Codec, GarbageIsAnErrorNeverACrash) {
  auto expect_error = [](const std::string& bytes, const std::string& expected) {
    auto decoded = tessera::Envelope::decode(bytes.data(), bytes.size());
    ASSERT_FALSE(decoded.ok());
    EXPECT_NE(decoded.error().message.find(expected), std::string::npos) << decoded.error().message;
  };
  expect_error("", "not a msgpack message");
  expect_error("\xc1", "not a msgpack message");  // a reserved byte
  expect_error(std::string("\x93\x01\x02\x03", 4), "not a msgpack map");
  expect_error(std::string("\x81\xa4type\x05", 7), "wrong type");  // type is an integer
  expect_error(std::string("\x81\xa1v\x01", 4), "message has no type");
  const char no_map_body[] = "\x82\xa4type\xa1x\xa4\x62ody\x01";
  expect_error(std::string(no_map_body, sizeof no_map_body - 1), "body is not a map");

  // Random bytes, seeded: every one decodes to an error or a valid envelope, never a crash.
  std::mt19937 random(20261121);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes(random() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(random());
    auto decoded = tessera::Envelope::decode(bytes.data(), bytes.size());
    if (decoded.ok()) (void)decoded->body<TaskV2>();
  }
  // Valid messages cut short at every length.
  std::string valid = tessera::encode({}, TaskV2{"t-5", 1, 2, {"a"}});
  for (size_t n = 0; n < valid.size(); ++n) {
    auto decoded = tessera::Envelope::decode(valid.data(), n);
    EXPECT_FALSE(decoded.ok()) << "truncated to " << n;
  }
}

// TESSERA_MSGPACK_MAP reads what MSGPACK_DEFINE_MAP reads, the same way, without its std::map
// of keys: the same struct under both macros, fed the same maps (msgpack-c's is the reference).
struct Inner {
  std::string name = "unset";
  std::vector<int> values;
  MSGPACK_DEFINE_MAP(name, values);
};
struct ReferenceRead {
  std::string id = "unset";
  double cpus = -1;
  Inner inner;
  std::map<std::string, std::string> labels;
  MSGPACK_DEFINE_MAP(id, cpus, inner, labels);
};
struct FastInner {
  std::string name = "unset";
  std::vector<int> values;
  TESSERA_MSGPACK_MAP(name, values);
};
struct FastRead {
  std::string id = "unset";
  double cpus = -1;
  FastInner inner;
  std::map<std::string, std::string> labels;
  TESSERA_MSGPACK_MAP(id, cpus, inner, labels);
};

// Packs a map of the given entries: each a key (a string, or an integer when it starts with
// '#') and a value packed by `pack_value`.
template <typename... Entries>
std::string pack_map(const Entries&... entries) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_map(sizeof...(Entries));
  auto one = [&](const auto& entry) {
    if (entry.first.rfind('#', 0) == 0) {
      packer.pack(std::stoi(entry.first.substr(1)));
    } else {
      packer.pack(entry.first);
    }
    packer.pack(entry.second);
  };
  (one(entries), ...);
  return std::string(buffer.data(), buffer.size());
}

// What each reader makes of `bytes`: its fields printed, or "type_error".
template <typename T>
std::string read_as(const std::string& bytes) {
  msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
  try {
    T t = handle.get().as<T>();
    std::string labels;
    for (const auto& [k, v] : t.labels) labels += k + "=" + v + ",";
    std::string values;
    for (int v : t.inner.values) values += std::to_string(v) + ",";
    return t.id + "|" + std::to_string(t.cpus) + "|" + t.inner.name + "|" + values + "|" + labels;
  } catch (const msgpack::type_error&) {
    return "type_error";
  }
}

TEST(Codec, TheFastMapReaderReadsWhatMsgpackDefineMapReads) {
  using Field = std::pair<std::string, std::string>;
  using Number = std::pair<std::string, double>;
  std::vector<std::string> inputs = {
      // Every field, in order and out of order.
      pack_map(Field{"id", "t1"}, Number{"cpus", 0.5}, Field{"name", "x"}),
      pack_map(Number{"cpus", 2}, Field{"id", "t2"}),
      // Missing fields keep their defaults; unknown keys are ignored.
      pack_map(Field{"id", "t3"}),
      pack_map(Field{"unknown", "u"}, Number{"cpuz", 9}, Field{"id", "t4"}),
      std::string("\x80", 1),  // {}
      // A key given twice: the first is taken.
      pack_map(Field{"id", "first"}, Field{"id", "second"}, Number{"cpus", 1}, Number{"cpus", 3}),
      // A key that is a prefix or an extension of a field's name is not that field.
      pack_map(Field{"i", "no"}, Field{"idx", "no"}, Number{"cpu", 7}),
      // A key that is not a string, a value of the wrong type, and not a map at all.
      pack_map(Field{"#7", "seven"}),
      pack_map(Field{"cpus", "lots"}),
      std::string("\x93\x01\x02\x03", 4),
      std::string("\xa3"
                  "abc",
                  4),
  };
  // Nested maps and containers.
  {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> packer(buffer);
    packer.pack_map(4);
    packer.pack(std::string("labels"));
    packer.pack(std::map<std::string, std::string>{{"a", "1"}, {"b", "2"}});
    packer.pack(std::string("inner"));
    packer.pack_map(3);
    packer.pack(std::string("values"));
    packer.pack(std::vector<int>{1, 2, 3});
    packer.pack(std::string("name"));
    packer.pack(std::string("nested"));
    packer.pack(std::string("extra"));
    packer.pack(true);
    packer.pack(std::string("id"));
    packer.pack(std::string("t5"));
    packer.pack(std::string("cpus"));
    packer.pack(0.25);
    inputs.emplace_back(buffer.data(), buffer.size());
  }
  for (const std::string& bytes : inputs) {
    std::string reference = read_as<ReferenceRead>(bytes);
    EXPECT_EQ(read_as<FastRead>(bytes), reference);
  }
  EXPECT_EQ(read_as<FastRead>(inputs[0]), "t1|0.500000|unset||");
  EXPECT_EQ(read_as<FastRead>(inputs[5]), "first|1.000000|unset||");
  EXPECT_EQ(read_as<FastRead>(inputs[7]), "type_error");
  EXPECT_EQ(read_as<FastRead>(inputs.back()), "t5|0.250000|nested|1,2,3,|a=1,b=2,");
  // What one writes, the other reads.
  FastRead written;
  written.id = "both";
  written.cpus = 4;
  written.inner.name = "n";
  written.inner.values = {9};
  written.labels = {{"k", "v"}};
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, written);
  std::string bytes(buffer.data(), buffer.size());
  EXPECT_EQ(read_as<ReferenceRead>(bytes), "both|4.000000|n|9,|k=v,");
  EXPECT_EQ(read_as<FastRead>(bytes), read_as<ReferenceRead>(bytes));
}

}  // namespace
