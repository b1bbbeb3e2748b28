#include "output_reader.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>

#include "tessera/protocol/files.h"

namespace tessera::chronos {

namespace files = protocol::files;

namespace {
// Each of the four requests (two sizes, two reads) waits this long for the master, which waits
// for the agent.
constexpr std::chrono::milliseconds kRequestTimeout{3000};
}  // namespace

struct OutputReader::Reading {
  std::string endpoint;
  std::string framework_id;
  std::string task_id;
};

std::string OutputReader::joined(const std::string& out, const std::string& err) {
  if (err.empty()) return out;
  return out + (out.empty() || out.back() == '\n' ? "" : "\n") + "[stderr]\n" + err;
}

sdk::Client* OutputReader::client_for(const std::string& endpoint) {
  std::erase_if(retired_, [](const auto& client) { return client->in_flight() == 0; });
  if (client_ && endpoint_ == endpoint) return client_.get();
  if (client_) retired_.push_back(std::move(client_));
  auto client = std::make_unique<sdk::Client>(bus_, "chronos.output");
  if (!client->connect(endpoint)) return nullptr;
  client_ = std::move(client);
  endpoint_ = endpoint;
  return client_.get();
}

void OutputReader::read(const std::string& master_endpoint, const std::string& framework_id,
                        const std::string& task_id, std::function<void(std::string)> done) {
  if (tail_bytes_ == 0 || master_endpoint.empty()) return done("");
  auto reading = std::make_shared<Reading>(Reading{master_endpoint, framework_id, task_id});
  if (reading_ >= kMaxReading) {
    waiting_.emplace_back(std::move(reading), std::move(done));
    return;
  }
  start(reading, std::move(done));
}

void OutputReader::finished(const std::function<void(std::string)>& done, std::string output) {
  --reading_;
  done(std::move(output));
  // `done` may have asked for more reads; they wait behind the ones already waiting. A read
  // that fails at once ends inside start(): the outermost call starts the next ones, so that a
  // master that cannot be reached does not nest one call per waiting read.
  if (starting_) return;
  starting_ = true;
  while (reading_ < kMaxReading && !waiting_.empty()) {
    auto [reading, next] = std::move(waiting_.front());
    waiting_.pop_front();
    start(reading, std::move(next));
  }
  starting_ = false;
}

void OutputReader::start(const std::shared_ptr<Reading>& reading,
                         std::function<void(std::string)> done) {
  ++reading_;
  // One listing of the sandbox gives both files' sizes; only a file with something in it is
  // read, from where its tail starts. Every request costs the master a lookup of the task, and
  // most runs write little or nothing: a run that printed nothing costs one request, not four.
  sdk::Client* client = client_for(reading->endpoint);
  if (client == nullptr) return finished(done, "");
  files::Request listing;
  listing.operation = files::kBrowse;
  listing.framework_id = reading->framework_id;
  listing.task_id = reading->task_id;
  client->request(
      listing,
      [this, reading, done = std::move(done)](Result<Envelope> reply) mutable {
        auto listed = answer_of(reply);
        if (!listed) return finished(done, "");
        uint64_t out_size = 0;
        uint64_t err_size = 0;
        for (const files::Entry& entry : listed->entries) {
          if (entry.path == "stdout") out_size = entry.size;
          if (entry.path == "stderr") err_size = entry.size;
        }
        read_tail(reading, "stdout", out_size,
                  [this, reading, err_size, done = std::move(done)](std::string out) mutable {
                    read_tail(reading, "stderr", err_size,
                              [this, out = std::move(out), done = std::move(done)](
                                  const std::string& err) { finished(done, joined(out, err)); });
                  });
      },
      kRequestTimeout);
}

std::optional<files::Answer> OutputReader::answer_of(const Result<Envelope>& reply) {
  if (!reply || !reply->is<files::Answer>()) return std::nullopt;
  auto body = reply->body<files::Answer>();
  if (!body || !body->code.empty()) return std::nullopt;
  return std::move(*body);
}

void OutputReader::read_tail(const std::shared_ptr<Reading>& reading, const std::string& file,
                             uint64_t size, std::function<void(std::string)> then) {
  if (size == 0) return then("");
  sdk::Client* client = client_for(reading->endpoint);
  if (client == nullptr) return then("");
  uint64_t want = std::min<uint64_t>(tail_bytes_, files::kMaxReadBytes);
  files::Request request;
  request.operation = files::kRead;
  request.framework_id = reading->framework_id;
  request.task_id = reading->task_id;
  request.path = file;
  request.offset = static_cast<int64_t>(size > want ? size - want : 0);
  request.length = want;
  client->request(
      request,
      [want, then = std::move(then)](Result<Envelope> tail) {
        auto read = answer_of(tail);
        if (!read) return then("");
        // The agent's answer is bounded by `length`; a longer one is cut, not trusted.
        std::string data = std::move(read->data);
        if (data.size() > want) data.erase(0, data.size() - want);
        then(std::move(data));
      },
      kRequestTimeout);
}

}  // namespace tessera::chronos
