// Retry delays spread at random.
//
//   std::mt19937_64 random{std::random_device{}()};
//   auto wait = sdk::jittered(backoff, random);  // in [backoff / 2, backoff * 3 / 2)
//
// Clients that fail at the same moment, as every agent of a cluster does when its master dies,
// would otherwise retry at the same moments too, each time in one burst that the new master
// answers late, which makes them all retry again together. Spreading each delay over half to
// one and a half times the backoff keeps its mean and spreads the bursts over a whole backoff.
#pragma once

#include <chrono>
#include <random>

namespace tessera::sdk {

inline std::chrono::milliseconds jittered(std::chrono::milliseconds backoff,
                                          std::mt19937_64& random) {
  if (backoff.count() <= 1) return backoff;
  std::uniform_int_distribution<int64_t> spread(backoff.count() / 2,
                                                backoff.count() + backoff.count() / 2 - 1);
  return std::chrono::milliseconds(spread(random));
}

}  // namespace tessera::sdk
