// The Chronos job: its definition and counters, read from and written to Chronos 3's JSON with
// Chronos's field names, defaults and validation.
//
// A job is either scheduled (it has `schedule`) or dependent (it has `parents`, and runs after
// them; see job_graph.h). Fields Chronos has but Tessera does not act on are still read, kept
// and written back, so that a client that reads a job and posts it again loses nothing; the
// README lists them. Beyond Chronos: `epsilon` is used (Chronos 3 ignores it),
// `concurrencyPolicy` and `catchUpPolicy` are added, and a schedule may be "cron:EXPR".
//
// Values only: no I/O, no clock (callers pass "now"); safe to copy between threads.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chronos_time.h"
#include "tessera/result.h"

namespace tessera::chronos {

// What to do when a run is due while an earlier run of the same job is still active.
// Chronos has only `concurrent` (true: allow, false: forbid); `replace` is Tessera's.
enum class ConcurrencyPolicy { allow, forbid, replace };
// Which runs to start for scheduled times that passed while no scheduler led (or before the job
// was created): none (skip), the latest (once) or every one (all), each within epsilon.
enum class CatchUpPolicy { skip, once, all };

std::string_view to_string(ConcurrencyPolicy policy);
std::string_view to_string(CatchUpPolicy policy);

struct EnvironmentVariable {
  std::string name;
  std::string value;
  bool operator==(const EnvironmentVariable&) const = default;
};

// A LIKE or UNLIKE constraint's regular expression, compiled once (job.cpp).
struct ConstraintPattern;

// Where a job may run, compared with an agent's attributes (Chronos: ["rack", "EQUALS", "r1"]).
struct Constraint {
  enum class Operator { equals, like, unlike };
  std::string attribute;
  Operator op = Operator::equals;
  std::string value;  // a regular expression for LIKE and UNLIKE, matched against the whole text
  // `value` compiled (parse_job sets it; shared by copies, never changed); when null, matches()
  // compiles it each time.
  std::shared_ptr<const ConstraintPattern> pattern{};

  // EQUALS: the attribute exists with exactly this value. LIKE: it exists and matches.
  // UNLIKE: it exists and does not match. (A missing attribute fails all three, as in Chronos.)
  // Perl (Java) syntax, matched by a backtracking engine with bounded work: a match that would
  // take too long or too deep (a pattern like "(.*)*x") fails both LIKE and UNLIKE, in
  // milliseconds, instead of holding the scheduler.
  bool matches(const std::map<std::string, std::string>& attributes) const;
  bool operator==(const Constraint& other) const {
    return attribute == other.attribute && op == other.op && value == other.value;
  }
};

// A URI the agent fetches before the run (Mesos fetcher). Accepted and kept; not yet acted on.
struct Fetch {
  std::string uri;
  bool executable = false;
  bool cache = false;
  bool extract = true;
  std::string output_file;
  bool operator==(const Fetch&) const = default;
};

struct Volume {
  std::optional<std::string> host_path;
  std::string container_path;
  std::optional<std::string> mode;  // RO or RW
  boost::json::value external;      // kept as given (external volume plugins), or null
  bool operator==(const Volume&) const = default;
};

struct KeyValue {
  std::string key;
  std::string value;
  bool operator==(const KeyValue&) const = default;
};

// The container a run executes in. Tessera runs DOCKER images on agents with the Docker
// runtime; the rest is kept for round trips.
struct Container {
  std::string type = "DOCKER";  // DOCKER or MESOS
  std::string image;
  std::string network = "HOST";  // HOST, BRIDGE or USER
  std::optional<std::string> network_name;
  boost::json::array network_infos;  // kept as given
  std::vector<Volume> volumes;
  bool force_pull_image = false;
  std::vector<KeyValue> parameters;
  bool operator==(const Container&) const = default;
};

struct Job {
  std::string name;
  std::string command;
  bool shell = true;
  std::vector<std::string> arguments;

  // Exactly one of these: a scheduled job has a schedule, a dependent job parents.
  std::string schedule;
  std::string schedule_time_zone;
  std::vector<std::string> parents;

  Millis epsilon{60'000};
  int retries = 2;
  bool disabled = false;
  ConcurrencyPolicy concurrency = ConcurrencyPolicy::forbid;
  CatchUpPolicy catch_up = CatchUpPolicy::once;
  bool soft_error = false;

  std::string owner;
  std::string owner_name;
  std::string description;

  double cpus = 0.1;
  double mem = 128;
  double disk = 256;

  std::vector<EnvironmentVariable> environment_variables;
  std::vector<std::string> uris;
  std::vector<Fetch> fetch;
  std::vector<Constraint> constraints;
  std::optional<Container> container;
  std::string run_as_user;

  // Accepted and written back, not acted on.
  std::string executor;
  std::string executor_flags;
  std::string task_info_data;
  bool high_priority = false;
  bool data_processing_job_type = false;
  std::int64_t max_completion_time = 0;

  // Counters, as Chronos keeps them with the job (a POST that omits them resets them, as in
  // Chronos: they count "since the job was last modified").
  std::int64_t success_count = 0;
  std::int64_t error_count = 0;
  std::int64_t errors_since_last_success = 0;
  std::optional<TimePoint> last_success;
  std::optional<TimePoint> last_error;

  bool is_dependent() const { return !parents.empty(); }
  bool operator==(const Job&) const = default;
};

// What a job gets when its JSON leaves a field out (or gives 0 for cpus, mem or disk), as
// Chronos's --mesos_task_cpu, --mesos_task_mem, --mesos_task_disk, --user and --task_epsilon.
struct JobDefaults {
  double cpus = 0.1;
  double mem = 128;
  double disk = 256;
  std::string run_as_user;
  Millis epsilon{60'000};
  CatchUpPolicy catch_up = CatchUpPolicy::once;
};

// Which endpoint the JSON came to: /v1/scheduler/iso8601 (scheduled), /v1/scheduler/dependency
// (dependent), or stored state (either, told apart by `parents` as Chronos does).
enum class JobForm { scheduled, dependent, any };

// Reads and validates a job. The error is the reason for a 400 answer: a bad name, a missing
// command, a bad schedule or time zone, a value of the wrong type or out of range. A scheduled
// job without a schedule runs once now ("R1/<now>/PT24H", as Chronos does). `now` is also what
// an empty schedule start is checked with. Parents are not looked up here (see JobGraph).
Result<Job> parse_job(const boost::json::value& json, JobForm form, const JobDefaults& defaults,
                      TimePoint now);

// Writes the job as Chronos 3 does (same fields, same order), plus epsilon, concurrencyPolicy
// and catchUpPolicy. `listing` mirrors uris into fetch and back, as Chronos's GET /jobs does.
// Everything is allocated from `storage` (e.g. one monotonic buffer for a whole answer).
boost::json::object job_to_json(const Job& job, bool listing = false,
                                boost::json::storage_ptr storage = {});

// Chronos's rule for job names: one or more of [A-Za-z0-9_.-].
bool is_valid_job_name(std::string_view name);

// The longest name a job may be given through the API: its runs' task ids
// ("NAME@2024-03-10T07:00:00.000Z#1000") must fit the cluster's ids, and an agent names a
// run's container and sandbox after the task id (container ids of at most 200 bytes).
constexpr size_t kMaxNewJobNameLength = 150;
// The shortest period of a schedule that repeats, given through the API.
constexpr Millis kMinRepeatPeriod{1'000};

// What a job posted through the API must also meet, beyond parse_job (which also reads stored
// jobs, so that a limit added later drops none of them): a name of at most
// kMaxNewJobNameLength characters that is not "." or ".." (a URL's path reads those as dot
// segments, which clients and proxies remove: /job/.. is /; only a client that sends them
// percent-encoded, /job/%2E%2E, reaches such a job), and an ISO 8601 schedule that repeats no
// more often than every kMinRepeatPeriod (a job every millisecond would keep the scheduler busy
// with nothing else). The error is the reason for a 400 answer.
Status check_new_job(const Job& job, TimePoint now);

// "success", "failure" or "fresh", from lastSuccess and lastError (Chronos's Exporter).
std::string_view last_state(const Job& job);

}  // namespace tessera::chronos
