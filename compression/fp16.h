// IEEE-754 binary16 conversion in software (round to nearest, ties to even),
// identical on every platform. Values beyond the half range saturate to
// +-65504 instead of becoming infinite; NaN input is the caller's error.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

namespace fedpress::compression {

uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);
// True if h encodes an infinity or NaN.
inline bool HalfIsNonFinite(uint16_t h) { return (h & 0x7C00u) == 0x7C00u; }

}  // namespace fedpress::compression
