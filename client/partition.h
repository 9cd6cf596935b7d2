// Partitioners: which items of a labelled data set belong to client `index`
// of `of`, so that many simulated clients can share one data set.
//
//   iid            a seeded random permutation cut into `of` near-equal slices.
//   dirichlet:A    label skew (Hsu et al. 2019): for each class, proportions
//                  over the clients are drawn from Dirichlet(A, ..., A) and the
//                  class's (shuffled) items are cut accordingly. Small A (0.1)
//                  gives each client a few dominant classes; large A (100) is
//                  close to iid. Draws that leave a client with fewer than
//                  min(10, N / (2 * of)) items are redrawn (up to 100 times),
//                  then topped up from the largest clients.
//   shards:K       McMahan et al. 2017: items sorted by label, cut into of*K
//                  shards of near-equal size, K shards dealt to each client
//                  after a seeded shuffle.
//
// Every client computes the same global assignment from (labels, spec, of,
// seed) and keeps its own part, so the parts are disjoint and cover every
// index. Randomness comes from std::mt19937_64 (fully specified by the
// standard) with our own uniform, normal and gamma samplers (Marsaglia-Tsang),
// so iid and shards are identical across standard libraries and platforms;
// dirichlet also depends on libm's log/exp/sqrt (identical for the same libm,
// e.g. all Debian 12 machines). tests/client/partition_test.cc pins a
// fingerprint of each kind's output so that an accidental change shows.
// Changing the output is a protocol change: clients of different versions
// would no longer agree on who holds what.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace fedpress {

struct PartitionSpec {
  enum Kind { kIid, kDirichlet, kShards };
  Kind kind = kIid;
  double alpha = 0;           // kDirichlet: concentration, > 0
  int shards_per_client = 0;  // kShards: K >= 1
};

inline constexpr double kMaxDirichletAlpha = 1e6;
inline constexpr int kMaxShardsPerClient = 1'000'000;

// Parses "iid", "dirichlet:ALPHA" (0 < ALPHA <= 1e6) or "shards:K" (1 <= K <= 1e6).
Result<PartitionSpec> ParsePartition(std::string_view text);
// The inverse of ParsePartition: "iid", "dirichlet:0.5", "shards:2".
std::string FormatPartition(const PartitionSpec& spec);

// The indices (ascending) into `labels` of client `index` of `of`.
// Errors: of == 0, index >= of, of > labels.size(), of * K > labels.size()
// for shards, or an invalid spec.
Result<std::vector<size_t>> PartitionIndices(std::span<const uint8_t> labels,
                                             const PartitionSpec& spec, size_t index, size_t of,
                                             uint64_t seed);

// Every client's indices at once (what PartitionIndices computes internally).
Result<std::vector<std::vector<size_t>>> PartitionAll(std::span<const uint8_t> labels,
                                                      const PartitionSpec& spec, size_t of,
                                                      uint64_t seed);

}  // namespace fedpress
