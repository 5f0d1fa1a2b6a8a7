// The time loops of lab/models/fused_rnn.py, compiled: each step is the one matrix product the
// recurrence needs (ATen's, multi-threaded) and then a single pass over the step's elements that
// does what the Python loop does in four or five torch calls. On the book's shapes (32 × 256) a
// call costs about as much as its arithmetic; this pass reads and writes each value once.
//
// The buffers and their contents are fused_rnn.py's (see its _RNNTanh and _GRU); this file only
// replaces their loops. Built for the machine it runs on by lab/models/native.py.

#include <torch/extension.h>

#include <cstdint>
#include <cstring>

namespace {

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

inline float sigmoid(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

float* ptr(const at::Tensor& t) { return t.data_ptr<float>(); }

// The Python side hands over contiguous float32 buffers it allocated; anything else is a bug
// there, not an input to convert.
void check(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous(),
              name, ": a contiguous float32 CPU tensor was expected");
}

}  // namespace

// _RNNTanh.forward: Hx [T + 1, B, H] holds h_0 and, for t ≥ 1, 2 g_t; step t adds 2 h_{t-1} W^T
// and takes tanh(·/2) = 2σ(·) − 1, leaving h_t.
void rnn_tanh_forward(at::Tensor Hx, at::Tensor w_hh) {
  check(Hx, "Hx");
  const int64_t steps = Hx.size(0) - 1, n = Hx.size(1) * Hx.size(2);
  const at::Tensor w = w_hh.t();
  for (int64_t t = 0; t < steps; ++t) {
    at::Tensor h = Hx[t + 1];
    h.addmm_(Hx[t], w, 1, 2);
    float* a = ptr(Hx) + (t + 1) * n;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) a[i] = 2.0f * sigmoid(a[i]) - 1.0f;
  }
}

// _RNNTanh.backward: dL/dz_t = (1 − h_t²) dL/dh_t for every t into dZ [T, B, H], carrying
// dL/dh_{t-1} = dH_{t-1} + dz_t W back; returns dZ and dL/dh_0 (undefined unless asked for).
std::vector<at::Tensor> rnn_tanh_backward(at::Tensor Hx, at::Tensor dH, at::Tensor w_hh,
                                          bool need_h0) {
  check(Hx, "Hx");
  dH = dH.contiguous();
  const int64_t steps = dH.size(0), n = dH.size(1) * dH.size(2);
  at::Tensor dZ = at::empty_like(dH), carry = dH[steps - 1].clone(), h0_grad;
  for (int64_t t = steps - 1; t >= 0; --t) {
    const float* h = ptr(Hx) + (t + 1) * n;
    const float* c = ptr(carry);
    float* dz = ptr(dZ) + t * n;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dz[i] = (1.0f - h[i] * h[i]) * c[i];
    if (t > 0) {
      at::addmm_out(carry, dH[t - 1], dZ[t], w_hh);
    } else if (need_h0) {
      h0_grad = at::mm(dZ[0], w_hh);
    }
  }
  return {dZ, h0_grad};
}

// _GRU.forward: GH [T, B, 3H] holds g_rz + b_hrz and b_hn (r, z, n columns), N [T, B, H] holds
// 2 g_n, Hx [T + 1, B, H] h_0. Step t adds h_{t-1} W_hh^T to GH_t, then in one pass: r and z
// replace their pre-activations, n = tanh(g_n + r ⊙ (h W_hn^T + b_hn)) replaces 2 g_n, and
// h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}.
void gru_forward(at::Tensor GH, at::Tensor N, at::Tensor Hx, at::Tensor w_hh) {
  check(GH, "GH");
  check(N, "N");
  check(Hx, "Hx");
  const int64_t steps = N.size(0), batch = N.size(1), hidden = N.size(2);
  const at::Tensor w = w_hh.t();
  const int64_t row = batch * hidden;
  for (int64_t t = 0; t < steps; ++t) {
    at::Tensor gh_t = GH[t];
    gh_t.addmm_(Hx[t], w);
    float* g = ptr(gh_t);
    float* n = ptr(N) + t * row;
    const float* h = ptr(Hx) + t * row;
    float* out = ptr(Hx) + (t + 1) * row;
    for (int64_t b = 0; b < batch; ++b, g += 3 * hidden, n += hidden, h += hidden,
                 out += hidden) {
#pragma omp simd
      for (int64_t j = 0; j < hidden; ++j) {
        const float r = sigmoid(g[j]), z = sigmoid(g[hidden + j]);
        const float n_j = 2.0f * sigmoid(n[j] + 2.0f * r * g[2 * hidden + j]) - 1.0f;
        g[j] = r;
        g[hidden + j] = z;
        n[j] = n_j;
        out[j] = n_j + z * (h[j] - n_j);
      }
    }
  }
}

// _GRU.backward: from what gru_forward left (GH's r, z and h W_hn^T + b_hn; N's n; Hx) and the
// outputs' gradient dH, step by step back in time: M [T, B, 3H] gets dL/d(h W_hh^T + b_hh) gate
// by gate, A [T, B, H] dL/d(g_n + r ⊙ (h W_hn^T + b_hn)), and dL/dh_{t-1} = dH_{t-1} + z ⊙ dL/dh_t
// + M_t W_hh. Returns M, A and dL/dh_0 (undefined unless asked for).
std::vector<at::Tensor> gru_backward(at::Tensor GH, at::Tensor N, at::Tensor Hx, at::Tensor dH,
                                     at::Tensor w_hh, bool need_h0) {
  check(GH, "GH");
  check(N, "N");
  check(Hx, "Hx");
  dH = dH.contiguous();
  const int64_t steps = N.size(0), batch = N.size(1), hidden = N.size(2);
  at::Tensor M = at::empty_like(GH), A = at::empty_like(N), h0_grad;
  at::Tensor carry = dH[steps - 1].clone(), next = at::empty_like(carry);
  const int64_t row = batch * hidden;
  for (int64_t t = steps - 1; t >= 0; --t) {
    const float* g = ptr(GH) + t * 3 * row;
    const float* n = ptr(N) + t * row;
    const float* h = ptr(Hx) + t * row;
    const float* d = ptr(carry);
    const float* up = t > 0 ? ptr(dH) + (t - 1) * row : nullptr;
    float* m = ptr(M) + t * 3 * row;
    float* a = ptr(A) + t * row;
    float* out = ptr(next);
    for (int64_t b = 0; b < batch; ++b, g += 3 * hidden, m += 3 * hidden, n += hidden,
                 h += hidden, d += hidden, a += hidden, out += hidden) {
      const float* u = up ? up + b * hidden : nullptr;
#pragma omp simd
      for (int64_t j = 0; j < hidden; ++j) {
        const float r = g[j], z = g[hidden + j], gh_n = g[2 * hidden + j], n_j = n[j];
        const float da = d[j] * (1.0f - z) * (1.0f - n_j * n_j);
        m[j] = da * gh_n * r * (1.0f - r);
        m[hidden + j] = d[j] * (h[j] - n_j) * z * (1.0f - z);
        m[2 * hidden + j] = da * r;
        a[j] = da;
        out[j] = (u ? u[j] : 0.0f) + z * d[j];
      }
    }
    if (t > 0 || need_h0) next.addmm_(M[t], w_hh);
    std::swap(carry, next);
  }
  if (need_h0) h0_grad = carry;
  return {M, A, h0_grad};
}

// Without the GIL: a run's loop takes milliseconds, and the lab's interface (another thread of
// the same process) redraws meanwhile.
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  using release = pybind11::call_guard<pybind11::gil_scoped_release>;
  m.def("rnn_tanh_forward", &rnn_tanh_forward, release());
  m.def("rnn_tanh_backward", &rnn_tanh_backward, release());
  m.def("gru_forward", &gru_forward, release());
  m.def("gru_backward", &gru_backward, release());
}
