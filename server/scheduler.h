// Scheduler (policy): which clients take part in a round. Pure: no sockets,
// no SQL; randomness only from the seed it is given.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fedpress::server {

// Picks min(k, candidates.size()) distinct client ids uniformly at random,
// deterministically for a given (candidates as a set, seed). Result sorted.
std::vector<int64_t> SelectClients(std::vector<int64_t> candidates, size_t k, uint64_t seed);

// Seed for a round's selection, mixing job seed, round and attempt.
uint64_t RoundSeed(uint64_t job_seed, uint32_t round, uint32_t attempt);

}  // namespace fedpress::server
