// Aggregation math for robust strategies, as pure functions on float spans:
// L2 norms and norm clipping, medians, coordinate-wise median and trimmed
// mean over a round's updates, and norm-based outlier flags. No I/O, no
// allocation beyond small scratch; the strategies (robust_aggregator.h,
// streaming_fedavg.h) decide when to call what.
//
// Callers make sure no NaN or infinity reaches these functions (updates with a
// non-finite norm are refused before they are kept).
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace fedpress::server {

// sqrt(Σ v_i²), summed in double (finite for any finite float input).
// Infinite or NaN iff some v_i is.
double L2Norm(std::span<const float> v);

// The factor that brings `norm` down to `bound`: bound / norm when
// bound > 0 and norm > bound, else 1.
double ClipScale(double norm, double bound);

// Median of `values` (the mean of the two middle ones for an even count).
// REQUIRES: !values.empty().
double Median(std::vector<double> values);

// How many values trimmed_mean drops at each end of k: floor(ratio · k), but
// always leaving at least one value.
size_t TrimCount(size_t k, double ratio);

// out[i] = median over k of rows[k][i] (mean of the two middle values for an
// even number of rows). Works in blocks of coordinates so each row is read
// sequentially. `out` may be the storage of one of the rows (each block is
// copied out before it is written). REQUIRES: !rows.empty(), every row has
// out.size() elements.
void CoordinateMedian(std::span<const std::span<const float>> rows, std::span<float> out);

// out[i] = mean over k of rows[k][i] after dropping the `trim` smallest and
// `trim` largest values of coordinate i, summed in double. `out` may be the
// storage of one of the rows. REQUIRES: rows.size() > 2 · trim, every row has
// out.size() elements.
void CoordinateTrimmedMean(std::span<const std::span<const float>> rows, size_t trim,
                           std::span<float> out);

// flags[k] = norms[k] > factor · median(norms). With fewer than 3 norms no
// reference is meaningful and nothing is flagged.
std::vector<bool> FlagOutliers(std::span<const double> norms, double factor);

}  // namespace fedpress::server
