// The tail of a finished run's stdout and stderr, read through the leading master (files.request),
// which asks the agent that ran the task: the scheduler needs no access to agents' disks, so runs
// on any machine of the cluster show their output.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/protocol/files.h"
#include "tessera/sdk/channels.h"

namespace tessera::chronos {

class OutputReader {
 public:
  // `tail_bytes`: at most this much of each file (0: nothing is read).
  OutputReader(sdk::Bus& bus, size_t tail_bytes) : bus_(bus), tail_bytes_(tail_bytes) {}

  // Reads the last bytes of the task's stdout and stderr from the master at `master_endpoint`,
  // then calls `done` with stdout's tail and, when stderr has any, "[stderr]\n" and its tail.
  // `done` is always called, with what could be read (nothing when the master or the agent does
  // not answer within a few seconds, or the task has no sandbox). At most kMaxReading reads are
  // under way at once; the others wait their turn in the order asked.
  static constexpr size_t kMaxReading = 256;
  void read(const std::string& master_endpoint, const std::string& framework_id,
            const std::string& task_id, std::function<void(std::string)> done);

  // Joins stdout's and stderr's tails as read() gives them.
  static std::string joined(const std::string& out, const std::string& err);

 private:
  struct Reading;
  sdk::Client* client_for(const std::string& endpoint);
  void start(const std::shared_ptr<Reading>& reading, std::function<void(std::string)> done);
  // A read is over: its `done` is called, and the next waiting read starts.
  void finished(const std::function<void(std::string)>& done, std::string output);
  // The last tail_bytes_ of `file`, `size` bytes long when the sandbox was listed.
  void read_tail(const std::shared_ptr<Reading>& reading, const std::string& file, uint64_t size,
                 std::function<void(std::string)> then);
  static std::optional<protocol::files::Answer> answer_of(const Result<Envelope>& reply);

  sdk::Bus& bus_;
  size_t tail_bytes_;
  std::unique_ptr<sdk::Client> client_;
  std::string endpoint_;
  // Connections to masters that no longer lead, kept until their requests are answered or
  // time out (a client dropped with requests in flight would never call their handlers).
  std::vector<std::unique_ptr<sdk::Client>> retired_;
  // 10,000 runs ending at once would ask the master 10,000 times at once: more than a
  // connection's send queue holds (the reads beyond it failed, and their output was lost).
  size_t reading_ = 0;
  bool starting_ = false;
  std::deque<std::pair<std::shared_ptr<Reading>, std::function<void(std::string)>>> waiting_;
};

}  // namespace tessera::chronos
