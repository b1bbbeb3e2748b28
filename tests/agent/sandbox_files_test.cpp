// A task's sandbox files for operators: listing and reading inside the sandbox, and every way of
// naming something outside it refused with a clear error.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "agent/sandbox_files.h"
#include "support/process.h"

namespace {

namespace files = tessera::protocol::files;
using tessera::host::agent::serve_sandbox_files;
using tessera::testing::TempDir;

class SandboxFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(sandbox_ / "logs");
    write(sandbox_ / "stdout", "hello\nworld\n");
    write(sandbox_ / "logs" / "app.log", "app");
    write(dir_ / "secret", "outside");
  }
  static void write(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path) << text;
  }
  files::Answer ask(const std::string& operation, const std::string& path, int64_t offset = 0,
                    uint64_t length = files::kMaxReadBytes) {
    files::Request request;
    request.request_id = 7;
    request.operation = operation;
    request.path = path;
    request.offset = offset;
    request.length = length;
    return serve_sandbox_files(sandbox_, request);
  }

  TempDir dir_;
  std::filesystem::path sandbox_ = dir_ / "sandbox";
};

TEST_F(SandboxFiles, BrowseListsTheSandboxAndItsFolders) {
  auto root = ask(files::kBrowse, "");
  ASSERT_EQ(root.code, "") << root.error;
  EXPECT_EQ(root.request_id, 7u);
  std::map<std::string, files::Entry> by_path;
  for (const auto& e : root.entries) by_path[e.path] = e;
  ASSERT_EQ(by_path.size(), 2u);
  EXPECT_EQ(by_path["stdout"].size, 12u);
  EXPECT_TRUE(S_ISDIR(by_path["logs"].mode));
  EXPECT_GT(by_path["stdout"].mtime, 0);
  auto logs = ask(files::kBrowse, "logs/");
  ASSERT_EQ(logs.entries.size(), 1u);
  EXPECT_EQ(logs.entries[0].path, "logs/app.log");
}

TEST_F(SandboxFiles, ReadGivesTheBytesFromAnOffsetOrOnlyTheSize) {
  auto all = ask(files::kRead, "stdout");
  EXPECT_EQ(all.data, "hello\nworld\n");
  EXPECT_EQ(all.size, 12u);
  auto tail = ask(files::kRead, "stdout", 6, 3);
  EXPECT_EQ(tail.data, "wor");
  EXPECT_EQ(tail.offset, 6);
  auto size = ask(files::kRead, "stdout", -1);
  EXPECT_EQ(size.data, "");
  EXPECT_EQ(size.size, 12u);
  EXPECT_EQ(size.offset, 12);
  auto past = ask(files::kRead, "./logs//app.log", 100);
  EXPECT_EQ(past.code, "");
  EXPECT_EQ(past.data, "");
}

TEST_F(SandboxFiles, NothingOutsideTheSandboxIsOpened) {
  ASSERT_EQ(::symlink((dir_ / "secret").c_str(), (sandbox_ / "escape").c_str()), 0);
  ASSERT_EQ(::symlink(dir_.path().c_str(), (sandbox_ / "up").c_str()), 0);
  ASSERT_EQ(::mkfifo((sandbox_ / "pipe").c_str(), 0600), 0);
  struct Case {
    std::string operation, path;
    int64_t offset;
    uint64_t length;
    std::string code, error;
  };
  std::vector<Case> cases = {
      {files::kRead, "../secret", 0, 10, files::code::kInvalid, "'..' may not appear"},
      {files::kRead, "../../etc/passwd", 0, 10, files::code::kInvalid, "'..' may not appear"},
      {files::kRead, "logs/../../secret", 0, 10, files::code::kInvalid, "'..' may not appear"},
      {files::kRead, "/etc/passwd", 0, 10, files::code::kInvalid, "must be relative"},
      {files::kRead, "escape", 0, 10, files::code::kInvalid, "'escape' is a symbolic link"},
      {files::kRead, "up/secret", 0, 10, files::code::kInvalid, "'up' is a symbolic link"},
      {files::kBrowse, "up", 0, 10, files::code::kInvalid, "'up' is a symbolic link"},
      {files::kRead, "pipe", 0, 10, files::code::kInvalid, "'pipe' is not a regular file"},
      {files::kRead, "logs", 0, 10, files::code::kInvalid, "not a regular file"},
      {files::kRead, "missing", 0, 10, files::code::kNotFound, "no file 'missing'"},
      {files::kRead, "stdout/x", 0, 10, files::code::kNotFound, "'stdout' is not a directory"},
      {files::kRead, "", 0, 10, files::code::kInvalid, "read needs the path of a file"},
      {files::kRead, "stdout", 0, files::kMaxReadBytes + 1, files::code::kInvalid, "at most"},
      {files::kRead, "stdout", -2, 10, files::code::kInvalid, "offset must be -1 or more"},
      {files::kRead, std::string(5000, 'a'), 0, 10, files::code::kInvalid, "longer than 4096"},
      {"delete", "stdout", 0, 10, files::code::kInvalid, "unknown operation 'delete'"},
  };
  for (const auto& c : cases) {
    auto answer = ask(c.operation, c.path, c.offset, c.length);
    EXPECT_EQ(answer.code, c.code) << c.path.substr(0, 40) << ": " << answer.error;
    EXPECT_NE(answer.error.find(c.error), std::string::npos)
        << c.path.substr(0, 40) << ": " << answer.error;
    EXPECT_EQ(answer.data.find("outside"), std::string::npos);
  }
}

TEST_F(SandboxFiles, AGoneSandboxIsNotFound) {
  files::Request request;
  request.operation = files::kBrowse;
  auto answer = serve_sandbox_files(dir_ / "no-such-sandbox", request);
  EXPECT_EQ(answer.code, files::code::kNotFound);
  EXPECT_NE(answer.error.find("the task's sandbox is gone"), std::string::npos);
}

}  // namespace
