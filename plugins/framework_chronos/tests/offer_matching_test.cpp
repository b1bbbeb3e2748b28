// Which waiting runs fit on an offer: resources taken first fit, constraints against the
// agent's attributes and hostname.
#include "offer_matching.h"

#include <gtest/gtest.h>

namespace tessera::chronos {
namespace {

protocol::scheduler::Offer offer(double cpus, double mem, double disk) {
  protocol::scheduler::Offer o;
  o.offer_id = "o1";
  o.agent_id = "a1";
  o.hostname = "node-7";
  o.resources.scalars = {{"cpus", cpus}, {"mem", mem}, {"disk", disk}};
  o.attributes = {{"rack", "r1"}, {"zone", "east-2"}};
  return o;
}

Constraint constraint(std::string attribute, Constraint::Operator op, std::string value) {
  return Constraint{std::move(attribute), op, std::move(value)};
}

TEST(OfferMatching, RunsTakeResourcesFirstFitAndSkipWhatNoLongerFits) {
  std::vector<RunDemand> demands = {
      {1, 100, 10, {}}, {2, 100, 10, {}}, {1, 100, 10, {}}, {0.5, 900, 0, {}}};
  // 2 cpus: the first (1) fits, the second (2) does not, the third (1) does; the fourth wants
  // more memory than is left.
  EXPECT_EQ(place_on_offer(offer(2, 1000, 100), demands), (std::vector<size_t>{0, 2}));
  EXPECT_EQ(place_on_offer(offer(0.05, 1000, 100), demands), (std::vector<size_t>{}));
  // Disk counts too.
  EXPECT_EQ(place_on_offer(offer(8, 4000, 15), demands), (std::vector<size_t>{0, 3}));
}

TEST(OfferMatching, ConstraintsMatchAttributesAndTheHostname) {
  using Op = Constraint::Operator;
  auto with = [](Constraint c) { return RunDemand{0.1, 10, 0, {std::move(c)}}; };
  std::vector<RunDemand> demands = {
      with(constraint("rack", Op::equals, "r1")),          // 0: yes
      with(constraint("rack", Op::equals, "r2")),          // 1: no
      with(constraint("zone", Op::like, "east-.*")),       // 2: yes
      with(constraint("zone", Op::like, "east")),          // 3: no (the whole value must match)
      with(constraint("zone", Op::unlike, "west.*")),      // 4: yes
      with(constraint("gpu", Op::unlike, "x")),            // 5: no (a missing attribute fails)
      with(constraint("hostname", Op::equals, "node-7")),  // 6: yes
  };
  EXPECT_EQ(place_on_offer(offer(4, 1000, 100), demands), (std::vector<size_t>{0, 2, 4, 6}));
}

TEST(OfferMatching, AnAttributeNamedHostnameWinsOverTheAgentsHostname) {
  auto o = offer(1, 100, 0);
  o.attributes.push_back({"hostname", "alias"});
  EXPECT_EQ(offer_attributes(o).at("hostname"), "alias");
  EXPECT_EQ(offer_attributes(offer(1, 100, 0)).at("hostname"), "node-7");
}

TEST(OfferMatching, ARunGetsChronossVariablesWhichTheJobsOwnDoNotReplace) {
  Job job;
  job.name = "report";
  job.owner = "ops@example.com";
  job.cpus = 0.5;
  job.mem = 64;
  job.disk = 10;
  job.environment_variables = {{"HOST", "elsewhere"},
                               {"MESOS_TASK_ID", "forged"},
                               {"MODE", "first"},
                               {"MODE", "second"},
                               {"EMPTY", ""}};
  TimePoint scheduled = *parse_time("2024-05-01T12:00:00.250Z");
  std::string task = "report@2024-05-01T12:00:00.250Z#2";
  auto env = task_environment(job, task, scheduled, 2, "node-7");
  EXPECT_EQ(env.at("mesos_task_id"), task);
  EXPECT_EQ(env.at("MESOS_TASK_ID"), task);
  EXPECT_EQ(env.at("CHRONOS_JOB_NAME"), "report");
  EXPECT_EQ(env.at("CHRONOS_JOB_OWNER"), "ops@example.com");
  EXPECT_EQ(env.at("HOST"), "node-7");
  // As Chronos writes them (Java's Double.toString), not "64" and "10".
  EXPECT_EQ(env.at("CHRONOS_RESOURCE_CPU"), "0.5");
  EXPECT_EQ(env.at("CHRONOS_RESOURCE_MEM"), "64.0");
  EXPECT_EQ(env.at("CHRONOS_RESOURCE_DISK"), "10.0");
  // Chronos's: the run's due time in milliseconds since 1970, and the attempt.
  EXPECT_EQ(env.at("CHRONOS_JOB_RUN_TIME"), "1714564800250");
  EXPECT_EQ(env.at("CHRONOS_JOB_RUN_ATTEMPT"), "2");
  // The job's own: the first of a name, never over Chronos's.
  EXPECT_EQ(env.at("MODE"), "first");
  EXPECT_EQ(env.at("EMPTY"), "");
  EXPECT_EQ(env.size(), 12u);
}

TEST(OfferMatching, ResourceVariablesAreWrittenAsChronosWritesThemForEveryValueAJobCanHave) {
  auto env_of = [](double cpus, double mem, double disk) {
    Job job;
    job.name = "sized";
    job.cpus = cpus;
    job.mem = mem;
    job.disk = disk;
    auto env = task_environment(job, "sized@2024-05-01T12:00:00.000Z#0", TimePoint{}, 0, "h");
    return env.at("CHRONOS_RESOURCE_CPU") + " " + env.at("CHRONOS_RESOURCE_MEM") + " " +
           env.at("CHRONOS_RESOURCE_DISK");
  };
  // The scheduler's defaults, whole and fractional amounts, and the largest a job may ask
  // (cpus 1e6, mem and disk 1e12) and a tiny one: Java's plain form below 10^7, its
  // scientific form from there and below 10^-3.
  EXPECT_EQ(env_of(0.1, 128, 256), "0.1 128.0 256.0");
  EXPECT_EQ(env_of(1, 0.5, 1024.25), "1.0 0.5 1024.25");
  EXPECT_EQ(env_of(1e6, 1e12, 1e12), "1000000.0 1.0E12 1.0E12");
  EXPECT_EQ(env_of(0.0001, 1e7, 12345678.9), "1.0E-4 1.0E7 1.23456789E7");
  EXPECT_EQ(env_of(0.001, 9999999, 0), "0.001 9999999.0 0.0");
}

TEST(OfferMatching, TaskResourcesLeaveOutAZeroDisk) {
  auto resources = task_resources(RunDemand{0.5, 64, 0, {}});
  EXPECT_EQ(resources.scalars.count("disk"), 0u);
  EXPECT_DOUBLE_EQ(resources.scalars.at("cpus"), 0.5);
  EXPECT_DOUBLE_EQ(task_resources(RunDemand{0.5, 64, 32, {}}).scalars.at("disk"), 32);
}

}  // namespace
}  // namespace tessera::chronos
