#include "session.h"

#include <cstdio>

namespace tessera::cli {

namespace {

void stderr_sink(void*, int level, const char* text, size_t size) {
  const char* what = level >= TESSERA_LOG_ERROR  ? "error"
                     : level >= TESSERA_LOG_WARN ? "warning"
                     : level >= TESSERA_LOG_INFO ? "info"
                                                 : "debug";
  std::fprintf(stderr, "tessera: %s: %.*s\n", what, static_cast<int>(size), text);
}

}  // namespace

Session::Session(int log_level)
    : bus_{context_.handle, &loop_, sdk::Logger(nullptr, &stderr_sink, log_level), "tessera-cli"} {}

std::string no_answer(const std::string& masters) {
  if (masters.find(',') != std::string::npos) {
    return "no answer from the masters at " + masters + ": is one of them running?";
  }
  return "no answer from master at " + masters + ": is it running?";
}

}  // namespace tessera::cli
