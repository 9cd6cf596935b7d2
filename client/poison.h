// TESTING TOOL: deliberately poisoned updates (fedpress-client --poison), to
// try the server's robust aggregation (clipping, median, trimmed mean) and its
// outlier flags against a misbehaving participant. A poisoned client trains
// normally, then multiplies its update (local - global) before compressing
// and sending it:
//   scale:K        Δ · K       (e.g. scale:1000: a huge update)
//   sign-flip      Δ · (-1)    (pushes the model the wrong way)
//   sign-flip:K    Δ · (-K)
// Never use it on a real federation.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace fedpress::client {

struct PoisonMode {
  double factor = 1.0;  // the update is multiplied by this; 1 = honest
  std::string text;     // as given, for logs ("" when honest)
  bool active() const { return factor != 1.0; }
};

// "" or "none" (honest), "scale:K" (K finite, non-zero, |K| <= 1e9),
// "sign-flip" or "sign-flip:K" (K > 0, <= 1e9). InvalidArgument otherwise.
Result<PoisonMode> ParsePoisonMode(std::string_view text);

// delta *= mode.factor.
void ApplyPoison(const PoisonMode& mode, std::span<float> delta);

}  // namespace fedpress::client
