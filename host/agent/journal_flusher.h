// JournalFlusher: runs the agent's journal flushes (Checkpoint::flush, an fdatasync) on a thread
// of its own, so that the agent's loop goes on serving launch answers, exits and
// acknowledgements while the disk works (3-4 ms a flush on this machine's disk; a burst of 1,000
// tasks made about 1,500 of them, and the loop stood still for each).
//
// One flush at a time. Its result is not handed over by a callback: the flusher posts a wake-up
// to the loop, and the owner takes the result with take() there; wait() blocks until the flush
// in progress is done and takes its result, for a loop that has stopped. So nothing of the
// owner ever runs on the flusher's thread.
//
// Threading: start(), take(), wait() and the destructor on the owner's loop thread; the
// callback given to the constructor runs on the flusher's thread and must only post to the loop.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "checkpoint.h"

namespace tessera::host::agent {

class JournalFlusher {
 public:
  // `wake` is called on the flusher's thread when a flush is done (EventLoop::post of a call
  // that runs take()).
  explicit JournalFlusher(std::function<void()> wake) : wake_(std::move(wake)) {
    thread_ = std::thread([this] { run(); });
  }
  ~JournalFlusher() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  JournalFlusher(const JournalFlusher&) = delete;
  JournalFlusher& operator=(const JournalFlusher&) = delete;

  // Flushes `descriptor` (a duplicate from Checkpoint::begin_flush, closed by the flush).
  void start(int descriptor, std::filesystem::path journal) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = Job{descriptor, std::move(journal)};
      result_.reset();
    }
    changed_.notify_all();
  }
  // The result of the flush, once it is done; nothing while it runs (or when none was started).
  std::optional<Status> take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(result_, std::nullopt);
  }
  // Waits for the flush in progress, if any, and takes its result.
  std::optional<Status> wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return !job_.has_value(); });
    return std::exchange(result_, std::nullopt);
  }

 private:
  struct Job {
    int descriptor = -1;
    std::filesystem::path journal;
  };

  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      changed_.wait(lock, [this] { return stop_ || job_.has_value(); });
      if (!job_) return;  // stopping, nothing left to flush
      Job job = *job_;
      lock.unlock();
      Status flushed = Checkpoint::flush(job.descriptor, job.journal);
      lock.lock();
      job_.reset();
      result_ = std::move(flushed);
      changed_.notify_all();
      if (wake_) wake_();
    }
  }

  std::function<void()> wake_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<Job> job_;
  std::optional<Status> result_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace tessera::host::agent
