#include "client/poison.h"

#include <charconv>
#include <cmath>
#include <optional>

namespace fedpress::client {
namespace {

constexpr double kMaxFactor = 1e9;

std::optional<double> ParseNumber(std::string_view s) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

Status Bad(std::string_view text, const std::string& why) {
  return Status::InvalidArgument("--poison '" + std::string(text) + "': " + why +
                                 " (use scale:K, sign-flip or sign-flip:K)");
}

}  // namespace

Result<PoisonMode> ParsePoisonMode(std::string_view text) {
  PoisonMode mode;
  if (text.empty() || text == "none") return mode;
  mode.text = std::string(text);
  constexpr std::string_view kScale = "scale:", kFlip = "sign-flip";
  if (text.rfind(kScale, 0) == 0) {
    auto k = ParseNumber(text.substr(kScale.size()));
    if (!k || *k == 0 || std::fabs(*k) > kMaxFactor) return Bad(text, "K must be a non-zero number up to 1e9");
    mode.factor = *k;
    return mode;
  }
  if (text == kFlip) {
    mode.factor = -1.0;
    return mode;
  }
  if (text.rfind(std::string(kFlip) + ":", 0) == 0) {
    auto k = ParseNumber(text.substr(kFlip.size() + 1));
    if (!k || *k <= 0 || *k > kMaxFactor) return Bad(text, "K must be a positive number up to 1e9");
    mode.factor = -*k;
    return mode;
  }
  return Bad(text, "unknown mode");
}

void ApplyPoison(const PoisonMode& mode, std::span<float> delta) {
  if (!mode.active()) return;
  const float f = static_cast<float>(mode.factor);
  for (float& x : delta) x *= f;
}

}  // namespace fedpress::client
