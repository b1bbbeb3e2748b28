#include "agent_secret.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace tessera::host::agent {

namespace fs = std::filesystem;

namespace {

fs::path secret_file(const fs::path& agent_dir) { return agent_dir / "agent_secret"; }

Error file_error(const std::string& what, const fs::path& path) {
  return make_error("cannot " + what + " '" + path.string() + "': " + std::strerror(errno));
}

}  // namespace

Result<std::string> read_agent_secret(const fs::path& agent_dir) {
  fs::path path = secret_file(agent_dir);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::string();
  std::ifstream in(path);
  if (!in) return file_error("read", path);
  std::string secret;
  std::getline(in, secret);
  return secret;
}

Status write_agent_secret(const fs::path& agent_dir, const std::string& secret) {
  fs::path path = secret_file(agent_dir);
  fs::path temporary = path;
  temporary += ".tmp";
  // Created 0600 from the start, so the secret is never readable by others, even briefly.
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return file_error("create", temporary);
  std::string text = secret + "\n";
  bool written = ::fchmod(fd, 0600) == 0 &&
                 ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                 ::fsync(fd) == 0;
  if (!written) {
    Error error = file_error("write", temporary);
    ::close(fd);
    return error;
  }
  ::close(fd);
  if (::rename(temporary.c_str(), path.c_str()) != 0) return file_error("rename", temporary);
  return {};
}

Status remove_agent_secret(const fs::path& agent_dir) {
  fs::path path = secret_file(agent_dir);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return file_error("remove", path);
  return {};
}

}  // namespace tessera::host::agent
