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
  read_file(reading, "stdout", [this, reading, done = std::move(done)](std::string out) mutable {
    read_file(reading, "stderr",
              [out = std::move(out), done = std::move(done)](const std::string& err) {
                done(joined(out, err));
              });
  });
}

void OutputReader::read_file(const std::shared_ptr<Reading>& reading, const std::string& file,
                             std::function<void(std::string)> then) {
  sdk::Client* client = client_for(reading->endpoint);
  if (client == nullptr) return then("");
  files::Request request;
  request.operation = files::kRead;
  request.framework_id = reading->framework_id;
  request.task_id = reading->task_id;
  request.path = file;
  request.offset = -1;  // first its size: only the tail is read
  auto answer_of = [](const Result<Envelope>& reply) -> std::optional<files::Answer> {
    if (!reply || !reply->is<files::Answer>()) return std::nullopt;
    auto body = reply->body<files::Answer>();
    if (!body || !body->code.empty()) return std::nullopt;
    return std::move(*body);
  };
  client->request(
      request,
      [this, reading, request, answer_of, then = std::move(then)](Result<Envelope> reply) mutable {
        auto sized = answer_of(reply);
        if (!sized || sized->size == 0) return then("");
        uint64_t want = std::min<uint64_t>(tail_bytes_, files::kMaxReadBytes);
        request.offset = static_cast<int64_t>(sized->size > want ? sized->size - want : 0);
        request.length = want;
        sdk::Client* again = client_for(reading->endpoint);
        if (again == nullptr) return then("");
        again->request(
            request,
            [answer_of, want, then = std::move(then)](Result<Envelope> tail) {
              auto read = answer_of(tail);
              if (!read) return then("");
              // The agent's answer is bounded by `length`; a longer one is cut, not trusted.
              std::string data = std::move(read->data);
              if (data.size() > want) data.erase(0, data.size() - want);
              then(std::move(data));
            },
            kRequestTimeout);
      },
      kRequestTimeout);
}

}  // namespace tessera::chronos
