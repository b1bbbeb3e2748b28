// The agent's pieces on their own: the default resources, the checkpoint files, the status
// update queue (time given explicitly), the task environment and what an exit means.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>

#include "agent/agent.h"
#include "agent/checkpoint.h"
#include "agent/resources_text.h"
#include "agent/status_updates.h"
#include "support/process.h"

namespace {

using namespace tessera::host::agent;
using tessera::protocol::Range;
using tessera::protocol::TaskStatus;
namespace state = tessera::protocol::state;
using namespace std::chrono_literals;

// ------------------------------------------------------------------------------------------
// Resources text (parsed by protocol::parse_resources, tested in tests/master)

TEST(ResourcesText, DefaultsFillWhatIsNotNamed) {
  auto defaults = detect_defaults();
  EXPECT_GE(defaults.scalar("cpus"), 1);
  EXPECT_GT(defaults.scalar("mem"), 0);
  EXPECT_DOUBLE_EQ(defaults.scalar("disk"), 10240);
  EXPECT_EQ(defaults.ranges.at("ports"), (std::vector<Range>{{31000, 32000}}));
  auto r = with_defaults(*tessera::protocol::parse_resources("cpus:2;gpus:1"), defaults);
  EXPECT_DOUBLE_EQ(r.scalar("cpus"), 2);
  EXPECT_DOUBLE_EQ(r.scalar("gpus"), 1);
  EXPECT_DOUBLE_EQ(r.scalar("mem"), defaults.scalar("mem"));
  EXPECT_DOUBLE_EQ(r.scalar("disk"), 10240);
  EXPECT_EQ(r.ranges.at("ports"), (std::vector<Range>{{31000, 32000}}));
  // Named, even as empty, means no default.
  auto none = with_defaults(*tessera::protocol::parse_resources("ports:[]"), defaults);
  EXPECT_TRUE(none.ranges.at("ports").empty());
}

TEST(AgentSettings, ReadsTheAgentTableWithPositionedErrors) {
  auto doc = tessera::sdk::ConfigDocument::parse(
      "node.toml",
      "[agent]\nisolators = [\"isolator_posix\"]\nresources = \"cpus:2;gpus:1;ports:[4000-4001]\"\n"
      "hostname = \"h1\"\nstatus_update_retry_ms = 50\nregistration_retry_ms = 20\n"
      "[agent.attributes]\nrack = \"r1\"\nzone = \"z\"\n");
  ASSERT_TRUE(doc.ok());
  auto table = (*doc)->at("agent");
  AgentSettings s = read_settings(table, "node");
  table.reject_unknown_keys();
  ASSERT_TRUE(table.status().ok()) << table.status().error().message;
  EXPECT_EQ(s.isolators, std::vector<std::string>{"isolator_posix"});
  EXPECT_DOUBLE_EQ(s.resources.scalar("gpus"), 1);
  EXPECT_EQ(s.resources.ranges.at("ports"), (std::vector<Range>{{4000, 4001}}));
  EXPECT_GT(s.resources.scalar("mem"), 0);
  ASSERT_EQ(s.attributes.size(), 2u);
  EXPECT_EQ(s.attributes[0].name, "rack");
  EXPECT_EQ(s.attributes[0].value, "r1");
  EXPECT_EQ(s.hostname, "h1");
  EXPECT_EQ(s.status_update_retry, 50ms);
  EXPECT_EQ(s.registration_retry, 20ms);

  auto bad = tessera::sdk::ConfigDocument::parse(
      "node.toml", "[agent]\nresources = \"cpus:lots\"\nattributes = { rack = 3 }\nbogus = 1\n");
  ASSERT_TRUE(bad.ok());
  auto bad_table = (*bad)->at("agent");
  (void)read_settings(bad_table, "node");
  bad_table.reject_unknown_keys();
  ASSERT_FALSE(bad_table.status().ok());
  const std::string message = bad_table.status().error().message;
  EXPECT_NE(message.find(
                "node.toml:2:13: agent.resources: resource 'cpus': expected a number, got 'lots'"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("agent.attributes.rack: expected a string, got an integer"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("node.toml:4:1: unknown key 'agent.bogus'"), std::string::npos) << message;
}

// ------------------------------------------------------------------------------------------
// Checkpoint

TEST(Checkpoint, AgentIdRoundTrip) {
  tessera::testing::TempDir dir;
  Checkpoint cp(dir.path());
  EXPECT_EQ(*cp.read_agent_id(), "");
  ASSERT_TRUE(cp.write_agent_id("agent-7").ok());
  EXPECT_EQ(*Checkpoint(dir.path()).read_agent_id(), "agent-7");
  ASSERT_TRUE(cp.remove_agent_id().ok());
  EXPECT_EQ(*cp.read_agent_id(), "");
}

TEST(Checkpoint, TaskRoundTripAndRemoval) {
  tessera::testing::TempDir dir;
  Checkpoint cp(dir.path());
  TaskCheckpoint t;
  t.framework_id = "fw/1";
  t.task.task_id = "..";
  t.task.command.value = "sleep 30";
  t.task.resources.scalars["cpus"] = 0.5;
  t.task.resources.ranges["ports"] = {{31000, 31001}};
  t.task.kill_grace_seconds = 7;
  t.container_id = "c1";
  t.sandbox = "/sandbox";
  t.pid = 1234;
  t.state = state::kRunning;
  t.kill_requested = true;
  TaskStatus s;
  s.task_id = "..";
  s.state = state::kRunning;
  s.uuid = random_uuid();
  t.pending.push_back(s);
  ASSERT_TRUE(cp.write_task(t).ok());
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "meta" / "tasks.journal"));

  TaskCheckpoint other;
  other.framework_id = "fw/1";
  other.task.task_id = "b";
  other.state = state::kFinished;
  ASSERT_TRUE(cp.write_task(other).ok());

  // What is on disk (inspect() reads it without taking the directory from `cp`).
  auto found = Checkpoint::inspect(dir.path());
  EXPECT_TRUE(found.errors.empty());
  EXPECT_TRUE(found.notes.empty());
  ASSERT_EQ(found.tasks.size(), 2u);
  const TaskCheckpoint& back =
      found.tasks[0].task.task_id == ".." ? found.tasks[0] : found.tasks[1];
  EXPECT_EQ(back.framework_id, "fw/1");
  EXPECT_EQ(back.task.command.value, "sleep 30");
  EXPECT_DOUBLE_EQ(back.task.resources.scalar("cpus"), 0.5);
  EXPECT_EQ(back.task.resources.ranges.at("ports"), (std::vector<Range>{{31000, 31001}}));
  EXPECT_DOUBLE_EQ(back.task.kill_grace_seconds, 7);
  EXPECT_EQ(back.container_id, "c1");
  EXPECT_EQ(back.pid, 1234);
  EXPECT_EQ(back.state, state::kRunning);
  EXPECT_TRUE(back.kill_requested);
  ASSERT_EQ(back.pending.size(), 1u);
  EXPECT_EQ(back.pending[0].uuid, s.uuid);

  // The latest write of a task wins.
  t.state = state::kFinished;
  t.pending.clear();
  ASSERT_TRUE(cp.write_task(t).ok());
  ASSERT_TRUE(cp.remove_task("fw/1", "b").ok());
  ASSERT_TRUE(cp.sync().ok());
  found = Checkpoint::inspect(dir.path());
  ASSERT_EQ(found.tasks.size(), 1u);
  EXPECT_EQ(found.tasks[0].task.task_id, "..");
  EXPECT_EQ(found.tasks[0].state, state::kFinished);
  EXPECT_TRUE(found.tasks[0].pending.empty());
  ASSERT_TRUE(cp.remove_task("fw/1", "..").ok());
  EXPECT_TRUE(cp.read_tasks().tasks.empty());
  EXPECT_TRUE(Checkpoint::inspect(dir.path()).tasks.empty());
}

// Undoes Checkpoint::fail_writes_for_testing() whatever the test's outcome.
struct FailingDisk {
  explicit FailingDisk(int error) { Checkpoint::fail_writes_for_testing(error); }
  ~FailingDisk() { Checkpoint::fail_writes_for_testing(0); }
  FailingDisk(const FailingDisk&) = delete;
  FailingDisk& operator=(const FailingDisk&) = delete;
};

TaskCheckpoint running_task(const std::string& id) {
  TaskCheckpoint t;
  t.framework_id = "fw";
  t.task.task_id = id;
  t.state = state::kRunning;
  return t;
}

TEST(Checkpoint, AFailedWriteSaysWhyAndLeavesTheJournalAsItWas) {
  tessera::testing::TempDir dir;
  Checkpoint cp(dir.path());
  ASSERT_TRUE(cp.write_task(running_task("a")).ok());
  auto size = std::filesystem::file_size(cp.journal_file());
  {
    FailingDisk full(ENOSPC);
    auto written = cp.write_task(running_task("b"));
    ASSERT_FALSE(written.ok());
    EXPECT_NE(written.error().message.find("checkpointing task 'b': cannot write"),
              std::string::npos)
        << written.error().message;
    EXPECT_NE(written.error().message.find(std::strerror(ENOSPC)), std::string::npos);
    EXPECT_FALSE(cp.sync().ok());
  }
  EXPECT_EQ(std::filesystem::file_size(cp.journal_file()), size);
  ASSERT_TRUE(cp.write_task(running_task("b")).ok());
  auto found = Checkpoint::inspect(dir.path());
  EXPECT_TRUE(found.errors.empty());
  EXPECT_EQ(found.tasks.size(), 2u);
}

// A disk that takes part of a record (here a file size limit: write() stores what fits, then
// fails with EFBIG) must not leave that part behind: later records would follow damage.
TEST(Checkpoint, APartOfARecordThatDidNotFitIsCutOff) {
  tessera::testing::TempDir dir;
  Checkpoint cp(dir.path());
  ASSERT_TRUE(cp.write_task(running_task("a")).ok());
  auto size = std::filesystem::file_size(cp.journal_file());
  TaskCheckpoint big = running_task("big");
  big.task.command.value = std::string(100000, 'x');
  {
    struct rlimit old_limit {};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = old_limit;
    limit.rlim_cur = size + 100;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
    auto written = cp.write_task(big, /*durable=*/false);
    ::setrlimit(RLIMIT_FSIZE, &old_limit);
    std::signal(SIGXFSZ, old_handler);
    ASSERT_FALSE(written.ok());
    EXPECT_NE(written.error().message.find(std::strerror(EFBIG)), std::string::npos)
        << written.error().message;
  }
  EXPECT_EQ(std::filesystem::file_size(cp.journal_file()), size);
  ASSERT_TRUE(cp.write_task(running_task("b")).ok());
  auto found = Checkpoint::inspect(dir.path());
  EXPECT_TRUE(found.errors.empty()) << found.errors.front();
  EXPECT_TRUE(found.notes.empty());
  EXPECT_EQ(found.tasks.size(), 2u);
}

// After a failed fdatasync the kernel may have dropped the pages it could not write, and says so
// only once: the next sync rewrites the journal (a new file) rather than flushing again.
TEST(Checkpoint, AfterAFailedFlushTheNextSyncRewritesTheJournal) {
  tessera::testing::TempDir dir;
  Checkpoint cp(dir.path());
  ASSERT_TRUE(cp.write_task(running_task("a")).ok());
  ASSERT_TRUE(cp.write_task(running_task("b"), /*durable=*/false).ok());
  auto inode = [&] {
    struct stat st {};
    ::stat(cp.journal_file().c_str(), &st);
    return st.st_ino;
  };
  auto before = inode();
  {
    FailingDisk failing(EIO);
    auto flushed = cp.sync();
    ASSERT_FALSE(flushed.ok());
    EXPECT_NE(flushed.error().message.find("cannot flush"), std::string::npos);
  }
  ASSERT_TRUE(cp.sync().ok());
  EXPECT_NE(inode(), before);
  EXPECT_EQ(Checkpoint::inspect(dir.path()).tasks.size(), 2u);
  // Then plain flushes again.
  ASSERT_TRUE(cp.write_task(running_task("c"), /*durable=*/false).ok());
  auto rewritten = inode();
  ASSERT_TRUE(cp.sync().ok());
  EXPECT_EQ(inode(), rewritten);
}

// One agent per work dir: a second Checkpoint on it is refused while the first has it open, and
// gets it once the first is gone (as a restarted agent does).
TEST(Checkpoint, ASecondAgentOnTheSameWorkDirIsRefused) {
  tessera::testing::TempDir dir;
  TaskCheckpoint t;
  t.framework_id = "fw";
  t.task.task_id = "t";
  auto first = std::make_unique<Checkpoint>(dir.path());
  ASSERT_TRUE(first->write_task(t).ok());
  Checkpoint second(dir.path());
  auto opened = second.open();
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.error().message.find("is in use by another agent"), std::string::npos)
      << opened.error().message;
  EXPECT_FALSE(second.write_task(t).ok());
  first.reset();
  Checkpoint third(dir.path());
  ASSERT_TRUE(third.open().ok());
  EXPECT_EQ(third.read_tasks().tasks.size(), 1u);
}

namespace {

TaskCheckpoint task_named(const std::string& id) {
  TaskCheckpoint t;
  t.framework_id = "fw";
  t.task.task_id = id;
  t.task.command.value = "echo " + id;
  t.state = state::kRunning;
  return t;
}

std::vector<std::string> ids(const Checkpoint::Recovered& found) {
  std::vector<std::string> out;
  for (const auto& t : found.tasks) out.push_back(t.task.task_id);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

// A crash in the middle of an append leaves part of a record at the end: it is dropped with a
// note, everything before it is recovered, and the journal goes on from there.
TEST(Checkpoint, ATornLastRecordIsDroppedAndTheRestKept) {
  tessera::testing::TempDir dir;
  std::filesystem::path journal;
  uintmax_t two_records = 0;
  {
    Checkpoint cp(dir.path());
    ASSERT_TRUE(cp.write_task(task_named("a")).ok());
    ASSERT_TRUE(cp.write_task(task_named("b")).ok());
    journal = cp.journal_file();
    two_records = std::filesystem::file_size(journal);
    ASSERT_TRUE(cp.write_task(task_named("c")).ok());
  }
  // Cut the third record short, as a crash in the middle of its write would.
  std::filesystem::resize_file(journal, two_records + 11);
  Checkpoint cp(dir.path());
  auto found = cp.read_tasks();
  EXPECT_EQ(ids(found), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(found.errors.empty());
  ASSERT_EQ(found.notes.size(), 1u);
  EXPECT_NE(found.notes[0].find("dropped 11 byte(s) at byte " + std::to_string(two_records) +
                                " that are not a whole record"),
            std::string::npos)
      << found.notes[0];
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "meta" / "tasks.journal.corrupt"));
  ASSERT_TRUE(cp.write_task(task_named("d")).ok());
  found = Checkpoint::inspect(dir.path());
  EXPECT_EQ(ids(found), (std::vector<std::string>{"a", "b", "d"}));
  EXPECT_TRUE(found.notes.empty());
}

// A damaged record in the middle is reported and skipped: replay goes on at the next intact
// record, so only that record is lost. The journal as found is kept for a post-mortem.
TEST(Checkpoint, ADamagedRecordIsSkippedAndTheRestKept) {
  tessera::testing::TempDir dir;
  std::filesystem::path journal;
  uintmax_t one_record = 0;
  {
    Checkpoint cp(dir.path());
    ASSERT_TRUE(cp.write_task(task_named("a")).ok());
    journal = cp.journal_file();
    one_record = std::filesystem::file_size(journal);
    ASSERT_TRUE(cp.write_task(task_named("b")).ok());
    ASSERT_TRUE(cp.write_task(task_named("c")).ok());
  }
  {
    std::fstream f(journal, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(one_record + 20));  // inside b's payload
    f.put('\x7f');
  }
  Checkpoint cp(dir.path());
  auto found = cp.read_tasks();
  EXPECT_EQ(ids(found), (std::vector<std::string>{"a", "c"}));
  ASSERT_EQ(found.errors.size(), 1u);
  EXPECT_NE(found.errors[0].find("damaged byte(s) at byte " + std::to_string(one_record) +
                                 "; the records after them are kept"),
            std::string::npos)
      << found.errors[0];
  EXPECT_NE(found.errors[0].find("tasks.journal.corrupt"), std::string::npos) << found.errors[0];
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "meta" / "tasks.journal.corrupt"));
  EXPECT_TRUE(cp.read_tasks().errors.empty()) << "reported once";
  found = Checkpoint::inspect(dir.path());
  EXPECT_TRUE(found.errors.empty());
  EXPECT_EQ(ids(found), (std::vector<std::string>{"a", "c"}));
}

// A damaged length (the one field that says where the next record starts) costs only its own
// record too: replay finds the next intact one.
TEST(Checkpoint, ADamagedLengthCostsOnlyItsRecord) {
  tessera::testing::TempDir dir;
  std::filesystem::path journal;
  {
    Checkpoint cp(dir.path());
    for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(cp.write_task(task_named(id)).ok());
    journal = cp.journal_file();
  }
  {
    std::fstream f(journal, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2);  // the first record's length, now about 64 KiB more than it is
    f.put('\x01');
  }
  auto found = Checkpoint(dir.path()).read_tasks();
  EXPECT_EQ(ids(found), (std::vector<std::string>{"b", "c"}));
  ASSERT_EQ(found.errors.size(), 1u);
  EXPECT_NE(found.errors[0].find("damaged byte(s) at byte 0"), std::string::npos)
      << found.errors[0];
}

// Rewriting the same checkpoints over and over does not grow the journal without bound: past
// 1 MiB and twice the live records, sync() rewrites it with the live ones only.
TEST(Checkpoint, TheJournalIsCompacted) {
  tessera::testing::TempDir dir;
  std::string big(1000, 'x');
  uintmax_t largest = 0, previous = 0;
  int shrinks = 0;
  {
    Checkpoint cp(dir.path());
    for (int round = 0; round < 500; ++round) {
      for (const char* id : {"a", "b", "c"}) {
        TaskCheckpoint t = task_named(id);
        t.task.command.value = big + std::to_string(round);
        ASSERT_TRUE(cp.write_task(t, /*durable=*/false).ok());
      }
      ASSERT_TRUE(cp.sync().ok());
      uintmax_t size = std::filesystem::file_size(cp.journal_file());
      if (size < previous) ++shrinks;
      largest = std::max(largest, size);
      previous = size;
    }
  }
  // 1,500 records of about 1.1 KB (1.6 MB) were written; the file never held much more than
  // 1 MiB, and was rewritten with the 3 live records when it got there.
  EXPECT_LE(largest, 1024u * 1024 + 4096) << largest;
  EXPECT_GE(shrinks, 1);
  EXPECT_LT(previous, largest);
  auto found = Checkpoint(dir.path()).read_tasks();
  ASSERT_EQ(ids(found), (std::vector<std::string>{"a", "b", "c"}));
  for (const auto& t : found.tasks) EXPECT_EQ(t.task.command.value, big + "499");
}

// inspect() reads without touching the file, so tests and tools can look while an agent runs.
TEST(Checkpoint, InspectReadsWithoutChangingTheJournal) {
  tessera::testing::TempDir dir;
  Checkpoint cp(dir.path());
  ASSERT_TRUE(cp.write_task(task_named("a")).ok());
  ASSERT_TRUE(cp.write_task(task_named("b")).ok());
  ASSERT_TRUE(cp.remove_task("fw", "a").ok());
  auto size = std::filesystem::file_size(cp.journal_file());
  EXPECT_EQ(ids(Checkpoint::inspect(dir.path())), (std::vector<std::string>{"b"}));
  EXPECT_EQ(std::filesystem::file_size(cp.journal_file()), size);
  // The writer's appends still land in the file that is read.
  ASSERT_TRUE(cp.write_task(task_named("c")).ok());
  EXPECT_EQ(ids(Checkpoint::inspect(dir.path())), (std::vector<std::string>{"b", "c"}));
}

TEST(Checkpoint, AtomicWriteLeavesNoTemporaryFile) {
  tessera::testing::TempDir dir;
  ASSERT_TRUE(write_file_atomically(dir.path() / "a" / "f", "one").ok());
  ASSERT_TRUE(write_file_atomically(dir.path() / "a" / "f", "two").ok());
  EXPECT_EQ(tessera::testing::read_file(dir.path() / "a" / "f"), "two");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "a" / "f.tmp"));
}

// ------------------------------------------------------------------------------------------
// Status update queue

TaskStatus update(const std::string& task, const std::string& st) {
  TaskStatus s;
  s.task_id = task;
  s.framework_id = "fw";
  s.state = st;
  s.uuid = random_uuid();
  return s;
}

std::vector<std::string> states(const std::vector<TaskStatus>& list) {
  std::vector<std::string> out;
  for (const auto& s : list) out.push_back(s.task_id + ":" + s.state);
  return out;
}

TEST(StatusUpdateQueue, OneInFlightPerTaskInOrder) {
  StatusUpdateQueue q(1000ms, 60000ms);
  StatusUpdateQueue::TimePoint t0{};
  TaskKey a{"fw", "a"}, b{"fw", "b"};
  auto a1 = update("a", state::kStarting), a2 = update("a", state::kRunning),
       a3 = update("a", state::kFinished), b1 = update("b", state::kStarting);
  q.push(a, a1, t0);
  q.push(a, a2, t0);
  q.push(b, b1, t0);
  q.push(a, a3, t0);
  EXPECT_EQ(q.size(), 4u);
  EXPECT_EQ(states(q.due(t0)), (std::vector<std::string>{"a:TASK_STARTING", "b:TASK_STARTING"}));
  EXPECT_TRUE(q.due(t0 + 999ms).empty());  // nothing new until acked or the backoff passes
  ASSERT_TRUE(q.acknowledge(a, a1.uuid, t0 + 10ms));
  EXPECT_EQ(states(q.due(t0 + 10ms)), (std::vector<std::string>{"a:TASK_RUNNING"}));
  ASSERT_TRUE(q.acknowledge(a, a2.uuid, t0 + 20ms));
  EXPECT_EQ(states(q.due(t0 + 20ms)), (std::vector<std::string>{"a:TASK_FINISHED"}));
  auto last = q.acknowledge(a, a3.uuid, t0 + 30ms);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->state, state::kFinished);
  EXPECT_FALSE(q.has_pending(a));
  EXPECT_TRUE(q.has_pending(b));
  EXPECT_EQ(q.pending(b).size(), 1u);
}

TEST(StatusUpdateQueue, ResendsWithExponentialBackoffUpToTheMaximum) {
  StatusUpdateQueue q(1000ms, 4000ms);
  StatusUpdateQueue::TimePoint t{};
  TaskKey a{"fw", "a"};
  q.push(a, update("a", state::kRunning), t);
  EXPECT_EQ(q.due(t).size(), 1u);  // first send
  EXPECT_EQ(*q.next_due(), t + 1000ms);
  EXPECT_TRUE(q.due(t + 999ms).empty());
  EXPECT_EQ(q.due(t + 1000ms).size(), 1u);  // resend after 1 s
  EXPECT_EQ(*q.next_due(), t + 3000ms);     // then 2 s
  EXPECT_TRUE(q.due(t + 2999ms).empty());
  EXPECT_EQ(q.due(t + 3000ms).size(), 1u);
  EXPECT_EQ(*q.next_due(), t + 7000ms);  // then 4 s
  EXPECT_EQ(q.due(t + 7000ms).size(), 1u);
  EXPECT_EQ(*q.next_due(), t + 11000ms);  // capped at 4 s
  // Re-registration: due now, backoff from the start.
  q.reset(t + 8000ms);
  EXPECT_EQ(q.due(t + 8000ms).size(), 1u);
  EXPECT_EQ(*q.next_due(), t + 9000ms);
}

TEST(StatusUpdateQueue, DuplicateAndStaleAcknowledgementsAreIgnored) {
  StatusUpdateQueue q(1000ms, 60000ms);
  StatusUpdateQueue::TimePoint t{};
  TaskKey a{"fw", "a"};
  auto a1 = update("a", state::kStarting), a2 = update("a", state::kRunning);
  q.push(a, a1, t);
  q.push(a, a2, t);
  (void)q.due(t);
  EXPECT_FALSE(q.acknowledge(a, a2.uuid, t));  // not the one in flight
  EXPECT_FALSE(q.acknowledge(a, "", t));
  EXPECT_FALSE(q.acknowledge({"other", "a"}, a1.uuid, t));  // wrong framework
  EXPECT_TRUE(q.acknowledge(a, a1.uuid, t));
  EXPECT_FALSE(q.acknowledge(a, a1.uuid, t));  // duplicate
  EXPECT_EQ(q.pending(a).size(), 1u);
  EXPECT_EQ(q.pending(a)[0].uuid, a2.uuid);
  EXPECT_FALSE(q.acknowledge({"fw", "nobody"}, a2.uuid, t));
}

TEST(StatusUpdateQueue, UuidsAreRandom128BitHex) {
  std::string u = random_uuid();
  EXPECT_EQ(u.size(), 32u);
  EXPECT_EQ(u.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(u, random_uuid());
}

// ------------------------------------------------------------------------------------------
// Environment and exits

TEST(TaskEnvironment, PortsInTheTasksOrder) {
  tessera::protocol::TaskInfo task;
  task.task_id = "t1";
  task.resources.ranges["ports"] = {{31005, 31006}, {31000, 31000}};
  auto env = task_environment("fw", task, "a1", "host1");
  EXPECT_EQ(env["TASK_ID"], "t1");
  EXPECT_EQ(env["TESSERA_FRAMEWORK_ID"], "fw");
  EXPECT_EQ(env["TESSERA_AGENT_ID"], "a1");
  EXPECT_EQ(env["HOST"], "host1");
  EXPECT_EQ(env["PORT0"], "31005");
  EXPECT_EQ(env["PORT1"], "31006");
  EXPECT_EQ(env["PORT2"], "31000");
  EXPECT_EQ(env["PORT"], "31005");
  EXPECT_EQ(env["PORTS"], "31005,31006,31000");
  EXPECT_EQ(env.count("PORT3"), 0u);
  tessera::protocol::TaskInfo none;
  EXPECT_EQ(task_environment("fw", none, "a", "h").count("PORT0"), 0u);
}

TEST(ExitOutcome, MapsExitsToTaskStates) {
  tessera::protocol::isolator::Exited e;
  e.exit_code = 0;
  EXPECT_EQ(exit_outcome(e, false).state, state::kFinished);
  e.exit_code = 3;
  auto failed = exit_outcome(e, false);
  EXPECT_EQ(failed.state, state::kFailed);
  EXPECT_EQ(failed.reason, "REASON_COMMAND_EXECUTOR_FAILED");
  EXPECT_EQ(failed.message, "exited with status 3");
  EXPECT_EQ(failed.exit_code, 3);
  e.exit_code = -1;
  e.signal = 9;
  EXPECT_EQ(exit_outcome(e, false).message, "killed by signal 9");
  EXPECT_EQ(exit_outcome(e, false).state, state::kFailed);
  EXPECT_EQ(exit_outcome(e, true).state, state::kKilled);
  e.signal = 0;
  e.reason = "REASON_CONTAINER_LIMITATION_MEMORY";
  e.message = "memory limit";
  e.exit_code = 137;
  auto oom = exit_outcome(e, false);
  EXPECT_EQ(oom.reason, "REASON_CONTAINER_LIMITATION_MEMORY");
  EXPECT_EQ(oom.message, "exited with status 137: memory limit");
}

}  // namespace
