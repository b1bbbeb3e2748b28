#include "run_history.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <vector>

#include "json_fields.h"

namespace tessera::chronos {

namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 3> kTriggerNames{"schedule", "parent", "manual"};
constexpr std::array<std::string_view, 7> kStatusNames{"queued", "running", "succeeded", "failed",
                                                       "killed", "skipped", "unknown"};
// What Chronos's taskStatHistory calls each status (Mesos task states).
constexpr std::array<std::string_view, 7> kTaskStates{
    "TASK_STAGING", "TASK_RUNNING", "TASK_FINISHED", "TASK_FAILED",
    "TASK_KILLED",  "TASK_DROPPED", "TASK_UNKNOWN"};

template <size_t N>
std::optional<size_t> index_of(const std::array<std::string_view, N>& names,
                               std::string_view name) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == name) return i;
  }
  return std::nullopt;
}

json::value optional_time(const std::optional<TimePoint>& t) {
  if (!t) return nullptr;
  return json::string(format_time(*t));
}

// Joda's "MM/dd/yy HH:mm:ss", in UTC, as Chronos's job/stat writes start and end times.
std::string stat_time(const std::optional<TimePoint>& t) {
  if (!t) return "N/A";
  auto day = date::floor<date::days>(*t);
  date::year_month_day ymd{day};
  date::hh_mm_ss<std::chrono::seconds> time{date::floor<std::chrono::seconds>(*t - day)};
  std::array<char, 32> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%02u/%02u/%02d %02d:%02d:%02d",
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(ymd.year()) % 100, static_cast<int>(time.hours().count()),
                static_cast<int>(time.minutes().count()), static_cast<int>(time.seconds().count()));
  return buffer.data();
}

// Joda's period format in Chronos's job/stat ("1h2m3s", "1h0s", "45s"): hours and minutes
// when not zero, seconds always; a duration becomes hours, minutes and seconds (no days).
std::string stat_duration(Millis duration) {
  std::int64_t total = duration.count() / 1000;
  std::int64_t hours = total / 3600;
  std::int64_t minutes = total / 60 % 60;
  std::int64_t seconds = total % 60;
  std::string out;
  if (hours != 0) out += std::to_string(hours) + "h";
  if (minutes != 0) out += std::to_string(minutes) + "m";
  out += std::to_string(seconds) + "s";
  return out;
}

// Codahale Metrics' UniformSnapshot.getValue on sorted values.
double quantile(const std::vector<std::int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  double position = q * static_cast<double>(sorted.size() + 1);
  auto index = static_cast<size_t>(position);
  if (index < 1) return static_cast<double>(sorted.front());
  if (index >= sorted.size()) return static_cast<double>(sorted.back());
  double lower = static_cast<double>(sorted[index - 1]);
  double upper = static_cast<double>(sorted[index]);
  return lower + (position - std::floor(position)) * (upper - lower);
}

// The length of the UTF-8 sequence that starts with `lead`, or 0 if it cannot start one.
size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

bool valid_sequence(std::string_view text, size_t at, size_t length) {
  if (at + length > text.size()) return false;
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[at + i]); };
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return false;
  }
  // Overlong forms, surrogates and code points past U+10FFFF.
  if (length == 3 && byte(0) == 0xe0 && byte(1) < 0xa0) return false;
  if (length == 3 && byte(0) == 0xed && byte(1) >= 0xa0) return false;
  if (length == 4 && byte(0) == 0xf0 && byte(1) < 0x90) return false;
  if (length == 4 && byte(0) == 0xf4 && byte(1) >= 0x90) return false;
  return true;
}

}  // namespace

std::string_view to_string(RunTrigger trigger) {
  return kTriggerNames[static_cast<size_t>(trigger)];
}

std::string_view to_string(RunStatus status) { return kStatusNames[static_cast<size_t>(status)]; }

std::optional<RunTrigger> run_trigger_from(std::string_view name) {
  auto index = index_of(kTriggerNames, name);
  if (!index) return std::nullopt;
  return static_cast<RunTrigger>(*index);
}

std::string task_id(const std::string& run_id, int attempt) {
  return run_id + "#" + std::to_string(attempt);
}

std::optional<std::pair<std::string, int>> parse_task_id(std::string_view task_id) {
  size_t hash = task_id.rfind('#');
  if (hash == std::string_view::npos || hash == 0) return std::nullopt;
  std::string_view number = task_id.substr(hash + 1);
  int attempt = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), attempt);
  if (ec != std::errc() || end != number.data() + number.size() || attempt < 0 || number.empty()) {
    return std::nullopt;
  }
  return std::make_pair(std::string(task_id.substr(0, hash)), attempt);
}

json::object to_json(const RunRecord& record) {
  json::object out;
  out["runId"] = record.run_id;
  out["taskId"] = task_id(record.run_id, record.attempt);
  out["trigger"] = to_string(record.trigger);
  out["attempt"] = record.attempt;
  out["scheduled"] = format_time(record.scheduled);
  out["queued"] = format_time(record.queued);
  out["agent"] = record.agent;
  out["started"] = optional_time(record.started);
  out["ended"] = optional_time(record.ended);
  out["exitStatus"] = record.exit_status ? json::value(*record.exit_status) : json::value(nullptr);
  out["status"] = to_string(record.status);
  out["message"] = record.message;
  out["outputTail"] = record.output_tail;
  return out;
}

Result<RunRecord> run_record_from_json(const json::value& value) {
  if (!value.is_object()) return make_error("a run record must be an object");
  FieldReader in(value.get_object(), "run record");
  RunRecord record;
  record.run_id = in.text("runId");
  if (record.run_id.empty()) in.fail("'runId' is missing");
  auto trigger = run_trigger_from(in.text("trigger"));
  if (!trigger) in.fail("unknown 'trigger'");
  record.trigger = trigger.value_or(RunTrigger::schedule);
  record.attempt = static_cast<int>(in.integer("attempt", 0, 1'000'000));
  auto scheduled = in.time("scheduled");
  auto queued = in.time("queued");
  if (!scheduled || !queued) in.fail("'scheduled' and 'queued' are required");
  record.scheduled = scheduled.value_or(TimePoint{});
  record.queued = queued.value_or(TimePoint{});
  record.agent = in.text("agent");
  record.started = in.time("started");
  record.ended = in.time("ended");
  if (const json::value* exit = in.find("exitStatus")) {
    if (exit->is_int64() && std::abs(exit->get_int64()) < 1'000'000) {
      record.exit_status = static_cast<int>(exit->get_int64());
    } else {
      in.fail("'exitStatus' must be a small whole number");
    }
  }
  auto status = index_of(kStatusNames, in.text("status"));
  if (!status) in.fail("unknown 'status'");
  record.status = static_cast<RunStatus>(status.value_or(0));
  record.message = in.text("message");
  record.output_tail = in.text("outputTail");
  if (in.error()) return *in.error();
  return record;
}

std::string output_tail(std::string_view output, size_t limit) {
  size_t at = 0;
  if (output.size() > limit) {
    output = output.substr(output.size() - limit);
    // Skip the continuation bytes whose lead byte was cut off.
    while (at < output.size() && at < 3 &&
           (static_cast<unsigned char>(output[at]) & 0xc0) == 0x80) {
      ++at;
    }
  }
  std::string out;
  out.reserve(output.size() - at);
  while (at < output.size()) {
    size_t length = sequence_length(static_cast<unsigned char>(output[at]));
    if (length != 0 && valid_sequence(output, at, length)) {
      out.append(output.substr(at, length));
      at += length;
    } else {
      out.append("\xef\xbf\xbd");  // U+FFFD
      ++at;
    }
  }
  return out;
}

RunRecord& RunHistory::add(RunRecord record) {
  records_.push_back(std::move(record));
  while (records_.size() > std::max<size_t>(limit_, 1)) records_.pop_front();
  return records_.back();
}

RunRecord* RunHistory::find(const std::string& run_id, int attempt) {
  for (auto it = records_.rbegin(); it != records_.rend(); ++it) {
    if (it->run_id == run_id && it->attempt == attempt) return &*it;
  }
  return nullptr;
}

void RunHistory::set_limit(size_t limit) {
  limit_ = limit;
  while (records_.size() > std::max<size_t>(limit_, 1)) records_.pop_front();
}

json::array RunHistory::to_json() const {
  json::array out;
  out.reserve(records_.size());
  for (auto it = records_.rbegin(); it != records_.rend(); ++it) {
    out.push_back(chronos::to_json(*it));
  }
  return out;
}

void RunTimes::add(Millis run_time) {
  values_.push_back(std::max<std::int64_t>(run_time.count(), 0));
  while (values_.size() > std::max<size_t>(window_, 1)) values_.pop_front();
}

void RunTimes::set_window(size_t window) {
  window_ = window;
  while (values_.size() > std::max<size_t>(window_, 1)) values_.pop_front();
}

RunTimes::Snapshot RunTimes::snapshot() const {
  Snapshot out;
  std::vector<std::int64_t> sorted(values_.begin(), values_.end());
  std::sort(sorted.begin(), sorted.end());
  out.count = sorted.size();
  out.p75 = quantile(sorted, 0.75);
  out.p95 = quantile(sorted, 0.95);
  out.p98 = quantile(sorted, 0.98);
  out.p99 = quantile(sorted, 0.99);
  out.median = quantile(sorted, 0.5);
  if (!sorted.empty()) {
    double sum = std::accumulate(sorted.begin(), sorted.end(), 0.0);
    out.mean = sum / static_cast<double>(sorted.size());
  }
  return out;
}

json::object job_stat_json(const std::string& job_name, const RunTimes& times,
                           const RunHistory& history) {
  RunTimes::Snapshot snapshot = times.snapshot();
  json::object histogram;
  histogram["75thPercentile"] = snapshot.p75;
  histogram["95thPercentile"] = snapshot.p95;
  histogram["98thPercentile"] = snapshot.p98;
  histogram["99thPercentile"] = snapshot.p99;
  histogram["median"] = snapshot.median;
  histogram["mean"] = snapshot.mean;
  histogram["count"] = snapshot.count;

  json::array tasks;
  for (auto it = history.records().rbegin(); it != history.records().rend(); ++it) {
    const RunRecord& record = *it;
    if (record.status == RunStatus::skipped) continue;
    json::object task;
    task["taskId"] = task_id(record.run_id, record.attempt);
    task["jobName"] = job_name;
    task["slaveId"] = record.agent;
    task["startTime"] = stat_time(record.started);
    task["endTime"] = stat_time(record.ended);
    if (record.started && record.ended) {
      task["duration"] = stat_duration(*record.ended - *record.started);
    }
    task["status"] = kTaskStates[static_cast<size_t>(record.status)];
    tasks.push_back(std::move(task));
  }
  json::object out;
  out["histogram"] = std::move(histogram);
  out["taskStatHistory"] = std::move(tasks);
  return out;
}

}  // namespace tessera::chronos
