// The isolator conformance suite run in-tree on the shipped isolators: isolator_posix (a
// runtime) and isolator_cgroups (an isolator; skipped where cgroups are not writable).
#include <gtest/gtest.h>

#include "isolator_conformance.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  using tessera::conformance::IsolatorKind;
  tessera::conformance::register_isolator(TESSERA_PLUGIN_DIR "/isolator_posix.so",
                                          IsolatorKind::kRuntime);
  tessera::conformance::register_isolator(TESSERA_PLUGIN_DIR "/isolator_cgroups.so",
                                          IsolatorKind::kIsolator,
                                          "parent = \"tessera-conformance\"\n");
  return RUN_ALL_TESTS();
}
