#include "client/partition.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

namespace fedpress {
namespace {

constexpr std::string_view kPartitionHelp =
    "use iid, dirichlet:ALPHA (e.g. dirichlet:0.5) or shards:K (e.g. shards:2)";

// Portable samplers on top of mt19937_64 (whose output sequence the standard
// fixes); std:: distributions differ between library implementations.
class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}

  // Uniform in (0, 1).
  double UniformOpen() { return (static_cast<double>(g_() >> 11) + 0.5) * 0x1.0p-53; }

  // Uniform integer in [0, n). REQUIRES: n > 0.
  uint64_t Below(uint64_t n) {
    const uint64_t max = std::numeric_limits<uint64_t>::max();
    const uint64_t lim = max - max % n;  // a multiple of n
    uint64_t x;
    do {
      x = g_();
    } while (x >= lim);
    return x % n;
  }

  // Standard normal (Marsaglia polar method).
  double Normal() {
    for (;;) {
      double u = 2 * UniformOpen() - 1, v = 2 * UniformOpen() - 1;
      double s = u * u + v * v;
      if (s > 0 && s < 1) return u * std::sqrt(-2 * std::log(s) / s);
    }
  }

  // log of a Gamma(a, 1) draw (Marsaglia & Tsang 2000). Working in logs keeps
  // tiny draws for a << 1 (U^(1/a) underflows) distinguishable.
  double LogGamma(double a) {
    if (a < 1) return LogGamma(a + 1) + std::log(UniformOpen()) / a;
    const double d = a - 1.0 / 3.0, c = 1.0 / std::sqrt(9 * d);
    for (;;) {
      double x = Normal(), v = 1 + c * x;
      if (v <= 0) continue;
      v = v * v * v;
      double u = UniformOpen();
      if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return std::log(d * v);
    }
  }

  template <typename T>
  void Shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[Below(i)]);
  }

 private:
  std::mt19937_64 g_;
};

Status ValidateSpec(const PartitionSpec& s) {
  switch (s.kind) {
    case PartitionSpec::kIid: return Status::OK();
    case PartitionSpec::kDirichlet:
      if (!std::isfinite(s.alpha) || s.alpha <= 0 || s.alpha > kMaxDirichletAlpha)
        return Status::InvalidArgument("dirichlet alpha must be finite and in (0, 1e6], got " +
                                       std::to_string(s.alpha));
      return Status::OK();
    case PartitionSpec::kShards:
      if (s.shards_per_client < 1 || s.shards_per_client > kMaxShardsPerClient)
        return Status::InvalidArgument("shards per client must be in 1.." +
                                       std::to_string(kMaxShardsPerClient) + ", got " +
                                       std::to_string(s.shards_per_client));
      return Status::OK();
  }
  return Status::InvalidArgument("unknown partition kind");
}

// Client k gets [k*n/of, (k+1)*n/of) of `order`.
std::vector<std::vector<size_t>> CutEvenly(const std::vector<size_t>& order, size_t of) {
  std::vector<std::vector<size_t>> parts(of);
  const size_t n = order.size();
  for (size_t k = 0; k < of; ++k)
    parts[k].assign(order.begin() + static_cast<ptrdiff_t>(k * n / of),
                    order.begin() + static_cast<ptrdiff_t>((k + 1) * n / of));
  return parts;
}

std::vector<std::vector<size_t>> ByClass(std::span<const uint8_t> labels) {
  std::vector<std::vector<size_t>> by_class(256);
  for (size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(i);
  while (!by_class.empty() && by_class.back().empty()) by_class.pop_back();
  return by_class;
}

std::vector<std::vector<size_t>> Dirichlet(std::span<const uint8_t> labels, double alpha,
                                           size_t of, Rng& rng) {
  const size_t n = labels.size();
  const size_t min_size = std::max<size_t>(1, std::min<size_t>(10, n / (2 * of)));
  const auto by_class = ByClass(labels);
  std::vector<std::vector<size_t>> parts;
  std::vector<double> logg(of), cum(of);
  for (int attempt = 0; attempt < 100; ++attempt) {
    parts.assign(of, {});
    for (auto items : by_class) {  // copy: shuffled per attempt
      if (items.empty()) continue;
      rng.Shuffle(items);
      for (size_t k = 0; k < of; ++k) logg[k] = rng.LogGamma(alpha);
      const double mx = *std::max_element(logg.begin(), logg.end());
      double sum = 0;
      for (size_t k = 0; k < of; ++k) sum += (cum[k] = std::exp(logg[k] - mx));
      double acc = 0;
      size_t begin = 0;
      for (size_t k = 0; k < of; ++k) {
        acc += cum[k];
        size_t end = k + 1 == of ? items.size()
                                 : std::min(items.size(), static_cast<size_t>(std::floor(
                                                              acc / sum * items.size())));
        end = std::max(end, begin);
        parts[k].insert(parts[k].end(), items.begin() + static_cast<ptrdiff_t>(begin),
                        items.begin() + static_cast<ptrdiff_t>(end));
        begin = end;
      }
    }
    bool ok = std::all_of(parts.begin(), parts.end(),
                          [&](const auto& p) { return p.size() >= min_size; });
    if (ok) return parts;
  }
  // Still too small after many draws (tiny alpha, many clients): top up the
  // small clients from the currently largest one, deterministically.
  for (size_t k = 0; k < of; ++k) {
    while (parts[k].size() < min_size) {
      size_t big = 0;
      for (size_t j = 1; j < of; ++j)
        if (parts[j].size() > parts[big].size()) big = j;
      parts[k].push_back(parts[big].back());
      parts[big].pop_back();
    }
  }
  return parts;
}

std::vector<std::vector<size_t>> Shards(std::span<const uint8_t> labels, size_t k_per,
                                        size_t of, Rng& rng) {
  std::vector<size_t> sorted;
  sorted.reserve(labels.size());
  for (const auto& items : ByClass(labels)) sorted.insert(sorted.end(), items.begin(), items.end());
  const size_t n = sorted.size(), num_shards = of * k_per;
  std::vector<size_t> shard_ids(num_shards);
  std::iota(shard_ids.begin(), shard_ids.end(), size_t{0});
  rng.Shuffle(shard_ids);
  std::vector<std::vector<size_t>> parts(of);
  for (size_t c = 0; c < of; ++c) {
    for (size_t j = 0; j < k_per; ++j) {
      size_t s = shard_ids[c * k_per + j];
      parts[c].insert(parts[c].end(), sorted.begin() + static_cast<ptrdiff_t>(s * n / num_shards),
                      sorted.begin() + static_cast<ptrdiff_t>((s + 1) * n / num_shards));
    }
  }
  return parts;
}

}  // namespace

Result<PartitionSpec> ParsePartition(std::string_view text) {
  PartitionSpec s;
  if (text == "iid") return s;
  auto colon = text.find(':');
  std::string_view kind = text.substr(0, colon);
  std::string_view arg = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  if (kind == "dirichlet") {
    if (arg.empty())
      return Status::InvalidArgument("partition '" + std::string(text) +
                                     "' lacks alpha: write dirichlet:ALPHA, e.g. dirichlet:0.5");
    double a = 0;
    auto [p, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), a);
    if (ec != std::errc() || p != arg.data() + arg.size() || !std::isfinite(a) || a <= 0 ||
        a > kMaxDirichletAlpha)
      return Status::InvalidArgument("partition '" + std::string(text) +
                                     "': alpha must be a number in (0, 1e6], e.g. dirichlet:0.5");
    s.kind = PartitionSpec::kDirichlet;
    s.alpha = a;
    return s;
  }
  if (kind == "shards") {
    if (arg.empty())
      return Status::InvalidArgument("partition '" + std::string(text) +
                                     "' lacks K: write shards:K, e.g. shards:2");
    long long k = 0;
    auto [p, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), k);
    if (ec != std::errc() || p != arg.data() + arg.size() || k < 1 || k > kMaxShardsPerClient)
      return Status::InvalidArgument("partition '" + std::string(text) +
                                     "': K must be an integer in 1..1000000, e.g. shards:2");
    s.kind = PartitionSpec::kShards;
    s.shards_per_client = static_cast<int>(k);
    return s;
  }
  return Status::InvalidArgument("unknown partition '" + std::string(text) + "': " +
                                 std::string(kPartitionHelp));
}

std::string FormatPartition(const PartitionSpec& spec) {
  switch (spec.kind) {
    case PartitionSpec::kIid: return "iid";
    case PartitionSpec::kDirichlet: {
      char buf[64];
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, spec.alpha);
      return "dirichlet:" + (ec == std::errc() ? std::string(buf, p) : std::to_string(spec.alpha));
    }
    case PartitionSpec::kShards: return "shards:" + std::to_string(spec.shards_per_client);
  }
  return "?";
}

Result<std::vector<std::vector<size_t>>> PartitionAll(std::span<const uint8_t> labels,
                                                      const PartitionSpec& spec, size_t of,
                                                      uint64_t seed) {
  FP_RETURN_IF_ERROR(ValidateSpec(spec));
  if (of == 0) return Status::InvalidArgument("number of clients must be at least 1");
  if (labels.empty()) return Status::InvalidArgument("cannot partition an empty data set");
  if (of > labels.size())
    return Status::InvalidArgument("cannot split " + std::to_string(labels.size()) +
                                   " items among " + std::to_string(of) +
                                   " clients: use fewer clients or more data");
  Rng rng(seed);
  std::vector<std::vector<size_t>> parts;
  switch (spec.kind) {
    case PartitionSpec::kIid: {
      std::vector<size_t> order(labels.size());
      std::iota(order.begin(), order.end(), size_t{0});
      rng.Shuffle(order);
      parts = CutEvenly(order, of);
      break;
    }
    case PartitionSpec::kDirichlet: parts = Dirichlet(labels, spec.alpha, of, rng); break;
    case PartitionSpec::kShards: {
      const size_t k = static_cast<size_t>(spec.shards_per_client);
      if (k * of > labels.size())
        return Status::InvalidArgument(
            "shards:" + std::to_string(k) + " with " + std::to_string(of) + " clients needs " +
            std::to_string(k * of) + " shards but there are only " +
            std::to_string(labels.size()) + " items: lower K or the number of clients");
      parts = Shards(labels, k, of, rng);
      break;
    }
  }
  for (auto& p : parts) std::sort(p.begin(), p.end());
  return parts;
}

Result<std::vector<size_t>> PartitionIndices(std::span<const uint8_t> labels,
                                             const PartitionSpec& spec, size_t index, size_t of,
                                             uint64_t seed) {
  if (of > 0 && index >= of)
    return Status::InvalidArgument("client index " + std::to_string(index) +
                                   " out of range: must be below the number of clients (" +
                                   std::to_string(of) + ")");
  FP_ASSIGN_OR_RETURN(auto parts, PartitionAll(labels, spec, of, seed));
  return std::move(parts[index]);
}

}  // namespace fedpress
