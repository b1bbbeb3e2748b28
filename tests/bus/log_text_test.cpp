// Wire-supplied text in log lines: escaped so that it cannot start a new line or hide behind
// control characters, and truncated with a marker so that one huge string cannot fill the log.
#include <gtest/gtest.h>

#include <string>

#include "tessera/sdk/logger.h"

namespace {

using tessera::sdk::escape;
using tessera::sdk::printable;
using tessera::sdk::quote;

TEST(LogTextTest, PrintableAsciiIsKeptAsItIs) {
  EXPECT_EQ(quote("agent-7.S12"), "'agent-7.S12'");
  EXPECT_EQ(printable("cpus:4;mem:1024 ports:[31000-31099]"),
            "cpus:4;mem:1024 ports:[31000-31099]");
  EXPECT_EQ(quote(""), "''");
}

TEST(LogTextTest, ANewlineCannotForgeALogLine) {
  std::string type = "evil\n[2024-01-01 00:00:00.000] [master] [info] registered agent x\r";
  std::string shown = quote(type);
  EXPECT_EQ(shown.find('\n'), std::string::npos);
  EXPECT_EQ(shown.find('\r'), std::string::npos);
  EXPECT_EQ(shown, "'evil\\n[2024-01-01 00:00:00.000] [master] [info] registered agent x\\r'");
}

TEST(LogTextTest, ControlCharactersAndNonAsciiBytesAreWrittenAsHex) {
  const char with_nul[] = "a\0b\tc\x1b[31md\x7f";
  EXPECT_EQ(printable(std::string(with_nul, sizeof with_nul - 1)), "a\\x00b\\tc\\x1b[31md\\x7f");
  // U+202E (right-to-left override) would reverse what follows it on a terminal.
  EXPECT_EQ(printable("id\u202Egpj.exe"), "id\\xe2\\x80\\xaegpj.exe");
  EXPECT_EQ(printable("\xff\xfe"), "\\xff\\xfe");
}

TEST(LogTextTest, QuotesAreEscapedOnlyWhereTheTextIsQuoted) {
  // Between quotes, an id cannot close the quote and add text that looks like the log's own.
  EXPECT_EQ(quote("a' from peer 'b"), "'a\\' from peer \\'b'");
  EXPECT_EQ(escape("it's"), "it\\'s");
  // Free text (a reason a peer sent) keeps its quotes readable; backslashes are always doubled,
  // so an escape sequence in the output always comes from an escaped byte.
  EXPECT_EQ(printable("framework 'x' is gone"), "framework 'x' is gone");
  EXPECT_EQ(printable("a\\nb"), "a\\\\nb");
}

TEST(LogTextTest, LongTextIsTruncatedWithAMarkerThatSaysHowMuchIsLeftOut) {
  std::string huge(5 << 20, 'x');
  std::string shown = printable(huge, 10);
  EXPECT_EQ(shown, "xxxxxxxxxx...(5242870 more bytes)");
  EXPECT_LE(printable(huge).size(), tessera::sdk::kShownTextMax + 30);
  // The bound applies to the escaped text: an escape is never cut in half.
  EXPECT_EQ(printable("ab\n\ncd", 5), "ab\\n...(3 more bytes)");
  EXPECT_EQ(printable("\x01\x02", 7), "\\x01...(1 more bytes)");
  // Text that fits exactly is not marked.
  EXPECT_EQ(printable("abcde", 5), "abcde");
  EXPECT_EQ(quote("abcdef", 3), "'abc...(3 more bytes)'");
}

}  // namespace
