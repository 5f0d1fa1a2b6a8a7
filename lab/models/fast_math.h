// Arithmetic the compiled kernels share (rnn_loops.cpp, masked_softmax.cpp).

#pragma once

#include <cstdint>
#include <cstring>

// exp(x) for float, written so that the compiler vectorizes the loops that call it: Cephes'
// expf (x = k ln 2 + r, |r| ≤ ln 2 / 2, a degree-6 polynomial for e^r, 2^k from the exponent
// bits), within 2 ulp. The clamps keep 2^k a normal float; a NaN fails both comparisons and
// comes out NaN, so a diverging run still shows it.
inline float exp_approx(float x) {
  x = x > 88.37626f ? 88.37626f : x;
  x = x < -87.33654f ? -87.33654f : x;
  const float k = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  const float r = x - k * 0.693359375f + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}
