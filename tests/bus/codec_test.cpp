// The envelope codec: round trips, schema evolution in both directions, and malformed input.
#include <gtest/gtest.h>

#include <random>

#include "tessera/message.h"

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

}  // namespace
