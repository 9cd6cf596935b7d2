#include "server/aggregation_strategy.h"

#include "server/aggregation_math.h"
#include "server/robust_aggregator.h"
#include "server/streaming_fedavg.h"

namespace fedpress::server {

std::unique_ptr<RoundAggregator> MakeRoundAggregator(const AggregationSpec& spec, size_t num_elements,
                                                     size_t max_updates) {
  if (!spec.NeedsAllUpdates()) return std::make_unique<StreamingFedAvg>(spec, num_elements);
  return std::make_unique<RobustAggregator>(spec, num_elements, max_updates);
}

RoundSummary SummarizeRound(std::span<const double> norms, const std::vector<bool>& clipped,
                            double outlier_factor) {
  RoundSummary s;
  const std::vector<bool> outlier = FlagOutliers(norms, outlier_factor);
  for (size_t k = 0; k < norms.size(); ++k) {
    UpdateStats u;
    u.norm = norms[k];
    u.clipped = k < clipped.size() && clipped[k];
    u.outlier = outlier[k];
    s.clipped += u.clipped;
    s.outliers += u.outlier;
    s.updates.push_back(u);
  }
  if (!norms.empty()) s.median_norm = Median(std::vector<double>(norms.begin(), norms.end()));
  return s;
}

}  // namespace fedpress::server
