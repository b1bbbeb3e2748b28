// The Chronos job JSON: field names, defaults, validation (the reasons of 400 answers) and what
// a client reads back.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "job.h"
#include "json_fields.h"

namespace tessera::chronos {
namespace {

namespace json = boost::json;

const TimePoint kNow = *parse_time("2024-05-01T12:00:00Z");

Result<Job> parse(const std::string& text, JobForm form = JobForm::scheduled,
                  const JobDefaults& defaults = {}) {
  return parse_job(json::parse(text), form, defaults, kNow);
}

std::string error_of(const std::string& text, JobForm form = JobForm::scheduled) {
  auto job = parse(text, form);
  return job.ok() ? std::string("accepted") : job.error().message;
}

TEST(JobJson, AMinimalScheduledJobGetsChronossDefaults) {
  auto job = parse(R"({"name": "hello", "command": "echo hi",
                       "schedule": "R/2024-05-01T12:00:00Z/PT2S"})");
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->name, "hello");
  EXPECT_TRUE(job->shell);
  EXPECT_EQ(job->retries, 2);
  EXPECT_EQ(job->cpus, 0.1);
  EXPECT_EQ(job->mem, 128);
  EXPECT_EQ(job->disk, 256);
  EXPECT_EQ(job->epsilon, Millis{60'000});
  EXPECT_FALSE(job->disabled);
  EXPECT_EQ(job->concurrency, ConcurrencyPolicy::forbid);
  EXPECT_EQ(job->catch_up, CatchUpPolicy::once);
  EXPECT_EQ(job->success_count, 0);
  EXPECT_FALSE(job->last_success.has_value());
  EXPECT_FALSE(job->is_dependent());
}

TEST(JobJson, TheSchedulerDefaultsApplyToMissingAndZeroResources) {
  JobDefaults defaults;
  defaults.cpus = 0.5;
  defaults.mem = 64;
  defaults.disk = 10;
  defaults.run_as_user = "nobody";
  defaults.epsilon = Millis{5000};
  defaults.catch_up = CatchUpPolicy::skip;
  auto job = parse(R"({"name": "a", "command": "true", "schedule": "R//PT1M", "cpus": 0,
                       "mem": 256})",
                   JobForm::scheduled, defaults);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->cpus, 0.5);
  EXPECT_EQ(job->mem, 256);
  EXPECT_EQ(job->disk, 10);
  EXPECT_EQ(job->run_as_user, "nobody");
  EXPECT_EQ(job->epsilon, Millis{5000});
  EXPECT_EQ(job->catch_up, CatchUpPolicy::skip);
}

TEST(JobJson, NumbersAndBooleansMayComeAsStringsAsInChronossDocs) {
  auto job = parse(R"({"name": "dockerjob", "command": "true", "schedule": "R//PT2M",
                       "cpus": "0.5", "mem": "512", "retries": "3", "disabled": "true",
                       "container": {"type": "docker", "image": "busybox",
                                     "forcePullImage": "true"}})");
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->cpus, 0.5);
  EXPECT_EQ(job->mem, 512);
  EXPECT_EQ(job->retries, 3);
  EXPECT_TRUE(job->disabled);
  ASSERT_TRUE(job->container.has_value());
  EXPECT_EQ(job->container->type, "DOCKER");
  EXPECT_TRUE(job->container->force_pull_image);
}

TEST(JobJson, EveryFieldSurvivesARoundTrip) {
  const std::string text = R"({
    "name": "camus_kafka2hdfs", "command": "/srv/kafka_hdfs_job.bash",
    "arguments": ["-verbose", "-debug"], "shell": false, "epsilon": "PT30M",
    "executor": "", "executorFlags": "--flag", "taskInfoData": "data", "retries": 4,
    "owner": "bofh@example.com", "ownerName": "Bofh", "description": "moves data",
    "async": false, "successCount": 190, "errorCount": 3,
    "lastSuccess": "2014-03-08T16:57:17.507Z", "lastError": "2014-03-01T00:10:15.957Z",
    "cpus": 1.0, "disk": 10240, "mem": 1024, "disabled": false, "softError": true,
    "highPriority": true, "dataProcessingJobType": true, "maxCompletionTime": 3600,
    "errorsSinceLastSuccess": 0, "runAsUser": "hdfs", "concurrent": true,
    "fetch": [{"uri": "https://example.com/f", "cache": true, "extract": false,
               "executable": true, "output_file": "f"}],
    "schedule": "R/2014-03-08T20:00:00.000Z/PT2H", "scheduleTimeZone": "Europe/Berlin",
    "environmentVariables": [{"name": "JVMOPTS", "value": "-Xmx1000m"}],
    "constraints": [["rack", "EQUALS", "rack-1"], ["host", "LIKE", "web-[0-9]+"],
                    ["zone", "UNLIKE", "z2"]],
    "container": {"type": "DOCKER", "image": "libmesos/ubuntu", "network": "BRIDGE",
                  "networkName": "net", "networkInfos": [{"name": "mynet"}],
                  "volumes": [{"containerPath": "/var/log/", "hostPath": "/logs/",
                               "mode": "rw"},
                              {"containerPath": "/tmp", "mode": "RW",
                               "external": {"name": "t", "provider": "local-persist"}}],
                  "forcePullImage": true,
                  "parameters": [{"key": "a-docker-option", "value": "xxx"}]},
    "catchUpPolicy": "all"})";
  auto job = parse(text);
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->arguments, (std::vector<std::string>{"-verbose", "-debug"}));
  EXPECT_FALSE(job->shell);
  EXPECT_EQ(job->epsilon, std::chrono::minutes{30});
  EXPECT_EQ(job->concurrency, ConcurrencyPolicy::allow);
  EXPECT_EQ(job->catch_up, CatchUpPolicy::all);
  EXPECT_EQ(format_time(*job->last_success), "2014-03-08T16:57:17.507Z");
  ASSERT_EQ(job->constraints.size(), 3u);
  EXPECT_EQ(job->constraints[1].op, Constraint::Operator::like);
  EXPECT_EQ(job->container->volumes[0].mode, std::optional<std::string>("RW"));

  json::object written = job_to_json(*job);
  auto again = parse_job(written, JobForm::any, {}, kNow);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(*again, *job);
}

TEST(JobJson, WritesChronossFieldsInChronossOrderThenOurs) {
  auto job = parse(R"({"name": "a", "command": "true", "schedule": "R//PT1M",
                       "container": {"image": "busybox"}})");
  ASSERT_TRUE(job.ok());
  std::vector<std::string> keys;
  for (const auto& field : job_to_json(*job)) keys.emplace_back(field.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"name",
                                            "command",
                                            "shell",
                                            "executor",
                                            "executorFlags",
                                            "taskInfoData",
                                            "retries",
                                            "owner",
                                            "ownerName",
                                            "description",
                                            "successCount",
                                            "errorCount",
                                            "lastSuccess",
                                            "lastError",
                                            "cpus",
                                            "disk",
                                            "mem",
                                            "disabled",
                                            "softError",
                                            "dataProcessingJobType",
                                            "errorsSinceLastSuccess",
                                            "fetch",
                                            "uris",
                                            "environmentVariables",
                                            "arguments",
                                            "highPriority",
                                            "runAsUser",
                                            "concurrent",
                                            "maxCompletionTime",
                                            "container",
                                            "constraints",
                                            "schedule",
                                            "scheduleTimeZone",
                                            "epsilon",
                                            "concurrencyPolicy",
                                            "catchUpPolicy"}));
  EXPECT_EQ(to_json_text(job_to_json(*job).at("cpus")), "0.1");
  EXPECT_EQ(to_json_text(job_to_json(*job).at("mem")), "128.0");
  EXPECT_EQ(job_to_json(*job).at("lastSuccess"), "");
}

TEST(JobJson, ADependentJobHasParentsAndNoSchedule) {
  auto job = parse(R"({"name": "child", "command": "true", "parents": ["b", "a", "b"],
                       "schedule": "ignored"})",
                   JobForm::dependent);
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_TRUE(job->is_dependent());
  EXPECT_EQ(job->parents, (std::vector<std::string>{"a", "b"}));
  json::object written = job_to_json(*job);
  EXPECT_FALSE(written.contains("schedule"));
  EXPECT_EQ(written.at("parents"), json::value(json::array{"a", "b"}));
  // Stored state tells the two apart by "parents", as Chronos does.
  EXPECT_TRUE(parse_job(written, JobForm::any, {}, kNow)->is_dependent());
}

TEST(JobJson, NoScheduleMeansOnceNowAsInChronos) {
  auto job = parse(R"({"name": "once", "command": "true"})");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->schedule, "R1/2024-05-01T12:00:00.000Z/PT24H");
}

TEST(JobJson, RefusesInvalidJobsWithTheReason) {
  EXPECT_EQ(error_of(R"({"command": "true"})"), "a job needs a 'name' string");
  EXPECT_EQ(error_of(R"([1, 2])"), "a job must be a JSON object");
  EXPECT_EQ(error_of(R"({"name": "bad name", "command": "true"})"),
            "invalid job name 'bad name': a name is 1 to 255 of A-Z a-z 0-9 _ . -");
  EXPECT_EQ(error_of(R"({"name": "a", "schedule": "R//PT1M"})"), "job 'a': 'command' is missing");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true", "schedule": "R/x/PT1M"})"),
            "job 'a': cannot parse schedule 'R/x/PT1M': invalid date-time 'x': expected "
            "YYYY-MM-DD");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true", "schedule": "R//PT1M",
                         "scheduleTimeZone": "PST"})"),
            "job 'a': cannot parse schedule 'R//PT1M': unknown time zone 'PST' (use an IANA "
            "name such as 'America/New_York')");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true", "schedule": "R/1960-01-01T00:00Z/P1D"})"),
            "job 'a': cannot parse schedule 'R/1960-01-01T00:00Z/P1D': scheduled start date "
            "'1960-01-01T00:00:00.000Z' is before 1970");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true"})", JobForm::dependent),
            "job 'a': a dependent job needs 'parents'");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true", "parents": ["b"]})"),
            "job 'a': a scheduled job has no parents (post dependent jobs to "
            "/v1/scheduler/dependency)");
  EXPECT_EQ(
      error_of(R"({"name": "a", "command": "true", "parents": ["no good"]})", JobForm::dependent),
      "job 'a': invalid parent name 'no good'");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true", "uris": ["u"],
                         "fetch": [{"uri": "u"}]})"),
            "job 'a': both 'uris' (deprecated) and 'fetch' are given; use 'fetch'");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true", "cpus": -1})"),
            "job 'a': 'cpus' must be a number from 0 to 1000000");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true", "mem": "lots"})"),
            "job 'a': 'mem' must be a number from 0 to 1000000000000");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true", "retries": 1.5})"),
            "job 'a': 'retries' must be a whole number from 0 to 1000");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true", "shell": "maybe"})"),
            "job 'a': 'shell' must be true or false");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true", "epsilon": "P1M"})"),
            "job 'a': 'epsilon': invalid duration 'P1M': years and months have no fixed length");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true", "concurrencyPolicy": "sometimes"})"),
            "job 'a': 'concurrencyPolicy' must be allow, forbid or replace");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true", "catchUpPolicy": "twice"})"),
            "job 'a': 'catchUpPolicy' must be skip, once or all");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true", "lastSuccess": "yesterday"})"),
            "job 'a': 'lastSuccess': invalid date-time 'yesterday': expected YYYY-MM-DD");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true", "arguments": "-v"})"),
            "job 'a': 'arguments' must be an array");
  EXPECT_EQ(
      error_of(R"({"name": "a", "command": "true", "environmentVariables": [{"value": "1"}]})"),
      "job 'a': an environment variable: 'name' is missing");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true", "constraints": [["rack", "GROUP_BY"]]})"),
            "job 'a': a constraint must be [attribute, operator, value], all strings");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true",
                         "constraints": [["rack", "CLUSTER", "r1"]]})"),
            "job 'a': constraint 'rack': unknown operator 'CLUSTER' (EQUALS, LIKE or UNLIKE)");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true", "constraints": [["rack", "LIKE", "("]]})"),
            "job 'a': constraint 'rack': invalid regular expression '('");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true",
                         "container": {"image": "busybox", "type": "RKT"}})"),
            "job 'a': 'container': 'type' must be DOCKER or MESOS");
  EXPECT_EQ(error_of(R"({"name": "a", "command": "true",
                         "container": {"image": "busybox", "volumes": [{"containerPath": "/x",
                                                                        "mode": "RX"}]}})"),
            "job 'a': 'container': a volume: 'mode' must be RO or RW");
}

TEST(JobJson, AContainerMayRunItsOwnEntryPoint) {
  EXPECT_EQ(error_of(R"({"name": "a", "shell": false, "container": {"image": "busybox"}})"),
            "accepted");
  // Chronos ignores a container without an image.
  auto job = parse(R"({"name": "a", "command": "true", "container": {"type": "DOCKER"}})");
  ASSERT_TRUE(job.ok());
  EXPECT_FALSE(job->container.has_value());
}

TEST(JobJson, ConcurrencyPolicyWinsOverConcurrent) {
  auto job = parse(R"({"name": "a", "command": "true", "concurrent": true,
                       "concurrencyPolicy": "REPLACE"})");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->concurrency, ConcurrencyPolicy::replace);
  EXPECT_EQ(job_to_json(*job).at("concurrent"), false);
  EXPECT_EQ(job_to_json(*job).at("concurrencyPolicy"), "replace");
}

TEST(JobJson, TheListingMirrorsUrisAndFetchAsChronossGetJobsDoes) {
  auto job = parse(R"({"name": "a", "command": "true", "uris": ["http://x/f"]})");
  ASSERT_TRUE(job.ok());
  json::object stored = job_to_json(*job);
  EXPECT_TRUE(stored.at("fetch").as_array().empty());
  json::object listed = job_to_json(*job, true);
  ASSERT_EQ(listed.at("fetch").as_array().size(), 1u);
  EXPECT_EQ(listed.at("fetch").as_array()[0].at("uri"), "http://x/f");
  EXPECT_EQ(listed.at("fetch").as_array()[0].at("extract"), true);
}

TEST(JobJson, ConstraintsMatchAgentAttributes) {
  auto job = parse(R"({"name": "a", "command": "true",
                       "constraints": [["rack", "EQUALS", "r1"], ["host", "LIKE", "web-[0-9]+"],
                                       ["zone", "UNLIKE", "z[23]"]]})");
  ASSERT_TRUE(job.ok());
  const auto& c = job->constraints;
  std::map<std::string, std::string> agent{{"rack", "r1"}, {"host", "web-12"}, {"zone", "z1"}};
  EXPECT_TRUE(c[0].matches(agent));
  EXPECT_TRUE(c[1].matches(agent));
  EXPECT_TRUE(c[2].matches(agent));
  agent = {{"rack", "r2"}, {"host", "web-12x"}, {"zone", "z2"}};
  EXPECT_FALSE(c[0].matches(agent));
  EXPECT_FALSE(c[1].matches(agent));  // the whole value must match
  EXPECT_FALSE(c[2].matches(agent));
  // A missing attribute fails all three, as in Chronos.
  EXPECT_FALSE(c[2].matches({}));
}

TEST(JobJson, ABacktrackingPatternFailsFastInsteadOfHoldingTheScheduler) {
  // Nested stars against an 8-letter host name: a backtracking matcher without a bound (what
  // std::regex was) tries every way to split it, some 20 s per match, on every offer, on the
  // scheduler's one thread (this test then ran until ctest's timeout). Now the match gives up
  // after a bounded amount of work, and neither LIKE nor UNLIKE holds.
  auto job = parse(R"({"name": "a", "command": "true",
                       "constraints": [["hostname", "LIKE", "((.*)*)*x"],
                                       ["hostname", "UNLIKE", "((.*)*)*x"]]})");
  ASSERT_TRUE(job.ok()) << job.error().message;
  std::map<std::string, std::string> agent{{"hostname", "node-123"}};
  EXPECT_FALSE(job->constraints[0].matches(agent));
  EXPECT_FALSE(job->constraints[1].matches(agent));
  // A long attribute value does not exhaust the stack (std::regex recursed once per character).
  std::map<std::string, std::string> long_value{{"hostname", std::string(200'000, 'a')}};
  Constraint alternation{"hostname", Constraint::Operator::like, "(a|b)*"};
  Constraint negated{"hostname", Constraint::Operator::unlike, "(a|b)*"};
  EXPECT_FALSE(alternation.matches(long_value) && negated.matches(long_value));
  // Ordinary patterns still match, compiled once when the job is read.
  ASSERT_NE(job->constraints[0].pattern, nullptr);
  Constraint plain{"hostname", Constraint::Operator::like, "node-[0-9]+"};
  EXPECT_TRUE(plain.matches(agent));
  // Java's defaults, as Chronos matched: '.' is not a newline, '^' and '$' are the ends.
  std::map<std::string, std::string> two_lines{{"hostname", "a\nweb"}};
  EXPECT_FALSE((Constraint{"hostname", Constraint::Operator::like, "a.web"}.matches(two_lines)));
  EXPECT_FALSE(
      (Constraint{"hostname", Constraint::Operator::like, "(?s:.*)^web"}.matches(two_lines)));
}

TEST(JobJson, ANewJobsNameFitsATaskIdAndItsScheduleRepeatsAtMostEverySecond) {
  auto check = [](const std::string& text) {
    auto job = parse(text, JobForm::any);
    if (!job) return "parse: " + job.error().message;
    auto s = check_new_job(*job, kNow);
    return s ? std::string("accepted") : s.error().message;
  };
  // A name of 200 is read (a stored job keeps it) but not taken for a new job: its runs' task
  // ids, and the containers an agent names after them, would be refused by the cluster.
  std::string long_name(200, 'n');
  auto long_job = parse(R"({"name": ")" + long_name + R"(", "command": "true"})");
  ASSERT_TRUE(long_job.ok());
  EXPECT_NE(check(R"({"name": ")" + long_name + R"(", "command": "true"})").find("at most 150"),
            std::string::npos);
  EXPECT_EQ(check(R"({"name": ")" + std::string(150, 'n') + R"(", "command": "true"})"),
            "accepted");
  // A job every millisecond (or half second) is refused; a single run, a second, a day, cron and
  // dependent jobs are fine.
  EXPECT_EQ(check(R"({"name": "a", "command": "true", "schedule": "R//PT0.001S"})"),
            "job 'a': cannot use schedule 'R//PT0.001S': a schedule that repeats needs a period "
            "of at least PT1S");
  EXPECT_NE(check(R"({"name": "a", "command": "true", "schedule": "R5//PT0.5S"})"), "accepted");
  EXPECT_EQ(check(R"({"name": "a", "command": "true", "schedule": "R1//PT0.5S"})"), "accepted");
  EXPECT_EQ(check(R"({"name": "a", "command": "true", "schedule": "R//PT1S"})"), "accepted");
  EXPECT_EQ(check(R"({"name": "a", "command": "true", "schedule": "R//P1D"})"), "accepted");
  EXPECT_EQ(check(R"({"name": "a", "command": "true", "schedule": "cron:* * * * *"})"), "accepted");
  EXPECT_EQ(check(R"({"name": "b", "command": "true", "parents": ["a"]})"), "accepted");
}

TEST(JobJson, DotAndDotDotAreNotNamesOfNewJobs) {
  auto check = [](const std::string& name) {
    auto job = parse(R"({"name": ")" + name + R"(", "command": "true"})", JobForm::any);
    if (!job) return "parse: " + job.error().message;
    auto s = check_new_job(*job, kNow);
    return s ? std::string("accepted") : s.error().message;
  };
  // A URL's path reads them as dot segments: /job/.. is /, so no route reaches such a job.
  EXPECT_EQ(check("."),
            "invalid job name '.': '.' and '..' are not job names: a URL's path reads them as "
            "dot segments, which clients remove ('/job/..' is '/')");
  EXPECT_EQ(check(".."),
            "invalid job name '..': '.' and '..' are not job names: a URL's path reads them as "
            "dot segments, which clients remove ('/job/..' is '/')");
  // Every other name made of the allowed characters, dots included, still is one.
  for (const char* name : {"...", ".a", "a.", "..a", "a..b", "-", "_", ".-", "stat", "runs"}) {
    EXPECT_EQ(check(name), "accepted") << name;
  }
  // A stored job of that name is still read back, as every other name rule only refuses new
  // jobs (its state and runs are not dropped on restore).
  EXPECT_TRUE(parse(R"({"name": "..", "command": "true"})", JobForm::any).ok());
  EXPECT_EQ(error_of(R"({"name": "./x", "command": "true"})"),
            "invalid job name './x': a name is 1 to 255 of A-Z a-z 0-9 _ . -");
}

TEST(JobJson, NumbersAreWrittenAsJavasDoubleToStringWritesThem) {
  // What Chronos (Scala's Double.toString, Jackson) writes for a job's cpus, mem and disk.
  EXPECT_EQ(java_double_text(128), "128.0");
  EXPECT_EQ(java_double_text(0.5), "0.5");
  EXPECT_EQ(java_double_text(0.1), "0.1");
  EXPECT_EQ(java_double_text(1), "1.0");
  EXPECT_EQ(java_double_text(256), "256.0");
  EXPECT_EQ(java_double_text(1.25), "1.25");
  EXPECT_EQ(java_double_text(0.001), "0.001");
  EXPECT_EQ(java_double_text(0.0015), "0.0015");
  EXPECT_EQ(java_double_text(9.9e-4), "9.9E-4");
  EXPECT_EQ(java_double_text(1e-4), "1.0E-4");
  EXPECT_EQ(java_double_text(9999999), "9999999.0");
  EXPECT_EQ(java_double_text(9999999.5), "9999999.5");
  EXPECT_EQ(java_double_text(1e7), "1.0E7");
  EXPECT_EQ(java_double_text(12345678), "1.2345678E7");
  EXPECT_EQ(java_double_text(1e6), "1000000.0");
  EXPECT_EQ(java_double_text(1.5e12), "1.5E12");
  EXPECT_EQ(java_double_text(1e12), "1.0E12");
  EXPECT_EQ(java_double_text(123456.789), "123456.789");
  EXPECT_EQ(java_double_text(0), "0.0");
  EXPECT_EQ(java_double_text(-0.0), "-0.0");
  EXPECT_EQ(java_double_text(-2.5), "-2.5");
  EXPECT_EQ(java_double_text(-3e10), "-3.0E10");
  EXPECT_EQ(java_double_text(1.7976931348623157e308), "1.7976931348623157E308");
  // The text reads back as the same double.
  for (double value : {0.1, 1.0 / 3, 2.0 / 3 * 1e9, 123456789.123, 1e-7 / 3}) {
    EXPECT_EQ(std::stod(java_double_text(value)), value) << java_double_text(value);
  }
  // JSON answers write numbers with a fraction the same way, as Jackson does.
  EXPECT_EQ(to_json_text(json::parse(R"([1.0E7, 12345678.5, 0.0001, 1e12])")),
            "[1.0E7,1.23456785E7,1.0E-4,1.0E12]");
}

TEST(JobJson, LastStateComparesLastSuccessAndLastError) {
  Job job;
  EXPECT_EQ(last_state(job), "fresh");
  job.last_error = kNow;
  EXPECT_EQ(last_state(job), "failure");
  job.last_success = kNow + Millis{1};
  EXPECT_EQ(last_state(job), "success");
  job.last_error.reset();
  EXPECT_EQ(last_state(job), "success");
}

TEST(JobJson, JsonTextWritesFractionsPlainly) {
  EXPECT_EQ(to_json_text(json::parse(R"({"a": [0.5, 128.0, 1, -2, "x", null, true, false]})")),
            R"({"a":[0.5,128.0,1,-2,"x",null,true,false]})");
  // Strings are escaped so that the text parses back to the same value.
  json::value tricky = json::object{{"q\"uote", "back\\slash\n\t\x01\xc3\xa9"}};
  EXPECT_EQ(to_json_text(tricky), R"({"q\"uote":"back\\slash\n\t\u0001é"})");
  EXPECT_EQ(json::parse(to_json_text(tricky)), tricky);
}

}  // namespace
}  // namespace tessera::chronos
