// What one received message may cost: Envelope::decode refuses frames beyond MessageLimits
// before unpacking them, and the channels apply the limits over inproc (checked before
// decoding) and tcp (ZMQ_MAXMSGSIZE: ZeroMQ disconnects the peer), and keep serving the others.
// Wire-supplied text in the channels' log lines is escaped.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/garbage.h"
#include "support/hostile_peer.h"
#include "tessera/sdk/channels.h"

namespace {

using namespace std::chrono_literals;
using tessera::Envelope;
using tessera::ErrorCode;
using tessera::MessageLimits;
using tessera::sdk::Bus;
using tessera::sdk::EventLoop;

struct Echo {
  static constexpr const char* kType = "test.echo";
  static constexpr uint32_t kSchema = 1;
  std::string text;
  MSGPACK_DEFINE_MAP(text);
};

// A message whose type has a newline in it, as a peer forging log lines would send it.
struct Forged {
  static constexpr const char* kType = "test.forged\n[0000-00-00 00:00:00] [master] [info] ok";
  static constexpr uint32_t kSchema = 1;
  std::string text;
  MSGPACK_DEFINE_MAP(text);
};

// An envelope of type "test.echo" whose body is {"text": VALUE}, VALUE given as msgpack bytes.
std::string envelope_around(const std::string& value) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_map(2);
  packer.pack(std::string("type"));
  packer.pack(std::string("test.echo"));
  packer.pack(std::string("body"));
  packer.pack_map(1);
  packer.pack(std::string("text"));
  return std::string(buffer.data(), buffer.size()) + value;
}

// `levels` arrays nested in one another, the innermost empty.
std::string nested_arrays(int levels) {
  return std::string(static_cast<size_t>(levels) - 1, '\x91') + '\x90';
}

tessera::Error refused(const std::string& frame, const MessageLimits& limits = {}) {
  auto decoded = Envelope::decode(frame.data(), frame.size(), limits);
  EXPECT_FALSE(decoded.ok()) << "decoded a frame of " << frame.size() << " bytes";
  if (decoded.ok()) return tessera::Error{};
  return decoded.error();
}

TEST(MessageLimitsTest, AFrameLargerThanMaxBytesIsRefusedUnread) {
  MessageLimits limits;
  limits.max_bytes = 1000;
  std::string fits = tessera::encode({}, Echo{std::string(900, 'a')});
  ASSERT_LE(fits.size(), 1000u);
  EXPECT_TRUE(Envelope::decode(fits.data(), fits.size(), limits).ok());
  limits.max_bytes = fits.size();
  EXPECT_TRUE(Envelope::decode(fits.data(), fits.size(), limits).ok()) << "the limit is inclusive";

  limits.max_bytes = fits.size() - 1;
  auto error = refused(fits, limits);
  EXPECT_EQ(error.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(error.message, "message of " + std::to_string(fits.size()) +
                               " bytes is larger than the limit of " +
                               std::to_string(fits.size() - 1));
}

TEST(MessageLimitsTest, AFrameOfNilsDeclaringTooManyValuesIsRefusedBeforeUnpacking) {
  MessageLimits limits;
  limits.max_values = 1000;
  EXPECT_TRUE(Envelope::decode(envelope_around(tessera::testing::nil_array(900)).data(),
                               envelope_around(tessera::testing::nil_array(900)).size(), limits)
                  .ok());
  auto error = refused(envelope_around(tessera::testing::nil_array(1000)), limits);
  EXPECT_EQ(error.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(error.message, "message declares more than 1000 values, the limit");

  // Maps count twice: a key and a value.
  std::string map(1, '\xde');
  map += std::string("\x01\xf4", 2);  // map16 of 500 entries
  for (int i = 0; i < 500; ++i) map += std::string("\xc0\xc0", 2);
  EXPECT_EQ(refused(envelope_around(map), limits).message,
            "message declares more than 1000 values, the limit");

  // With the default limits, a 16 MiB frame of nils (16.7 million values) is refused too.
  auto big = envelope_around(tessera::testing::nil_array(16 << 20));
  EXPECT_EQ(refused(big).message, "message of " + std::to_string(big.size()) +
                                      " bytes is larger than the limit of 16777216");
  auto under = envelope_around(tessera::testing::nil_array((16 << 20) - 100));
  EXPECT_EQ(refused(under).message, "message declares more than 1048576 values, the limit");
}

TEST(MessageLimitsTest, AHeaderDeclaringMoreValuesThanTheFrameHasBytesIsRefused) {
  // Five bytes that ask for an array of 500,000 values: msgpack would allocate room for all of
  // them (12 MB) before finding that they are missing.
  std::string frame = envelope_around(tessera::testing::nil_array(500000).substr(0, 5));
  auto error = refused(frame);
  EXPECT_EQ(error.message,
            "message declares 500006 values in " + std::to_string(frame.size()) + " bytes");
}

TEST(MessageLimitsTest, NestingDeeperThanMaxDepthIsRefused) {
  // The envelope and the body are two levels; 30 more make 32, the default limit.
  EXPECT_TRUE(Envelope::decode(envelope_around(nested_arrays(30)).data(),
                               envelope_around(nested_arrays(30)).size())
                  .ok());
  auto error = refused(envelope_around(nested_arrays(31)));
  EXPECT_EQ(error.message, "message nests arrays and maps deeper than the limit of 32");
  // Far deeper than any stack would like: refused as quickly.
  EXPECT_EQ(refused(envelope_around(nested_arrays(100000))).message,
            "message nests arrays and maps deeper than the limit of 32");
}

TEST(MessageLimitsTest, TruncatedAndTrailingBytesBehaveAsBefore) {
  std::string good = tessera::encode({}, Echo{"hello"});
  EXPECT_EQ(refused(good.substr(0, good.size() - 2)).message, "not a msgpack message");
  // Bytes after the envelope are ignored, as they always were.
  std::string trailing = good + "junk";
  EXPECT_TRUE(Envelope::decode(trailing.data(), trailing.size()).ok());
}

// --- Channels -----------------------------------------------------------------------------

// A log sink that keeps every line.
struct CapturedLog {
  std::vector<std::string> lines;
  static void sink(void* context, int /*level*/, const char* text, size_t size) {
    static_cast<CapturedLog*>(context)->lines.emplace_back(text, size);
  }
  tessera::sdk::Logger logger() { return tessera::sdk::Logger(this, &sink, TESSERA_LOG_TRACE); }
  bool has(const std::string& text) const {
    for (const auto& line : lines) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }
};

class ChannelLimitsTest : public ::testing::Test {
 protected:
  ChannelLimitsTest() : context_(zmq_ctx_new()) {
    bus_ = Bus{context_, &loop_, log_.logger(), "test"};
  }
  ~ChannelLimitsTest() override {
    server_.reset();
    clients_.clear();
    zmq_ctx_term(context_);
  }

  // An echo server with `max_bytes`, bound to `endpoint`.
  std::string start_server(const std::string& endpoint, size_t max_bytes) {
    server_ = std::make_unique<tessera::sdk::Server>(bus_, "echo");
    MessageLimits limits;
    limits.max_bytes = max_bytes;
    server_->set_limits(limits);
    server_->on<Echo>([this](const tessera::sdk::Request& r, const Echo& e) {
      ++served_;
      server_->reply(r, Echo{"re: " + e.text.substr(0, 20)});
    });
    auto bound = server_->bind(endpoint);
    EXPECT_TRUE(bound.ok()) << bound.error().message;
    return bound.ok() ? *bound : "";
  }

  tessera::sdk::Client& client(const std::string& endpoint) {
    clients_.push_back(std::make_unique<tessera::sdk::Client>(bus_, "client"));
    EXPECT_TRUE(clients_.back()->connect(endpoint).ok());
    return *clients_.back();
  }

  // Sends `text` from `from` and runs the loop until the reply (its text) or an error.
  std::string ask(tessera::sdk::Client& from, const std::string& text) {
    std::string answer = "(no answer)";
    from.request(
        Echo{text},
        [&](tessera::Result<Envelope> reply) {
          answer = reply ? reply->body<Echo>()->text : "error: " + reply.error().message;
          loop_.request_stop();
        },
        20s);
    loop_.run();
    loop_.reset_stop();
    return answer;
  }

  void* context_;
  CapturedLog log_;
  EventLoop loop_;
  Bus bus_;
  std::unique_ptr<tessera::sdk::Server> server_;
  std::vector<std::unique_ptr<tessera::sdk::Client>> clients_;
  int served_ = 0;
};

TEST_F(ChannelLimitsTest, InprocFrameOverTheLimitIsDroppedBeforeDecodingAndServingGoesOn) {
  start_server("inproc://limited", 1000);
  auto& sender = client("inproc://limited");
  auto& other = client("inproc://limited");
  // ZeroMQ applies no size limit to inproc: the server's own check drops it, and says why.
  sender.send(Echo{std::string(5000, 'x')});
  EXPECT_EQ(ask(sender, "small"), "re: small");
  EXPECT_EQ(server_->dropped(), 1u);
  EXPECT_EQ(served_, 1);
  EXPECT_TRUE(log_.has("dropped a malformed message from peer (anonymous): message of "))
      << log_.lines.size();
  EXPECT_TRUE(log_.has("bytes is larger than the limit of 1000"));
  EXPECT_EQ(ask(other, "other"), "re: other");
}

TEST_F(ChannelLimitsTest, TcpPeerSendingAFrameOverTheLimitIsDisconnectedAndOthersAreServed) {
  std::string endpoint = start_server("tcp://127.0.0.1:0", 4096);
  auto& before = client(endpoint);
  EXPECT_EQ(ask(before, "before"), "re: before");

  tessera::testing::HostilePeer hostile(tessera::testing::port_of(endpoint));
  ASSERT_TRUE(hostile.connected());
  // 64 MB announced; ZeroMQ hangs up after reading the frame's size, so most of it is never
  // even sent (the send fails once the connection is gone).
  // (ZeroMQ's I/O thread does this by itself: the server's loop need not run.)
  (void)hostile.send_frame(std::string(64 << 20, '\xc0'));
  EXPECT_TRUE(hostile.closed_within(20s))
      << "ZeroMQ kept the connection of a peer sending a 64 MB frame";
  EXPECT_EQ(served_, 1);
  EXPECT_EQ(server_->dropped(), 0u) << "the frame reached the application";

  // The connected client and a new one are served; a frame within the limit goes through.
  EXPECT_EQ(ask(before, std::string(3000, 'y')), "re: " + std::string(20, 'y'));
  EXPECT_EQ(ask(client(endpoint), "after"), "re: after");
}

TEST_F(ChannelLimitsTest, AReplyOverTheClientsLimitIsDroppedAndTheClientGoesOn) {
  start_server("inproc://big-replies", 1 << 20);
  server_->on<Echo>([this](const tessera::sdk::Request& r, const Echo& e) {
    server_->reply(r, Echo{e.text == "big" ? std::string(10000, 'z') : "re: " + e.text});
  });
  auto& small = client("inproc://big-replies");
  MessageLimits limits;
  limits.max_bytes = 2000;
  small.set_limits(limits);
  std::string big_answer = "(no answer)";
  small.request(
      Echo{"big"}, [&](tessera::Result<Envelope> reply) { big_answer = reply ? "reply" : "error"; },
      20s);
  EXPECT_EQ(ask(small, "next"), "re: next");
  EXPECT_EQ(big_answer, "(no answer)");
  EXPECT_EQ(small.dropped(), 1u);
  EXPECT_TRUE(log_.has("client 'client': dropped a malformed message: message of "));
}

TEST_F(ChannelLimitsTest, AMessageTypeWithANewlineIsLoggedEscapedOnOneLine) {
  start_server("inproc://logged", 1 << 20);
  auto& sender = client("inproc://logged");
  sender.send(Forged{"hi"});
  EXPECT_EQ(ask(sender, "then"), "re: then");
  ASSERT_EQ(server_->dropped(), 1u);
  bool found = false;
  for (const auto& line : log_.lines) {
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    if (line.find("no handler for message type 'test.forged\\n[0000-00-00 00:00:00] [master]") !=
        std::string::npos) {
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
