// The master actor (master.cpp) in the test's process, wired to a scripted leader plugin
// (fake_leader.h) and a fake allocator that records what it is told, with a ManualClock: the
// registry read before serving, timeouts with no sleeping, and a master deposed while it serves.
// (Fencing of a deposed master's writes is in master_units_test.)
#include <gtest/gtest.h>
#include <sodium.h>

#include <limits>
#include <mutex>
#include <thread>

#include "fake_leader.h"
#include "master/master.h"
#include "master/registry.h"
#include "support/loop.h"
#include "tessera/protocol/master.h"

namespace {

using namespace std::chrono_literals;
using tessera::Envelope;
using tessera::Result;
using tessera::host::master::AgentSet;
using tessera::host::master::FrameworkRecord;
using tessera::host::master::Master;
using tessera::host::master::Registry;
using tessera::host::master::RoleSettings;
using tessera::testing::FakeLeader;
namespace protocol = tessera::protocol;
namespace alloc = protocol::allocator;
namespace scheduler = protocol::scheduler;
namespace sdk = tessera::sdk;

// An allocator that records the type of everything the master sends it and takes every role
// setting.
class FakeAllocator {
 public:
  explicit FakeAllocator(sdk::Bus& bus) : server_(bus, "fake_allocator") {
    auto note = [this](const sdk::Request& r, const std::string& what) {
      peer = r.peer;
      told.push_back(what);
    };
    server_.on<alloc::FrameworkAdded>(
        [note](const sdk::Request& r, const alloc::FrameworkAdded& m) {
          note(r, "framework_added " + m.framework_id);
        });
    server_.on<alloc::FrameworkActivation>(
        [note](const sdk::Request& r, const alloc::FrameworkActivation& m) {
          note(r, std::string(m.active ? "activated " : "deactivated ") + m.framework_id);
        });
    server_.on<alloc::FrameworkRemoved>(
        [note](const sdk::Request& r, const alloc::FrameworkRemoved& m) {
          note(r, "framework_removed " + m.framework_id);
        });
    server_.on<alloc::AgentAdded>([note](const sdk::Request& r, const alloc::AgentAdded& m) {
      std::string allocated;
      for (const auto& a : m.allocated) {
        allocated += " " + a.framework_id + ":" + a.resources.to_string();
      }
      note(r, "agent_added" + allocated);
    });
    server_.on<alloc::Recover>([note](const sdk::Request& r, const alloc::Recover& m) {
      note(r, "recover " + m.framework_id + " " + m.resources.to_string());
    });
    server_.on<alloc::SetWeight>([this, note](const sdk::Request& r, const alloc::SetWeight& m) {
      note(r, "weight " + m.role + " " + std::to_string(static_cast<int>(m.weight)));
      server_.reply(r, alloc::RoleResult{true, ""});
    });
    if (auto s = server_.bind(alloc::kEndpoint); !s) throw std::runtime_error(s.error().message);
  }
  bool was_told(const std::string& what) const {
    return std::find(told.begin(), told.end(), what) != told.end();
  }
  // An allocation cycle's grant, sent to the master as the allocator would.
  void grant(const std::string& framework_id, const std::string& agent_id,
             const protocol::Resources& resources) {
    alloc::Allocated allocated;
    allocated.grants.push_back(alloc::Grant{framework_id, agent_id, "*", resources});
    server_.send(peer, allocated);
  }

  std::vector<std::string> told;
  std::string peer;

 private:
  sdk::Server server_;
};

// What the master logged, through the host's C logging sink.
void log_to(void* context, int, const char* message, size_t length) {
  static_cast<std::vector<std::string>*>(context)->emplace_back(message, length);
}

class MasterActorTest : public ::testing::Test {
 protected:
  MasterActorTest() {
    zmq_ = zmq_ctx_new();
    services_.struct_size = sizeof services_;
    services_.zmq_context = zmq_;
    services_.log_context = &logged_;
    services_.log = &log_to;
    services_.log_level = 0;
    services_.node_name = "test";
    services_.node_roles = "master";
    services_.plugin_name = "master";
    services_.config_path = "node.toml";
    services_.config_text = "";
    services_.config_table = "master";
    services_.work_dir = "/nonexistent";
    services_.plugin_work_dir = "/nonexistent";
    services_.host_version = "0.0.0";
    services_.plugin_file = "";
    context_ = std::make_unique<sdk::PluginContext>(services_);
    context_->use_clock(clock_);
    // The fakes live on the master's loop: one thread, as the test drives it.
    bus_ = sdk::Bus{zmq_, &context_->loop(), {}, "test"};
    leader_ = std::make_unique<FakeLeader>(bus_, protocol::store::kEndpoint,
                                           protocol::store::kEventsEndpoint);
    allocator_ = std::make_unique<FakeAllocator>(bus_);
  }
  ~MasterActorTest() override {
    client_.reset();
    master_.reset();
    allocator_.reset();
    leader_.reset();
    context_.reset();
    zmq_ctx_term(zmq_);
  }

  // Creates and starts the master on inproc://test.master; `extra` is more of [master].
  void start_master(const std::string& extra = "") {
    auto doc = sdk::ConfigDocument::parse(
        "node.toml",
        "[master]\nendpoint = \"inproc://test.master\"\nheartbeat_interval_ms = 1000\n" + extra);
    ASSERT_TRUE(doc.ok());
    auto table = (*doc)->at("master");
    master_ = std::make_unique<Master>(*context_);
    ASSERT_TRUE(master_->configure(table).ok());
    ASSERT_TRUE(master_->start().ok());
    client_ = std::make_unique<sdk::Client>(bus_, "framework");
    ASSERT_TRUE(client_->connect("inproc://test.master").ok());
  }
  // What an earlier leader recorded of an agent: its record with the BLAKE2b hash (hex) of
  // `secret`.
  void preset_agent(const std::string& agent_id, const std::string& secret) {
    unsigned char digest[crypto_generichash_BYTES];
    crypto_generichash(digest, sizeof digest, reinterpret_cast<const unsigned char*>(secret.data()),
                       secret.size(), nullptr, 0);
    char hex[2 * crypto_generichash_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    AgentSet set = stored_set_of(agent_id);
    set.admitted[agent_id] = hex;
    leader_->preset(set_key_of(agent_id), set);
  }
  // The key of the registry's set that `agent_id` belongs to, and that set as stored.
  static std::string set_key_of(const std::string& agent_id) {
    return "master/" + Registry::agent_set_key(Registry::agent_set_of(agent_id));
  }
  AgentSet stored_set_of(const std::string& agent_id) {
    auto it = leader_->entries.find(set_key_of(agent_id));
    if (it == leader_->entries.end()) return {};
    return msgpack::unpack(it->second.value.data(), it->second.value.size()).get().as<AgentSet>();
  }
  // An agent's re-registration proving `secret`.
  static protocol::agent::Register reregistration(const std::string& agent_id,
                                                  const std::string& secret) {
    protocol::agent::Register message;
    message.agent_id = agent_id;
    message.secret = secret;
    message.hostname = "host-" + agent_id;
    message.resources.scalars = {{"cpus", 1}, {"mem", 64}};
    return message;
  }
  bool run_until(const std::function<bool()>& done) {
    return tessera::testing::run_until(context_->loop(), done, 10s);
  }
  bool logged(const std::string& text) const {
    return std::any_of(logged_.begin(), logged_.end(), [&](const std::string& line) {
      return line.find(text) != std::string::npos;
    });
  }
  Result<Envelope> call(const auto& body) {
    std::optional<Result<Envelope>> answer;
    client_->request(
        body, [&](Result<Envelope> reply) { answer = std::move(reply); }, 5s);
    run_until([&] { return answer.has_value(); });
    if (!answer) return tessera::make_error("no answer");
    return std::move(*answer);
  }

  // A framework (of id `framework_id`, or none) subscribes while the registry is still read (its
  // first listing refused), and its client closes its connection before the master serves.
  void subscribe_then_vanish(const std::string& framework_id) {
    leader_->fail_next = 1;
    start_master();
    ASSERT_TRUE(run_until([&] { return leader_->lists >= 1; }));
    auto gone = std::make_unique<sdk::Client>(bus_, "gone");
    ASSERT_TRUE(gone->connect("inproc://test.master").ok());
    protocol::scheduler::Subscribe subscribe;
    subscribe.framework_id = framework_id;
    subscribe.name = "impatient";
    subscribe.roles = {"*"};
    subscribe.failover_timeout_seconds = 60;
    gone->request(
        subscribe, [](const Result<Envelope>&) {}, 30s);
    ASSERT_TRUE(run_until([&] { return logged("'scheduler.subscribe' from 'test' kept"); }));
    gone.reset();
    // ZeroMQ closes a socket's connections asynchronously (its reaper thread tells the master's
    // socket that the pipe is gone); the master sees it at its next send, once that happened.
    std::this_thread::sleep_for(1s);
    clock_.advance(1s);
  }

  // Subscribes a framework named `name` (with `framework_id`, to re-subscribe) on `client`;
  // its id, or "" when the master did not answer scheduler.subscribed.
  std::string subscribe_on(sdk::Client& client, const std::string& name,
                           const std::string& framework_id = "") {
    protocol::scheduler::Subscribe subscribe;
    subscribe.framework_id = framework_id;
    subscribe.name = name;
    subscribe.roles = {"*"};
    subscribe.failover_timeout_seconds = 60;
    std::optional<Result<Envelope>> answer;
    client.request(
        subscribe, [&](Result<Envelope> r) { answer = std::move(r); }, 5s);
    run_until([&] { return answer.has_value(); });
    if (!answer || !answer->ok() || !(*answer)->is<protocol::scheduler::Subscribed>()) return "";
    return (*answer)->body<protocol::scheduler::Subscribed>()->framework_id;
  }

  void* zmq_;
  tessera_host_services services_{};
  std::vector<std::string> logged_;
  sdk::ManualClock clock_;
  std::unique_ptr<sdk::PluginContext> context_;
  sdk::Bus bus_;
  std::unique_ptr<FakeLeader> leader_;
  std::unique_ptr<FakeAllocator> allocator_;
  std::unique_ptr<Master> master_;
  std::unique_ptr<sdk::Client> client_;
};

TEST_F(MasterActorTest, ANewLeaderGivesItsAllocatorTheRegistryBeforeItServes) {
  RoleSettings web;
  web.weight = 3;
  leader_->preset("master/roles/web", web);
  FrameworkRecord record;
  record.framework_id = "f1";
  record.roles = {"web"};
  record.failover_timeout_seconds = 60;
  leader_->preset("master/frameworks/f1", record);
  start_master();
  ASSERT_TRUE(run_until([&] { return logged("; serving"); }));
  // Serving: a new framework's subscription reaches the allocator after what the registry
  // held (the master's messages to it keep their order).
  scheduler::Subscribe subscribe;
  subscribe.name = "new";
  subscribe.roles = {"*"};
  auto reply = call(subscribe);
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  ASSERT_TRUE(reply->is<scheduler::Subscribed>()) << reply->type();
  std::string added = "framework_added " + reply->body<scheduler::Subscribed>()->framework_id;
  ASSERT_TRUE(run_until([&] { return allocator_->was_told(added); }));
  auto position = [&](const std::string& what) {
    return std::find(allocator_->told.begin(), allocator_->told.end(), what) -
           allocator_->told.begin();
  };
  EXPECT_LT(position("framework_added f1"), position(added));
  EXPECT_LT(position("weight web 3"), position(added));

  // The framework never comes back: its failover timeout, counted from the failover with four
  // heartbeat intervals and 5 s of grace, passes on the manual clock, with no sleeping.
  clock_.advance(60s + 4s + 5s - 1s);
  // The timers ran inside advance(); the master's own state says whether f1 is still there.
  auto before = call(protocol::operator_api::GetState{});
  ASSERT_TRUE(before.ok()) << before.error().message;
  auto state = before->body<protocol::operator_api::State>();
  ASSERT_TRUE(state.ok());
  auto f1 = std::find_if(state->frameworks.begin(), state->frameworks.end(),
                         [](const auto& f) { return f.framework_id == "f1"; });
  ASSERT_NE(f1, state->frameworks.end());
  EXPECT_FALSE(f1->connected);
  clock_.advance(2s);
  ASSERT_TRUE(run_until([&] { return allocator_->was_told("framework_removed f1"); }));
  ASSERT_TRUE(run_until([&] { return leader_->entries.count("master/frameworks/f1") == 0; }));
}

TEST_F(MasterActorTest, AFrameworkThatStopsHeartbeatingIsDisconnectedOnTheManualClock) {
  start_master();
  ASSERT_TRUE(run_until([&] { return logged("; serving"); }));
  scheduler::Subscribe subscribe;
  subscribe.name = "quiet";
  subscribe.roles = {"*"};
  subscribe.failover_timeout_seconds = 30;
  auto reply = call(subscribe);
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  ASSERT_TRUE(reply->is<scheduler::Subscribed>()) << reply->type();
  std::string id = reply->body<scheduler::Subscribed>()->framework_id;
  ASSERT_TRUE(run_until([&] { return leader_->entries.count("master/frameworks/" + id) == 1; }));
  // Three heartbeat intervals of silence: disconnected, not yet removed.
  clock_.advance(4s);
  ASSERT_TRUE(run_until([&] { return allocator_->was_told("deactivated " + id); }));
  EXPECT_FALSE(allocator_->was_told("framework_removed " + id));
  clock_.advance(31s);
  ASSERT_TRUE(run_until([&] { return allocator_->was_told("framework_removed " + id); }));
}

TEST_F(MasterActorTest, AMasterDeposedWhileServingStops) {
  start_master();
  ASSERT_TRUE(run_until([&] { return logged("; serving"); }));
  leader_->elect_elsewhere("other", "tcp://10.0.0.2:5050");
  // It stops its loop: run_until returns early, and the log says why.
  run_until([&] { return logged("lost leadership"); });
  EXPECT_TRUE(logged("lost leadership to tcp://10.0.0.2:5050; stopping")) << logged_.size();
  // Its loop stopped (the node exits). Run again by the test, it no longer serves: it names
  // the new leader.
  scheduler::Subscribe subscribe;
  subscribe.name = "late";
  auto reply = call(subscribe);
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  ASSERT_TRUE(reply->is<protocol::master::NotLeader>()) << reply->type();
  EXPECT_EQ(reply->body<protocol::master::NotLeader>()->leader, "tcp://10.0.0.2:5050");
  EXPECT_EQ(reply->body<protocol::master::NotLeader>()->leader_id, "other");
}

}  // namespace

namespace {

namespace agent_msg = tessera::protocol::agent;

// After a failover every agent re-registers at once: one that proves the secret the registry
// holds is admitted without a registry write (its record is there), so the new leader does not
// wait on thousands of store writes.
TEST_F(MasterActorTest, AnAgentProvingItsRecordedSecretToANewLeaderCostsNoRegistryWrite) {
  const std::string secret = "0123456789abcdef0123456789abcdef";
  preset_agent("a1", secret);
  start_master();
  ASSERT_TRUE(run_until([&] { return logged("; serving"); }));

  agent_msg::Register back = reregistration("a1", secret);
  auto admitted = call(back);
  ASSERT_TRUE(admitted.ok() && admitted->is<agent_msg::Registered>())
      << (admitted.ok() ? admitted->type() : admitted.error().message);
  EXPECT_EQ(admitted->body<agent_msg::Registered>()->agent_id, "a1");
  // Answered, and the record is still the one the earlier leader wrote.
  EXPECT_EQ(leader_->entries[set_key_of("a1")].version, 1u);
  // The hash still decides: without the secret the id is refused.
  back.secret = "not-the-secret";
  auto impostor = call(back);
  ASSERT_TRUE(impostor.ok());
  EXPECT_TRUE(impostor->is<agent_msg::Refused>()) << impostor->type();
}

// A new leader waits agent_removal_timeout_ms for the registry's agents to come back; those that
// do are no longer awaited, and only the others are removed as not come back.
TEST_F(MasterActorTest, OnlyTheRegistrysAgentsThatDoNotComeBackToANewLeaderAreRemoved) {
  preset_agent("back", "secret-of-back-0123456789abcdef");
  preset_agent("away", "secret-of-away-0123456789abcdef");
  // No pings go unanswered for long enough to matter: only the registry's agents are judged.
  start_master("agent_removal_timeout_ms = 20000\nagent_ping_timeout_ms = 3600000\n");
  ASSERT_TRUE(run_until([&] { return logged("; serving"); }));
  auto admitted = call(reregistration("back", "secret-of-back-0123456789abcdef"));
  ASSERT_TRUE(admitted.ok() && admitted->is<agent_msg::Registered>())
      << (admitted.ok() ? admitted->type() : admitted.error().message);

  clock_.advance(19s);
  EXPECT_FALSE(logged("removing agent")) << "removed before agent_removal_timeout_ms";
  clock_.advance(3s);
  ASSERT_TRUE(run_until([&] { return stored_set_of("away").removed.count("away") == 1; }));
  EXPECT_TRUE(logged("removing agent away, which has not registered with this master"));
  EXPECT_EQ(stored_set_of("away").admitted.count("away"), 0u);
  EXPECT_FALSE(logged("removing agent back"));
  EXPECT_EQ(stored_set_of("back").removed.count("back"), 0u);
  EXPECT_EQ(stored_set_of("back").admitted.count("back"), 1u);
  // Later checks remove nobody else: the agent that came back still serves.
  clock_.advance(60s);
  auto state = call(protocol::operator_api::GetState{});
  ASSERT_TRUE(state.ok()) << state.error().message;
  auto body = state->body<protocol::operator_api::State>();
  ASSERT_TRUE(body.ok());
  ASSERT_EQ(body->agents.size(), 1u);
  EXPECT_EQ(body->agents.front().agent_id, "back");
  EXPECT_TRUE(body->agents.front().active);
  EXPECT_EQ(std::count_if(logged_.begin(), logged_.end(),
                          [](const std::string& line) {
                            return line.find("removing agent") != std::string::npos;
                          }),
            1);
}

// While a new leader reads its registry, the registrations and subscriptions that come are kept
// and served once it serves, not answered master.not_leader: after a failover that answer would
// send every agent of the cluster into its retry backoff.
TEST_F(MasterActorTest, RequestsThatComeWhileTheRegistryIsReadAreServedOnceItIs) {
  // The first registry read fails: the master stays elected and reading until the manual clock
  // passes the registry's retry (1 s).
  leader_->fail_next = 1;
  start_master();
  ASSERT_TRUE(run_until([&] { return leader_->lists >= 1; }));
  sdk::Client agent_client(bus_, "agent");
  ASSERT_TRUE(agent_client.connect("inproc://test.master").ok());
  std::optional<Result<Envelope>> registered, subscribed;
  agent_msg::Register agent;
  agent.hostname = "h1";
  agent.resources.scalars = {{"cpus", 1}, {"mem", 64}};
  agent_client.request(
      agent, [&](Result<Envelope> r) { registered = std::move(r); }, 30s);
  scheduler::Subscribe subscribe;
  subscribe.name = "early";
  subscribe.roles = {"*"};
  client_->request(
      subscribe, [&](Result<Envelope> r) { subscribed = std::move(r); }, 30s);
  ASSERT_TRUE(run_until([&] {
    return logged("'agent.register' from 'test' kept") &&
           logged("'scheduler.subscribe' from 'test' kept");
  }));
  EXPECT_FALSE(registered.has_value()) << "answered while the registry was read";
  EXPECT_FALSE(subscribed.has_value()) << "answered while the registry was read";
  EXPECT_FALSE(logged("; serving"));

  clock_.advance(1s);
  ASSERT_TRUE(run_until([&] { return registered.has_value() && subscribed.has_value(); }));
  ASSERT_TRUE(registered->ok()) << registered->error().message;
  ASSERT_TRUE((*registered)->is<agent_msg::Registered>()) << (*registered)->type();
  ASSERT_TRUE(subscribed->ok()) << subscribed->error().message;
  ASSERT_TRUE((*subscribed)->is<scheduler::Subscribed>()) << (*subscribed)->type();
  EXPECT_TRUE(logged("; serving, first the 2 registration(s) and subscription(s)"));
  // Admitted as any registration is: its record is in the registry.
  std::string agent_id = (*registered)->body<agent_msg::Registered>()->agent_id;
  EXPECT_EQ(stored_set_of(agent_id).admitted.count(agent_id), 1u);
}

// A subscription kept while the registry was read, whose client closed its connection meanwhile
// (it gave up waiting), cannot be answered: the framework is not left bound to the dead
// connection (its offers would be lost until it subscribed again) but disconnected, with its
// failover timeout, until it subscribes again.
TEST_F(MasterActorTest, ASubscriptionWhoseConnectionClosedWhileItWasKeptLeavesItDisconnected) {
  subscribe_then_vanish("impatient-1");  // known to an earlier leader, say
  ASSERT_TRUE(run_until([&] {
    return logged("could not be told it subscribed (its connection is gone); it has 60 s");
  }));
  EXPECT_TRUE(allocator_->was_told("framework_added impatient-1"));
  EXPECT_TRUE(run_until([&] { return allocator_->was_told("deactivated impatient-1"); }));
}

// The same without a framework id: the answer was the only way its client could learn the id it
// was given, so the framework is forgotten, its stored record too.
TEST_F(MasterActorTest, ASubscriptionWithoutAnIdWhoseConnectionClosedIsForgotten) {
  subscribe_then_vanish("");
  // It subscribed without an id, so only that answer could have told it its id: nobody can use
  // the framework, and it is forgotten (its stored record too) rather than kept for 60 s.
  ASSERT_TRUE(run_until([&] {
    return logged("could not be told its id") && logged("(its connection is gone); forgotten");
  }));
  for (const std::string& told : allocator_->told) {
    EXPECT_NE(told.rfind("framework_added ", 0), 0u) << told;
  }
  EXPECT_TRUE(run_until([&] {
    return std::none_of(leader_->entries.begin(), leader_->entries.end(), [](const auto& entry) {
      return entry.first.rfind("master/frameworks/", 0) == 0;
    });
  }));
}

// A new framework is told it subscribed only once its record is stored: a master elected after
// this one dies must know it when agents re-register with its tasks (a task of a framework in
// no registry is killed as an orphan). A record that cannot be stored leaves the subscription
// unanswered and the framework unknown, and the client's next try succeeds.
TEST_F(MasterActorTest, ANewFrameworkIsAnsweredOnlyOnceItsRecordIsStored) {
  start_master();
  // Serving: the registry's reads are over, so the refusal below falls on the record.
  ASSERT_TRUE(run_until([&] { return logged("; serving"); }));
  leader_->fail_next = 1;  // the framework's record
  scheduler::Subscribe subscribe;
  subscribe.name = "unrecorded";
  subscribe.roles = {"*"};
  subscribe.failover_timeout_seconds = 60;
  std::optional<Result<Envelope>> answer;
  client_->request(
      subscribe, [&](Result<Envelope> r) { answer = std::move(r); }, 1s);
  ASSERT_TRUE(run_until([&] { return answer.has_value(); }));
  EXPECT_FALSE(answer->ok()) << "answered " << (*answer)->type();
  EXPECT_TRUE(logged("registry write of 'frameworks/"));
  for (const std::string& told : allocator_->told) {
    EXPECT_NE(told.rfind("framework_added ", 0), 0u) << told;
  }

  std::string id = subscribe_on(*client_, "recorded");
  ASSERT_FALSE(id.empty());
  auto stored = leader_->entries.find("master/frameworks/" + id);
  ASSERT_NE(stored, leader_->entries.end());
  auto record = msgpack::unpack(stored->second.value.data(), stored->second.value.size())
                    .get()
                    .as<FrameworkRecord>();
  EXPECT_EQ(record.name, "recorded");
  EXPECT_EQ(record.failover_timeout_seconds, 60);
  EXPECT_TRUE(allocator_->was_told("framework_added " + id));
}

// A framework whose connection is gone by the time its offers are sent (after a failover its
// client may give up on a connection the master still answers on): the offers' resources go
// back to the allocator at once and the framework is disconnected, with its failover timeout,
// rather than left bound to a peer nobody reads, holding what it was offered.
TEST_F(MasterActorTest, OffersThatCannotReachTheirFrameworkGoBackAndDisconnectIt) {
  start_master();
  ASSERT_TRUE(run_until([&] { return logged("; serving"); }));
  agent_msg::Register agent;
  agent.hostname = "h1";
  agent.resources.scalars = {{"cpus", 2}, {"mem", 256}};
  auto admitted = call(agent);
  ASSERT_TRUE(admitted.ok() && admitted->is<agent_msg::Registered>())
      << (admitted.ok() ? admitted->type() : admitted.error().message);
  std::string agent_id = admitted->body<agent_msg::Registered>()->agent_id;

  auto gone = std::make_unique<sdk::Client>(bus_, "gone");
  ASSERT_TRUE(gone->connect("inproc://test.master").ok());
  std::string id = subscribe_on(*gone, "vanishing");
  ASSERT_FALSE(id.empty());
  gone.reset();
  // ZeroMQ closes a socket's connections asynchronously; the master sees it at its next send.
  std::this_thread::sleep_for(1s);

  protocol::Resources offered;
  offered.scalars = {{"cpus", 1}, {"mem", 128}};
  allocator_->grant(id, agent_id, offered);
  ASSERT_TRUE(run_until([&] {
    return logged("could not be sent its offers (its connection is gone); it has 60 s");
  }));
  EXPECT_TRUE(run_until([&] {
    return allocator_->was_told("recover " + id + " " + offered.to_string()) &&
           allocator_->was_told("deactivated " + id);
  }));
  // Nothing is left offered to it.
  auto state = call(protocol::operator_api::GetState{});
  ASSERT_TRUE(state.ok()) << state.error().message;
  auto body = state->body<protocol::operator_api::State>();
  ASSERT_TRUE(body.ok());
  ASSERT_EQ(body->frameworks.size(), 1u);
  EXPECT_FALSE(body->frameworks.front().connected);
  EXPECT_TRUE(body->frameworks.front().offered.empty());
}

// A framework that missed its heartbeats is disconnected, and an update its agent sends
// meanwhile is not forwarded; when the framework re-subscribes the master sends it that update
// at once (not at the agent's next resend, which backs off up to a minute), and not the one it
// had acknowledged. A loaded test machine lost a TASK_KILLED this way: the framework's loop,
// blocked for a second, missed its heartbeats just as the task was killed.
TEST_F(MasterActorTest, AnUpdateNotAcknowledgedIsSentAgainWhenTheFrameworkReSubscribes) {
  start_master("agent_ping_timeout_ms = 3600000\n");
  ASSERT_TRUE(run_until([&] { return logged("; serving"); }));
  auto first = std::make_unique<sdk::Client>(bus_, "first");
  ASSERT_TRUE(first->connect("inproc://test.master").ok());
  std::vector<std::string> first_heard;  // the uuids of the updates, in order
  first->on<scheduler::Update>(
      [&](const Envelope&, const scheduler::Update& m) { first_heard.push_back(m.status.uuid); });
  std::string id = subscribe_on(*first, "forgetful");
  ASSERT_FALSE(id.empty());

  // An agent (the test's client_) with a running task of that framework.
  std::vector<std::string> acked;
  client_->on<agent_msg::StatusAck>(
      [&](const Envelope&, const agent_msg::StatusAck& m) { acked.push_back(m.uuid); });
  agent_msg::Register agent;
  agent.hostname = "h1";
  agent.resources.scalars = {{"cpus", 2}, {"mem", 256}};
  agent_msg::RunningTask running;
  running.framework_id = id;
  running.task.task_id = "t1";
  running.task.resources.scalars = {{"cpus", 1}, {"mem", 32}};
  running.state = protocol::state::kRunning;
  agent.tasks = {running};
  auto admitted = call(agent);
  ASSERT_TRUE(admitted.ok() && admitted->is<agent_msg::Registered>())
      << (admitted.ok() ? admitted->type() : admitted.error().message);
  std::string agent_id = admitted->body<agent_msg::Registered>()->agent_id;
  auto update = [&](const std::string& uuid, const char* state) {
    agent_msg::StatusUpdate u;
    u.agent_id = agent_id;
    u.status.framework_id = id;
    u.status.task_id = "t1";
    u.status.state = state;
    u.status.uuid = uuid;
    u.latest_state = state;
    client_->send(u);
  };
  auto acknowledge = [&](sdk::Client& on, const std::string& uuid) {
    on.send(scheduler::Acknowledge{id, agent_id, "t1", uuid});
  };

  // Forwarded and acknowledged while connected.
  update("u1", protocol::state::kRunning);
  ASSERT_TRUE(run_until([&] { return first_heard.size() == 1; }));
  acknowledge(*first, "u1");
  ASSERT_TRUE(run_until([&] { return acked.size() == 1; }));
  EXPECT_EQ(acked.front(), "u1");

  // Each new connection records the updates it hears; a request answered on it afterwards
  // proves that nothing sent before the answer is still on its way.
  std::map<std::string, std::vector<std::string>> heard;
  auto connection = [&](const std::string& name) {
    auto c = std::make_unique<sdk::Client>(bus_, name);
    EXPECT_TRUE(c->connect("inproc://test.master").ok());
    c->on<scheduler::Update>([&heard, name](const Envelope&, const scheduler::Update& m) {
      heard[name].push_back(m.status.uuid + " " + m.status.state);
    });
    return c;
  };
  auto settled = [&](sdk::Client& on) {
    std::optional<Result<Envelope>> answer;
    on.request(
        protocol::operator_api::GetState{}, [&](Result<Envelope> r) { answer = std::move(r); }, 5s);
    return run_until([&] { return answer.has_value(); });
  };

  // Silent for three heartbeat intervals: disconnected. Its one update is acknowledged, so
  // re-subscribing sends it nothing.
  clock_.advance(4s);
  ASSERT_TRUE(run_until([&] { return allocator_->was_told("deactivated " + id); }));
  first.reset();
  auto second = connection("second");
  ASSERT_EQ(subscribe_on(*second, "forgetful", id), id);
  ASSERT_TRUE(settled(*second));
  EXPECT_TRUE(heard["second"].empty()) << ::testing::PrintToString(heard["second"]);
  EXPECT_FALSE(logged("unacknowledged update(s) again"));

  // Disconnected again; the task is killed meanwhile, and its update is not forwarded.
  clock_.advance(4s);
  ASSERT_TRUE(run_until([&] {
    return std::count(allocator_->told.begin(), allocator_->told.end(), "deactivated " + id) == 2;
  }));
  update("u2", protocol::state::kKilled);
  auto state = call(protocol::operator_api::GetState{});  // after the update, on its connection
  ASSERT_TRUE(state.ok()) << state.error().message;
  auto body = state->body<protocol::operator_api::State>();
  ASSERT_TRUE(body.ok());
  ASSERT_FALSE(body->tasks.empty());
  EXPECT_EQ(body->tasks.front().state, protocol::state::kKilled);
  ASSERT_TRUE(settled(*second));
  EXPECT_TRUE(heard["second"].empty()) << ::testing::PrintToString(heard["second"]);

  // Re-subscribed on a new connection: the kill's update comes right after the answer.
  second.reset();
  auto third = connection("third");
  ASSERT_EQ(subscribe_on(*third, "forgetful", id), id);
  ASSERT_TRUE(settled(*third));
  EXPECT_EQ(heard["third"], std::vector<std::string>{"u2 TASK_KILLED"});
  EXPECT_TRUE(logged("re-subscribed: sent its 1 unacknowledged update(s) again"));
  // Its acknowledgement reaches the agent and ends the task.
  acknowledge(*third, "u2");
  ASSERT_TRUE(run_until([&] { return acked.size() == 2; }));
  EXPECT_EQ(acked.back(), "u2");
  auto after = call(protocol::operator_api::GetState{});
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ(after->body<protocol::operator_api::State>()->active_tasks, 0u);
}

// Elected again in a new term while it reads its registry (leader_zookeeper suspends a leader
// whose thread stalled and confirms it with a new epoch): the reading of the new term serves,
// once; the one of the term that ended is dropped when it completes, rather than applying the
// registry a second time (frameworks added to the allocator twice, secrets learned meanwhile
// overwritten).
TEST_F(MasterActorTest, ARegistryReadOfATermThatEndedIsDropped) {
  // The first term's first listing fails: its reading waits for the registry's retry (1 s on the
  // manual clock) while the second term's reads at once.
  leader_->fail_next = 1;
  FrameworkRecord record;
  record.framework_id = "f1";
  record.roles = {"*"};
  leader_->preset("master/frameworks/f1", record);
  start_master();
  ASSERT_TRUE(run_until([&] { return leader_->lists >= 1; }));
  leader_->reelect_here();
  ASSERT_TRUE(run_until([&] { return logged("; serving"); }));
  clock_.advance(1s);
  ASSERT_TRUE(run_until([&] { return logged("the registry read in epoch 1 is dropped"); }));
  auto servings = std::count_if(logged_.begin(), logged_.end(), [](const std::string& line) {
    return line.find("; serving") != std::string::npos;
  });
  EXPECT_EQ(servings, 1);
  EXPECT_EQ(std::count(allocator_->told.begin(), allocator_->told.end(), "framework_added f1"), 1);
}

// An agent resends its registration when the answer is late (after a failover the new leader
// answers thousands at once). A resend on the connection the agent is admitted on is answered
// again without admitting it again (which would redo its tasks and allocation each time); a
// registration on a new connection (the agent restarted or reconnected) is admitted again.
TEST_F(MasterActorTest, ARegistrationResentOnTheAgentsConnectionIsAnsweredNotAdmittedAgain) {
  start_master();
  ASSERT_TRUE(run_until([&] { return logged("; serving"); }));
  sdk::Client agent_client(bus_, "agent");
  ASSERT_TRUE(agent_client.connect("inproc://test.master").ok());
  auto agent_added = [&] {
    return std::count_if(allocator_->told.begin(), allocator_->told.end(),
                         [](const std::string& what) { return what.rfind("agent_added", 0) == 0; });
  };
  agent_msg::Register first;
  first.hostname = "h1";
  first.resources.scalars = {{"cpus", 1}, {"mem", 64}};
  std::optional<Result<Envelope>> admitted;
  agent_client.request(
      first, [&](Result<Envelope> r) { admitted = std::move(r); }, 10s);
  ASSERT_TRUE(run_until([&] { return admitted.has_value() && agent_added() == 1; }));
  ASSERT_TRUE(admitted->ok() && (*admitted)->is<agent_msg::Registered>());
  auto registered = (*admitted)->body<agent_msg::Registered>();
  ASSERT_TRUE(registered.ok());

  // The agent's re-registration, sent three times on its connection before any answer.
  agent_msg::Register again = first;
  again.agent_id = registered->agent_id;
  again.secret = registered->secret;
  std::vector<Result<Envelope>> answers;
  for (int i = 0; i < 3; ++i) {
    agent_client.request(
        again, [&](Result<Envelope> r) { answers.push_back(std::move(r)); }, 10s);
  }
  ASSERT_TRUE(run_until([&] { return answers.size() == 3; }));
  for (const auto& answer : answers) {
    ASSERT_TRUE(answer.ok() && answer->is<agent_msg::Registered>());
    EXPECT_EQ(answer->body<agent_msg::Registered>()->agent_id, registered->agent_id);
  }
  // On a new connection it is admitted again.
  sdk::Client reconnected(bus_, "agent");
  ASSERT_TRUE(reconnected.connect("inproc://test.master").ok());
  std::optional<Result<Envelope>> readmitted;
  reconnected.request(
      again, [&](Result<Envelope> r) { readmitted = std::move(r); }, 10s);
  ASSERT_TRUE(run_until([&] { return readmitted.has_value() && agent_added() >= 2; }));
  ASSERT_TRUE(readmitted->ok() && (*readmitted)->is<agent_msg::Registered>());
  EXPECT_EQ(agent_added(), 2);
}

// What an agent reports of its executors is checked, and only the agent itself can say that one
// of them ended.
TEST_F(MasterActorTest, AnAgentsExecutorReportsAreCheckedAndOnlyItsOwn) {
  start_master();
  ASSERT_TRUE(run_until([&] { return logged("; serving"); }));
  std::vector<agent_msg::ShutdownExecutor> shutdowns;
  client_->on<agent_msg::ShutdownExecutor>(
      [&](const Envelope&, const agent_msg::ShutdownExecutor& m) { shutdowns.push_back(m); });
  agent_msg::Register first;
  first.hostname = "h1";
  first.resources.scalars = {{"cpus", 4}, {"mem", 1024}};
  agent_msg::RunningExecutor kept;
  kept.framework_id = "f9";
  kept.executor.executor_id = "e1";
  kept.executor.resources.scalars = {{"cpus", 0.5}, {"mem", 32}};
  agent_msg::RunningExecutor hostile = kept;
  hostile.executor.executor_id = "e2";
  hostile.executor.resources.scalars["cpus"] = std::numeric_limits<double>::quiet_NaN();
  first.executors = {kept, hostile};
  auto admitted = call(first);
  ASSERT_TRUE(admitted.ok() && admitted->is<agent_msg::Registered>())
      << (admitted.ok() ? admitted->type() : admitted.error().message);
  std::string agent_id = admitted->body<agent_msg::Registered>()->agent_id;
  // The valid one is counted; the other is left out with a warning.
  ASSERT_TRUE(run_until([&] { return allocator_->was_told("agent_added f9:cpus:0.5;mem:32"); }))
      << ::testing::PrintToString(allocator_->told);
  EXPECT_TRUE(logged("reports executor 'e2' of framework 'f9' with invalid ids or resources"));
  // Its framework is unknown here: the agent is told to shut it down.
  ASSERT_TRUE(run_until([&] { return !shutdowns.empty(); }));
  EXPECT_EQ(shutdowns.front().executor_id, "e1");

  // Another connection cannot end it for the agent.
  sdk::Client other(bus_, "other");
  ASSERT_TRUE(other.connect("inproc://test.master").ok());
  other.send(agent_msg::ExecutorExited{agent_id, "f9", "e1", 0, "gone"});
  ASSERT_TRUE(run_until([&] { return logged("executor exit from unregistered agent"); }));
  EXPECT_FALSE(allocator_->was_told("recover f9 cpus:0.5;mem:32"));
  // The agent can: what it held goes back.
  client_->send(agent_msg::ExecutorExited{agent_id, "f9", "e1", 0, "gone"});
  ASSERT_TRUE(run_until([&] { return allocator_->was_told("recover f9 cpus:0.5;mem:32"); }));
}

}  // namespace
