#include "sandbox_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "tessera/result.h"

namespace tessera::host::agent {

namespace files = protocol::files;

namespace {

// An open descriptor, closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

files::Answer failure(const files::Request& request, const char* code, std::string error) {
  files::Answer answer;
  answer.request_id = request.request_id;
  answer.code = code;
  answer.error = std::move(error);
  return answer;
}

// The path's components, or an error for a path that could leave the sandbox.
Result<std::vector<std::string>> components(const std::string& path) {
  if (path.size() > files::kMaxPathBytes) {
    return make_error(ErrorCode::kInvalidArgument, "the path is longer than 4096 bytes");
  }
  if (!path.empty() && path.front() == '/') {
    return make_error(ErrorCode::kInvalidArgument,
                      "the path must be relative to the task's sandbox, not '" + path + "'");
  }
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    std::string part = path.substr(start, slash - start);
    start = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return make_error(ErrorCode::kInvalidArgument, "'..' may not appear in a sandbox path");
    }
    if (part.find('\0') != std::string::npos) {
      return make_error(ErrorCode::kInvalidArgument, "the path holds a NUL byte");
    }
    parts.push_back(std::move(part));
  }
  return parts;
}

// Why opening `name` in `dir` failed, as the answer's code and text. O_NOFOLLOW makes a
// symbolic link fail with ELOOP, or ENOTDIR when a directory was asked for: which it was is
// asked of the entry itself.
files::Answer open_failure(const files::Request& request, int dir, const std::string& name,
                           const std::string& shown, int error) {
  struct stat entry {};
  bool exists = ::fstatat(dir, name.c_str(), &entry, AT_SYMLINK_NOFOLLOW) == 0;
  if (exists && S_ISLNK(entry.st_mode)) {
    return failure(request, files::code::kInvalid,
                   "'" + shown + "' is a symbolic link, which is not followed");
  }
  if (error == ENOENT || !exists) {
    return failure(request, files::code::kNotFound, "no file '" + shown + "' in the sandbox");
  }
  if (error == ENOTDIR) {
    return failure(request, files::code::kNotFound, "'" + shown + "' is not a directory");
  }
  return failure(request, files::code::kInvalid,
                 "cannot open '" + shown + "': " + std::strerror(error));
}

double seconds_of(const timespec& t) {
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

}  // namespace

files::Answer serve_sandbox_files(const std::filesystem::path& sandbox,
                                  const files::Request& request) {
  bool browse = request.operation == files::kBrowse;
  if (!browse && request.operation != files::kRead) {
    return failure(
        request, files::code::kInvalid,
        "unknown operation '" + request.operation.substr(0, 32) + "' (expected browse or read)");
  }
  auto parts = components(request.path);
  if (!parts) return failure(request, files::code::kInvalid, parts.error().message);
  if (!browse && parts->empty()) {
    return failure(request, files::code::kInvalid, "read needs the path of a file");
  }
  if (!browse && (request.offset < -1 || request.length > files::kMaxReadBytes)) {
    return failure(request, files::code::kInvalid,
                   "offset must be -1 or more and length at most 1048576");
  }

  Fd dir(::open(sandbox.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.ok()) {
    return failure(request, files::code::kNotFound,
                   "the task's sandbox is gone: " + std::string(std::strerror(errno)));
  }
  std::string shown;
  for (size_t i = 0; i < parts->size(); ++i) {
    const std::string& part = (*parts)[i];
    shown += (shown.empty() ? "" : "/") + part;
    bool last = i + 1 == parts->size();
    // Every step refuses a symbolic link; only the last may be a file (for a read), opened
    // non-blocking so that a FIFO cannot hold the agent.
    int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC;
    if (!last || browse) {
      flags |= O_DIRECTORY;
    } else {
      flags |= O_NONBLOCK;
    }
    Fd next(::openat(dir.get(), part.c_str(), flags));
    if (!next.ok()) return open_failure(request, dir.get(), part, shown, errno);
    dir = std::move(next);
  }

  struct stat info {};
  if (::fstat(dir.get(), &info) != 0) {
    return failure(request, files::code::kInvalid, "cannot stat '" + shown + "'");
  }
  files::Answer answer;
  answer.request_id = request.request_id;

  if (browse) {
    int listed = ::dup(dir.get());
    std::unique_ptr<DIR, int (*)(DIR*)> entries(::fdopendir(listed), ::closedir);
    if (!entries) {
      ::close(listed);
      return failure(request, files::code::kInvalid, "cannot list '" + shown + "'");
    }
    while (dirent* entry = ::readdir(entries.get())) {
      std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      if (answer.entries.size() >= files::kMaxEntries) break;
      struct stat child {};
      if (::fstatat(dir.get(), name.c_str(), &child, AT_SYMLINK_NOFOLLOW) != 0) continue;
      files::Entry e;
      e.path = shown.empty() ? name : shown + "/" + name;
      e.size = static_cast<uint64_t>(child.st_size);
      e.mtime = seconds_of(child.st_mtim);
      e.mode = child.st_mode;
      answer.entries.push_back(std::move(e));
    }
    return answer;
  }

  if (!S_ISREG(info.st_mode)) {
    return failure(request, files::code::kInvalid, "'" + shown + "' is not a regular file");
  }
  answer.size = static_cast<uint64_t>(info.st_size);
  answer.offset = request.offset < 0 ? static_cast<int64_t>(answer.size) : request.offset;
  if (request.offset < 0 || static_cast<uint64_t>(request.offset) >= answer.size) return answer;
  uint64_t want = std::min<uint64_t>(request.length, answer.size - answer.offset);
  answer.data.resize(want);
  size_t got = 0;
  while (got < want) {
    ssize_t n = ::pread(dir.get(), answer.data.data() + got, want - got,
                        static_cast<off_t>(answer.offset + static_cast<int64_t>(got)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  answer.data.resize(got);
  return answer;
}

}  // namespace tessera::host::agent
