// The isolator conformance suite: what every isolator plugin (a container runtime, or an
// isolator run around tasks) must do, recovery included, checked through the real loader in a
// node of the test process with real processes. A reusable GoogleTest library: a test program
// registers the plugins it checks, by the path of their .so, then runs the tests.
//
//   int main(int argc, char** argv) {
//     ::testing::InitGoogleTest(&argc, argv);
//     tessera::conformance::register_isolator("/path/to/my_isolator.so",
//                                             tessera::conformance::IsolatorKind::kIsolator);
//     return RUN_ALL_TESTS();
//   }
//
// Tests are named IsolatorConformance/NAME.CHECK. A plugin that refuses to start on this
// machine (e.g. cgroups not writable) has its tests skipped with its own error as the reason.
#pragma once

#include <string>

namespace tessera::conformance {

enum class IsolatorKind { kRuntime, kIsolator };

// Registers every conformance test for the plugin at `so_path` (its file name, without .so, is
// its name). `plugin_toml` is the body of its [plugins.NAME] table. Call before RUN_ALL_TESTS.
void register_isolator(const std::string& so_path, IsolatorKind kind,
                       const std::string& plugin_toml = "");

}  // namespace tessera::conformance
