#include "checkpoint.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <boost/crc.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <sodium.h>
#include <msgpack.hpp>

namespace tessera::host::agent {

namespace fs = std::filesystem;

namespace {

std::string errno_text() { return std::strerror(errno); }

// Checkpoint::fail_writes_for_testing(): the errno every journal write and flush fails with.
std::atomic<int> injected_errno{0};
std::atomic<uint64_t> injected_failures{0};

// The injected failure, if one is set, as `what` on `path` would have failed.
Status injected_failure(const char* what, const fs::path& path) {
  int error = injected_errno.load();
  if (error == 0) return {};
  injected_failures.fetch_add(1);
  return make_error(std::string("cannot ") + what + " '" + path.string() +
                    "': " + std::strerror(error));
}

Status fsync_path(const fs::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return make_error("cannot open '" + path.string() + "': " + errno_text());
  int rc = ::fsync(fd);
  std::string why = rc == 0 ? "" : errno_text();
  ::close(fd);
  if (rc != 0) return make_error("cannot fsync '" + path.string() + "': " + why);
  return {};
}

Status write_all(int fd, const char* data, size_t size, const fs::path& path) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error("cannot write '" + path.string() + "': " + errno_text());
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

// One journal record's payload.
struct JournalRecord {
  static constexpr uint32_t kPut = 1;
  static constexpr uint32_t kRemove = 2;
  uint32_t op = kPut;
  std::string framework_id;
  std::string task_id;
  TaskCheckpoint task;  // for kPut
  TESSERA_MSGPACK_MAP(op, framework_id, task_id, task);
};

constexpr size_t kRecordHeader = 8;                 // length, CRC-32
constexpr uint32_t kMaxRecord = 64u * 1024 * 1024;  // larger is damage, not a record
constexpr uint64_t kCompactAbove = uint64_t{1024} * 1024;

std::string task_key(const std::string& framework_id, const std::string& task_id) {
  return Checkpoint::escape(framework_id) + "/" + Checkpoint::escape(task_id);
}

uint32_t crc32_of(const char* data, size_t size) {
  boost::crc_32_type crc;
  crc.process_bytes(data, size);
  return crc.checksum();
}

void put_le32(std::string& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

uint32_t get_le32(const char* p) {
  uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(p[i]);
  return value;
}

// Header and payload, ready to append.
std::string frame(const std::string& payload) {
  std::string out;
  out.reserve(kRecordHeader + payload.size());
  put_le32(out, static_cast<uint32_t>(payload.size()));
  put_le32(out, crc32_of(payload.data(), payload.size()));
  out += payload;
  return out;
}

std::string pack_record(const JournalRecord& record) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, record);
  return std::string(buffer.data(), buffer.size());
}

// Whether a whole, intact record starts at `at` (its payload a msgpack map of JournalRecord's
// four fields, its length within the data, its checksum right).
bool record_at(const std::string& data, size_t at) {
  if (data.size() - at < kRecordHeader + 1) return false;
  uint32_t length = get_le32(data.data() + at);
  if (length == 0 || length > kMaxRecord || length > data.size() - at - kRecordHeader) return false;
  const char* payload = data.data() + at + kRecordHeader;
  if (static_cast<unsigned char>(payload[0]) != 0x84) return false;
  return crc32_of(payload, length) == get_le32(data.data() + at + 4);
}

// Applies the journal's records to `live` (key -> payload of the latest put) and reports what
// is wrong in `found`. Damage is skipped: replay goes on at the next intact record, so one bad
// record costs only itself (a later record of the same task supersedes it anyway).
void replay(const std::string& data, const fs::path& path, std::map<std::string, std::string>& live,
            Checkpoint::Recovered& found) {
  size_t at = 0;
  while (at < data.size()) {
    if (!record_at(data, at)) {
      size_t next = at + 1;
      while (next < data.size() && !record_at(data, next)) ++next;
      size_t bad = next - at;
      if (next < data.size()) {
        found.errors.push_back("'" + path.string() + "': skipped " + std::to_string(bad) +
                               " damaged byte(s) at byte " + std::to_string(at) +
                               "; the records after them are kept");
      } else {
        found.notes.push_back("'" + path.string() + "': dropped " + std::to_string(bad) +
                              " byte(s) at byte " + std::to_string(at) +
                              " that are not a whole record: a write cut short by a crash, or "
                              "damage at the end");
      }
      at = next;
      continue;
    }
    uint32_t length = get_le32(data.data() + at);
    const char* payload = data.data() + at + kRecordHeader;
    size_t start = at;
    at += kRecordHeader + length;
    JournalRecord record;
    try {
      msgpack::object_handle handle = msgpack::unpack(payload, length);
      handle.get().convert(record);
    } catch (const std::exception& e) {
      found.errors.push_back("'" + path.string() + "': the record at byte " +
                             std::to_string(start) + " is not a task checkpoint: " + e.what() +
                             "; skipped");
      continue;
    }
    std::string key = task_key(record.framework_id, record.task_id);
    if (record.op == JournalRecord::kRemove) {
      live.erase(key);
    } else if (record.op == JournalRecord::kPut && !record.task_id.empty()) {
      live[key] = std::string(payload, length);
    } else {
      found.errors.push_back("'" + path.string() + "': the record at byte " +
                             std::to_string(start) +
                             " has an unknown operation or no task; skipped");
    }
  }
}

// The tasks of `live`, decoded.
void decode_live(const std::map<std::string, std::string>& live, Checkpoint::Recovered& out) {
  for (const auto& [key, payload] : live) {
    JournalRecord record;
    try {
      msgpack::object_handle handle = msgpack::unpack(payload.data(), payload.size());
      handle.get().convert(record);
    } catch (const std::exception& e) {
      out.errors.push_back("task checkpoint '" + key + "' cannot be read: " + e.what());
      continue;
    }
    out.tasks.push_back(std::move(record.task));
  }
}

Result<std::string> read_whole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot read '" + path.string() + "': " + errno_text());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Status write_file_atomically(const fs::path& path, const std::string& bytes, bool durable) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) {
    return make_error("cannot create directory '" + path.parent_path().string() +
                      "': " + ec.message());
  }
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return make_error("cannot create '" + tmp.string() + "': " + errno_text());
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string why = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      return make_error("cannot write '" + tmp.string() + "': " + why);
    }
    done += static_cast<size_t>(n);
  }
  if (durable && ::fsync(fd) != 0) {
    std::string why = errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    return make_error("cannot fsync '" + tmp.string() + "': " + why);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = errno_text();
    ::unlink(tmp.c_str());
    return make_error("cannot rename '" + tmp.string() + "' to '" + path.string() + "': " + why);
  }
  if (!durable) return {};
  return fsync_path(path.parent_path(), O_RDONLY | O_DIRECTORY);
}

std::string Checkpoint::escape(const std::string& id) {
  if (id.empty()) return "%";
  std::string out;
  for (unsigned char c : id) {
    bool plain = plain_id_byte(c) && !(c == '.' && (id == "." || id == ".."));
    if (plain) {
      out += static_cast<char>(c);
    } else {
      char buffer[4];
      std::snprintf(buffer, sizeof buffer, "%%%02X", c);
      out += buffer;
    }
  }
  if (out.size() <= kMaxEscapedBytes) return out;
  // Too long for a file name (255 bytes; an escaped byte takes three): its start, then '~' (which
  // the escaping above never writes) and a BLAKE2b-128 of the whole id, so that long ids stay
  // apart.
  size_t keep = kLongIdPrefixBytes;
  if (out[keep - 1] == '%') keep -= 1;  // never a %XX cut in two
  if (out[keep - 2] == '%') keep -= 2;
  [[maybe_unused]] static const int sodium_ready = sodium_init();
  unsigned char hash[16];
  crypto_generichash(hash, sizeof hash, reinterpret_cast<const unsigned char*>(id.data()),
                     id.size(), nullptr, 0);
  out.resize(keep);
  out += '~';
  for (unsigned char byte : hash) {
    char buffer[3];
    std::snprintf(buffer, sizeof buffer, "%02x", byte);
    out += buffer;
  }
  return out;
}

fs::path Checkpoint::task_sandboxes(const std::string& framework_id,
                                    const std::string& task_id) const {
  return root_ / "sandboxes" / escape(framework_id) / escape(task_id);
}

fs::path Checkpoint::sandbox(const std::string& framework_id, const std::string& task_id,
                             const std::string& container_id) const {
  return task_sandboxes(framework_id, task_id) / escape(container_id);
}

Result<std::string> Checkpoint::read_agent_id() const {
  fs::path path = root_ / "agent_id";
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::string();
  auto text = read_whole(path);
  if (!text) return text.error();
  std::string id = *text;
  while (!id.empty() && (id.back() == '\n' || id.back() == '\r' || id.back() == ' ')) id.pop_back();
  return id;
}

Status Checkpoint::write_agent_id(const std::string& id) const {
  return write_file_atomically(root_ / "agent_id", id + "\n");
}

Status Checkpoint::remove_agent_id() const {
  std::error_code ec;
  fs::remove(root_ / "agent_id", ec);
  if (ec)
    return make_error("cannot remove '" + (root_ / "agent_id").string() + "': " + ec.message());
  return {};
}

Checkpoint::Checkpoint(fs::path root) : root_(std::move(root)) {}

Checkpoint::~Checkpoint() {
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Status Checkpoint::open() {
  if (opened_) return fd_ >= 0 ? Status{} : make_error("the task journal is not open");
  opened_ = true;
  fs::path path = journal_file();
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) {
    return make_error("cannot create directory '" + path.parent_path().string() +
                      "': " + ec.message());
  }
  fs::path lock = path.parent_path() / "lock";
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return make_error("cannot open '" + lock.string() + "': " + errno_text());
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    std::string why = errno == EWOULDBLOCK ? "" : ": " + errno_text();
    ::close(lock_fd_);
    lock_fd_ = -1;
    return make_error("the work dir '" + root_.string() + "' is in use by another agent" + why +
                      " (each agent needs its own [node] work_dir)");
  }
  if (fs::exists(path, ec)) {
    auto bytes = read_whole(path);
    if (!bytes) return bytes.error();
    replay(*bytes, path, live_, found_);
    // Whenever anything was dropped, the journal as found is kept for a post-mortem.
    if (!found_.errors.empty() || !found_.notes.empty()) {
      fs::path aside = path;
      aside += ".corrupt";
      fs::copy_file(path, aside, fs::copy_options::overwrite_existing, ec);
      auto& last = found_.errors.empty() ? found_.notes.back() : found_.errors.back();
      last += ec ? " (could not keep a copy: " + ec.message() + ")"
                 : " (the journal as found is kept as '" + aside.string() + "')";
    }
  }
  // Start from a compact journal: only the live checkpoints, no torn or damaged tail.
  return compact();
}

void Checkpoint::fail_writes_for_testing(int error) { injected_errno.store(error); }

uint64_t Checkpoint::failed_writes_for_testing() { return injected_failures.load(); }

Status Checkpoint::compact() {
  fs::path path = journal_file();
  if (auto s = injected_failure("write", path); !s) return s.context("compacting the journal");
  fs::path tmp = path;
  tmp += ".tmp";
  std::string bytes;
  live_bytes_ = 0;
  for (const auto& [key, payload] : live_) {
    bytes += frame(payload);
    live_bytes_ += kRecordHeader + payload.size();
  }
  if (auto s = write_file_atomically(path, bytes); !s) return s.context("compacting the journal");
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) return make_error("cannot open '" + path.string() + "': " + errno_text());
  journal_bytes_ = bytes.size();
  return {};
}

Status Checkpoint::append(const std::string& payload) {
  if (auto s = open(); !s) return s;
  std::string record = frame(payload);
  Status written = injected_failure("write", journal_file());
  if (written) written = write_all(fd_, record.data(), record.size(), journal_file());
  if (!written) {
    // A partial record (a full disk takes what fits) would be a damaged record in the middle of
    // the journal once later appends follow it: cut it off, which needs no space, or failing
    // that start afresh.
    if (::ftruncate(fd_, static_cast<off_t>(journal_bytes_)) == 0) return written;
    Status again = compact();
    return again ? written : written.context(again.error().message);
  }
  journal_bytes_ += record.size();
  return {};
}

Status Checkpoint::write_task(const TaskCheckpoint& task, bool durable) {
  JournalRecord record;
  record.framework_id = task.framework_id;
  record.task_id = task.task.task_id;
  record.task = task;
  std::string payload = pack_record(record);
  if (auto s = append(payload); !s) {
    return s.context("checkpointing task '" + task.task.task_id + "'");
  }
  std::string& slot = live_[task_key(task.framework_id, task.task.task_id)];
  live_bytes_ += kRecordHeader + payload.size();
  if (!slot.empty()) live_bytes_ -= std::min<uint64_t>(live_bytes_, kRecordHeader + slot.size());
  slot = std::move(payload);
  return durable ? sync() : Status{};
}

Status Checkpoint::sync() {
  auto descriptor = begin_flush();
  if (!descriptor) return descriptor.error();
  if (*descriptor < 0) return {};
  Status flushed = flush(*descriptor, journal_file());
  end_flush(flushed);
  return flushed;
}

Result<int> Checkpoint::begin_flush() {
  if (auto s = open(); !s) return s.error();
  if (flush_failed_) {
    // After a failed fdatasync the kernel may have dropped the dirty pages and reports the
    // error only once, so a second fdatasync proves nothing: write everything again instead.
    if (auto s = compact(); !s) return s.error();
    flush_failed_ = false;
    return -1;
  }
  // Compacting makes everything durable too (the new journal is fsynced before it replaces the
  // old one), so it stands in for the flush when it is due.
  if (journal_bytes_ > kCompactAbove && journal_bytes_ > 2 * live_bytes_) {
    if (auto s = compact(); !s) return s.error();
    return -1;
  }
  int descriptor = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (descriptor < 0) {
    return make_error("cannot flush '" + journal_file().string() + "': " + errno_text());
  }
  return descriptor;
}

Status Checkpoint::flush(int descriptor, const fs::path& journal) {
  Status flushed = injected_failure("flush", journal);
  if (flushed && ::fdatasync(descriptor) != 0) {
    flushed = make_error("cannot flush '" + journal.string() + "': " + errno_text());
  }
  ::close(descriptor);
  return flushed;
}

void Checkpoint::end_flush(const Status& flushed) {
  if (!flushed) flush_failed_ = true;
}

Status Checkpoint::remove_task(const std::string& framework_id, const std::string& task_id) {
  auto it = live_.find(task_key(framework_id, task_id));
  if (it == live_.end() && opened_) return {};
  JournalRecord record;
  record.op = JournalRecord::kRemove;
  record.framework_id = framework_id;
  record.task_id = task_id;
  if (auto s = append(pack_record(record)); !s) {
    return s.context("removing the checkpoint of task '" + task_id + "'");
  }
  it = live_.find(task_key(framework_id, task_id));
  if (it != live_.end()) {
    live_bytes_ -= std::min<uint64_t>(live_bytes_, kRecordHeader + it->second.size());
    live_.erase(it);
  }
  return {};
}

Status Checkpoint::remove_all_tasks() {
  if (auto s = open(); !s) return s;
  live_.clear();
  return compact();
}

Checkpoint::Recovered Checkpoint::read_tasks() {
  Recovered out;
  if (auto s = open(); !s) {
    out.errors.push_back(s.error().message);
    return out;
  }
  out.errors = std::move(found_.errors);
  out.notes = std::move(found_.notes);
  found_ = {};
  decode_live(live_, out);
  return out;
}

Checkpoint::Recovered Checkpoint::inspect(const fs::path& root) {
  Recovered out;
  fs::path path = journal_file(root);
  std::error_code ec;
  if (!fs::exists(path, ec)) return out;
  auto bytes = read_whole(path);
  if (!bytes) {
    out.errors.push_back(bytes.error().message);
    return out;
  }
  std::map<std::string, std::string> live;
  replay(*bytes, path, live, out);
  decode_live(live, out);
  return out;
}

}  // namespace tessera::host::agent
