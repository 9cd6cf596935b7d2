#include "server/aggregation_math.h"

#include <algorithm>
#include <cmath>

namespace fedpress::server {
namespace {

// Coordinates per block: K rows × 512 floats stay in L1/L2 for the K the
// server allows, and each row is read in 2 KB sequential runs.
constexpr size_t kBlock = 512;

// Copies coordinates [i0, i0 + m) of every row into `tmp`, coordinate-major:
// tmp[j · K + k] = rows[k][i0 + j].
void Transpose(std::span<const std::span<const float>> rows, size_t i0, size_t m, std::vector<float>* tmp) {
  const size_t k_rows = rows.size();
  tmp->resize(m * k_rows);
  float* t = tmp->data();
  for (size_t k = 0; k < k_rows; ++k) {
    const float* r = rows[k].data() + i0;
    for (size_t j = 0; j < m; ++j) t[j * k_rows + k] = r[j];
  }
}

}  // namespace

double L2Norm(std::span<const float> v) {
  // Four partial sums: independent dependency chains, so the loop vectorises
  // without -ffast-math reassociation.
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= v.size(); i += 4) {
    s0 += static_cast<double>(v[i]) * v[i];
    s1 += static_cast<double>(v[i + 1]) * v[i + 1];
    s2 += static_cast<double>(v[i + 2]) * v[i + 2];
    s3 += static_cast<double>(v[i + 3]) * v[i + 3];
  }
  for (; i < v.size(); ++i) s0 += static_cast<double>(v[i]) * v[i];
  return std::sqrt((s0 + s1) + (s2 + s3));
}

double ClipScale(double norm, double bound) {
  if (bound <= 0 || !(norm > bound)) return 1.0;
  return bound / norm;
}

double Median(std::vector<double> values) {
  const size_t n = values.size();
  auto mid = values.begin() + static_cast<std::ptrdiff_t>(n / 2);
  std::nth_element(values.begin(), mid, values.end());
  const double upper = *mid;
  if (n % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), mid);
  return 0.5 * lower + 0.5 * upper;
}

size_t TrimCount(size_t k, double ratio) {
  if (k == 0 || !(ratio > 0)) return 0;
  auto t = static_cast<size_t>(std::floor(ratio * static_cast<double>(k)));
  return std::min(t, (k - 1) / 2);
}

void CoordinateMedian(std::span<const std::span<const float>> rows, std::span<float> out) {
  const size_t k_rows = rows.size();
  const size_t half = k_rows / 2;
  std::vector<float> tmp;
  for (size_t i0 = 0; i0 < out.size(); i0 += kBlock) {
    const size_t m = std::min(kBlock, out.size() - i0);
    Transpose(rows, i0, m, &tmp);
    for (size_t j = 0; j < m; ++j) {
      float* v = tmp.data() + j * k_rows;
      std::nth_element(v, v + half, v + k_rows);
      float med = v[half];
      if (k_rows % 2 == 0) {
        const float lower = *std::max_element(v, v + half);
        med = 0.5f * lower + 0.5f * med;  // no overflow for huge finite values
      }
      out[i0 + j] = med;
    }
  }
}

void CoordinateTrimmedMean(std::span<const std::span<const float>> rows, size_t trim,
                           std::span<float> out) {
  const size_t k_rows = rows.size();
  const size_t keep = k_rows - 2 * trim;
  std::vector<float> tmp;
  for (size_t i0 = 0; i0 < out.size(); i0 += kBlock) {
    const size_t m = std::min(kBlock, out.size() - i0);
    Transpose(rows, i0, m, &tmp);
    for (size_t j = 0; j < m; ++j) {
      float* v = tmp.data() + j * k_rows;
      if (trim > 0) {
        // [0, trim) <= v[trim] <= [trim + 1, K), then split the upper part so
        // that [trim, K - trim) holds exactly the kept values.
        std::nth_element(v, v + trim, v + k_rows);
        std::nth_element(v + trim + 1, v + (k_rows - trim), v + k_rows);
      }
      double sum = 0;
      for (size_t q = trim; q < k_rows - trim; ++q) sum += v[q];
      out[i0 + j] = static_cast<float>(sum / static_cast<double>(keep));
    }
  }
}

std::vector<bool> FlagOutliers(std::span<const double> norms, double factor) {
  std::vector<bool> flags(norms.size(), false);
  if (norms.size() < 3) return flags;
  const double bound = factor * Median(std::vector<double>(norms.begin(), norms.end()));
  for (size_t k = 0; k < norms.size(); ++k) flags[k] = norms[k] > bound;
  return flags;
}

}  // namespace fedpress::server
