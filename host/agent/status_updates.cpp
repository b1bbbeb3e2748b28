#include "status_updates.h"

#include <algorithm>
#include <cstdio>
#include <random>

namespace tessera::host::agent {

void StatusUpdateQueue::push(const TaskKey& key, protocol::TaskStatus status, TimePoint now) {
  auto [it, inserted] = streams_.try_emplace(key);
  Stream& stream = it->second;
  if (inserted) {
    stream.due = now;
    stream.backoff = initial_;
  }
  stream.updates.push_back(std::move(status));
}

std::vector<protocol::TaskStatus> StatusUpdateQueue::due(TimePoint now) {
  std::vector<protocol::TaskStatus> out;
  for (auto& [key, stream] : streams_) {
    if (stream.updates.empty() || stream.due > now) continue;
    out.push_back(stream.updates.front());
    stream.due = now + stream.backoff;
    stream.backoff = std::min(stream.backoff * 2, max_);
  }
  return out;
}

std::optional<protocol::TaskStatus> StatusUpdateQueue::acknowledge(const TaskKey& key,
                                                                   const std::string& uuid,
                                                                   TimePoint now) {
  auto it = streams_.find(key);
  if (it == streams_.end() || it->second.updates.empty()) return std::nullopt;
  Stream& stream = it->second;
  if (uuid.empty() || stream.updates.front().uuid != uuid) return std::nullopt;
  protocol::TaskStatus acked = std::move(stream.updates.front());
  stream.updates.pop_front();
  if (stream.updates.empty()) {
    streams_.erase(it);
  } else {
    stream.due = now;
    stream.backoff = initial_;
  }
  return acked;
}

void StatusUpdateQueue::reset(TimePoint now) {
  for (auto& [key, stream] : streams_) {
    stream.due = now;
    stream.backoff = initial_;
  }
}

std::vector<protocol::TaskStatus> StatusUpdateQueue::pending(const TaskKey& key) const {
  auto it = streams_.find(key);
  if (it == streams_.end()) return {};
  return {it->second.updates.begin(), it->second.updates.end()};
}

std::optional<StatusUpdateQueue::TimePoint> StatusUpdateQueue::next_due() const {
  std::optional<TimePoint> next;
  for (const auto& [key, stream] : streams_) {
    if (stream.updates.empty()) continue;
    if (!next || stream.due < *next) next = stream.due;
  }
  return next;
}

size_t StatusUpdateQueue::size() const {
  size_t n = 0;
  for (const auto& [key, stream] : streams_) n += stream.updates.size();
  return n;
}

std::string random_uuid() {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  char buffer[33];
  std::snprintf(buffer, sizeof buffer, "%016llx%016llx",
                static_cast<unsigned long long>(generator()),
                static_cast<unsigned long long>(generator()));
  return buffer;
}

}  // namespace tessera::host::agent
