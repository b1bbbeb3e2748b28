// Result and Error: codes beside messages, context that keeps the code, the two propagation
// macros, and the HTTP status each code maps to.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tessera/result.h"

namespace {

using tessera::ErrorCode;
using tessera::make_error;
using tessera::Result;
using tessera::Status;

Result<int> parse_count(const std::string& text) {
  if (text.empty()) return make_error(ErrorCode::kInvalidArgument, "count is empty");
  if (text == "missing") return make_error(ErrorCode::kNotFound, "no count named 'missing'");
  if (text == "boom") return make_error("the counter broke");
  return std::stoi(text);
}

Status check_positive(int value) {
  if (value <= 0)
    return make_error(ErrorCode::kConflict, std::to_string(value) + " is not positive");
  return {};
}

// Uses both macros: each failure returns early with the callee's error, code included.
Result<int> doubled_positive(const std::string& text, int* reached_end = nullptr) {
  TESSERA_ASSIGN_OR_RETURN(int count, parse_count(text));
  TESSERA_RETURN_IF_ERROR(check_positive(count));
  if (reached_end != nullptr) *reached_end += 1;
  return count * 2;
}

TEST(ResultTest, UnclassifiedErrorsAreInternalAndCodedOnesKeepTheirCode) {
  EXPECT_EQ(make_error("disk on fire").code, ErrorCode::kInternal);
  auto error = make_error(ErrorCode::kUnavailable, "no leader yet");
  EXPECT_EQ(error.code, ErrorCode::kUnavailable);
  EXPECT_EQ(error.message, "no leader yet");
  // An Error written the old way, as a braced message, is internal too.
  EXPECT_EQ(tessera::Error{"old style"}.code, ErrorCode::kInternal);
}

TEST(ResultTest, ContextPrefixesTheMessageAndKeepsTheCode) {
  auto error = make_error(ErrorCode::kNotFound, "no such task").context("killing 't1'");
  EXPECT_EQ(error.message, "killing 't1': no such task");
  EXPECT_EQ(error.code, ErrorCode::kNotFound);

  Result<int> result = make_error(ErrorCode::kPermissionDenied, "not yours");
  auto with_context = result.context("updating 'x'");
  ASSERT_FALSE(with_context.ok());
  EXPECT_EQ(with_context.code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(with_context.error().message, "updating 'x': not yours");

  Status status = make_error(ErrorCode::kConflict, "version 3 is not 4");
  EXPECT_EQ(status.context("writing 'k'").code(), ErrorCode::kConflict);
}

TEST(ResultTest, AssignOrReturnAssignsTheValueOrPropagatesTheError) {
  int reached = 0;
  auto ok = doubled_positive("21", &reached);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 42);
  EXPECT_EQ(reached, 1);

  auto empty = doubled_positive("", &reached);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(empty.error().message, "count is empty");

  auto missing = doubled_positive("missing", &reached);
  EXPECT_EQ(missing.code(), ErrorCode::kNotFound);
  EXPECT_EQ(doubled_positive("boom", &reached).code(), ErrorCode::kInternal);
  EXPECT_EQ(reached, 1) << "a failure must return before the rest of the function runs";
}

TEST(ResultTest, ReturnIfErrorPropagatesAStatusError) {
  int reached = 0;
  auto negative = doubled_positive("-3", &reached);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.code(), ErrorCode::kConflict);
  EXPECT_EQ(negative.error().message, "-3 is not positive");
  EXPECT_EQ(reached, 0);
}

TEST(ResultTest, MacrosEvaluateTheirExpressionOnceAndLeaveANamedResultIntact) {
  int calls = 0;
  auto counted = [&calls]() -> Status {
    ++calls;
    return make_error(ErrorCode::kUnavailable, "try later");
  };
  auto run = [&]() -> Status {
    TESSERA_RETURN_IF_ERROR(counted());
    return {};
  };
  EXPECT_EQ(run().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(calls, 1);

  // A named Result is copied from, not moved from: it still says what went wrong afterwards.
  Result<int> named = make_error(ErrorCode::kNotFound, "gone");
  auto forward = [&named]() -> Result<std::string> {
    TESSERA_RETURN_IF_ERROR(named);
    return std::string("unreachable");
  };
  EXPECT_EQ(forward().error().message, "gone");
  EXPECT_EQ(named.error().message, "gone");

  // Assigning into an existing variable works too, and a move-only value is moved out.
  auto make_pointer = []() -> Result<std::unique_ptr<int>> { return std::make_unique<int>(7); };
  auto take = [&]() -> Result<int> {
    std::unique_ptr<int> pointer;
    TESSERA_ASSIGN_OR_RETURN(pointer, make_pointer());
    return *pointer;
  };
  EXPECT_EQ(*take(), 7);
}

TEST(ResultTest, EachCodeMapsToItsHttpStatusAndName) {
  EXPECT_EQ(tessera::http_status(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(tessera::http_status(ErrorCode::kNotFound), 404);
  EXPECT_EQ(tessera::http_status(ErrorCode::kConflict), 409);
  EXPECT_EQ(tessera::http_status(ErrorCode::kUnavailable), 503);
  EXPECT_EQ(tessera::http_status(ErrorCode::kPermissionDenied), 403);
  EXPECT_EQ(tessera::http_status(ErrorCode::kInternal), 500);
  EXPECT_EQ(tessera::http_status(make_error("unclassified").code), 500);

  EXPECT_EQ(tessera::code_name(ErrorCode::kInvalidArgument), "invalid argument");
  EXPECT_EQ(tessera::code_name(ErrorCode::kNotFound), "not found");
  EXPECT_EQ(tessera::code_name(ErrorCode::kConflict), "conflict");
  EXPECT_EQ(tessera::code_name(ErrorCode::kUnavailable), "unavailable");
  EXPECT_EQ(tessera::code_name(ErrorCode::kPermissionDenied), "permission denied");
  EXPECT_EQ(tessera::code_name(ErrorCode::kInternal), "internal");
}

}  // namespace
