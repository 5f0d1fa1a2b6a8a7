// The recurrences of lab/models/fused_rnn.py (its _RNNTanh and _GRU), compiled: each time step
// is the one matrix product the recurrence needs (ATen's, multi-threaded) and then a single pass
// over the step's elements that does what the Python loops do in four or five torch calls and
// several passes over whole buffers. On the book's shapes (32 × 256) a call costs about as much
// as its arithmetic; this pass reads and writes each value once, while it is in the cache.
//
// The input projection comes as rows g [R, k·H] and the row each (step, sequence) takes, rows
// [T, B]: for token ids the rows of W_ih^T + b (a one-hot vector picks one) and the ids
// themselves, for features one row per (step, sequence). The gradient of g is summed into its
// rows the same way. Built for the machine it runs on by lab/models/native.py.

#include <torch/extension.h>

#include <cstdint>
#include <cstring>

#include "fast_math.h"

namespace {

inline float sigmoid(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

float* ptr(const at::Tensor& t) { return t.data_ptr<float>(); }

// The Python side hands over contiguous float32 buffers it allocated; anything else is a bug
// there, not an input to convert.
void check(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous(),
              name, ": a contiguous float32 CPU tensor was expected");
}

// Where row ``rows[i]`` of a table of ``count`` rows of ``width`` starts, the row checked to
// exist.
int64_t row_at(const int64_t* rows, int64_t i, int64_t count, int64_t width) {
  TORCH_CHECK(rows[i] >= 0 && rows[i] < count, "row ", rows[i], " of ", count, " rows");
  return rows[i] * width;
}

void check_rows(const at::Tensor& rows, const at::Tensor& g) {
  TORCH_CHECK(rows.scalar_type() == at::kLong && rows.is_contiguous() && rows.dim() == 2,
              "rows: contiguous int64 [steps, batch] expected");
  check(g, "g");
}

}  // namespace

// _RNNTanh: h_t = tanh(g_{rows[t]} + h_{t-1} W^T), as 2σ(2·) − 1. Returns h_0, …, h_T [T + 1, B, H].
at::Tensor rnn_tanh_forward(at::Tensor g, at::Tensor rows, at::Tensor h0, at::Tensor w_hh) {
  check_rows(rows, g);
  const int64_t steps = rows.size(0), batch = rows.size(1), hidden = w_hh.size(0);
  at::Tensor Hx = at::empty({steps + 1, batch, hidden}, g.options());
  Hx[0].copy_(h0);
  const at::Tensor w = w_hh.t();
  const int64_t* row = rows.data_ptr<int64_t>();
  for (int64_t t = 0; t < steps; ++t) {
    at::Tensor h_t = Hx[t + 1];
    at::mm_out(h_t, Hx[t], w);
    float* a = ptr(h_t);
    for (int64_t b = 0; b < batch; ++b, a += hidden) {
      const float* x = ptr(g) + row_at(row, t * batch + b, g.size(0), hidden);
#pragma omp simd
      for (int64_t j = 0; j < hidden; ++j) a[j] = 2.0f * sigmoid(2.0f * (a[j] + x[j])) - 1.0f;
    }
  }
  return Hx;
}

// Back through rnn_tanh_forward: dL/dz_t = (1 − h_t²) dL/dh_t for all t, with dL/dh_{t-1} =
// dH_{t-1} + dz_t W. Returns dL/dg (summed into its rows), dL/dW_hh = Σ_t dz_t^T h_{t-1} and
// dL/dh_0 (undefined unless asked for).
std::vector<at::Tensor> rnn_tanh_backward(at::Tensor Hx, at::Tensor dH, at::Tensor rows,
                                          int64_t g_rows, at::Tensor w_hh, bool need_h0) {
  check(Hx, "Hx");
  dH = dH.contiguous();
  const int64_t steps = rows.size(0), batch = rows.size(1), hidden = w_hh.size(0);
  at::Tensor dZ = at::empty_like(dH), dg = at::zeros({g_rows, hidden}, dH.options());
  at::Tensor carry = dH[steps - 1].clone(), h0_grad;
  const int64_t* row = rows.data_ptr<int64_t>();
  for (int64_t t = steps - 1; t >= 0; --t) {
    const float* h = ptr(Hx) + (t + 1) * batch * hidden;
    const float* c = ptr(carry);
    float* dz = ptr(dZ) + t * batch * hidden;
    for (int64_t b = 0; b < batch; ++b, h += hidden, c += hidden, dz += hidden) {
      float* dx = ptr(dg) + row_at(row, t * batch + b, g_rows, hidden);
#pragma omp simd
      for (int64_t j = 0; j < hidden; ++j) {
        dz[j] = (1.0f - h[j] * h[j]) * c[j];
        dx[j] += dz[j];
      }
    }
    if (t > 0) {
      at::addmm_out(carry, dH[t - 1], dZ[t], w_hh);
    } else if (need_h0) {
      h0_grad = at::mm(dZ[0], w_hh);
    }
  }
  at::Tensor dw = at::mm(dZ.view({-1, hidden}).t(), Hx.narrow(0, 0, steps).view({-1, hidden}));
  return {dg, dw, h0_grad};
}

// _GRU, torch's (gates r, z, n): with g_t = g_{rows[t]} and p_t = h_{t-1} W_hh^T + b_hh,
// r, z = σ(g_rz + p_rz), n = tanh(g_n + r ⊙ p_n), h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}. Returns
// h_0, …, h_T [T + 1, B, H], and what the backward pass reads: GH [T, B, 3H] (r, z and p_n)
// and N [T, B, H] (n).
std::vector<at::Tensor> gru_forward(at::Tensor g, at::Tensor rows, at::Tensor h0,
                                    at::Tensor w_hh, at::Tensor b_hh) {
  check_rows(rows, g);
  check(b_hh, "b_hh");
  const int64_t steps = rows.size(0), batch = rows.size(1), hidden = w_hh.size(1);
  at::Tensor Hx = at::empty({steps + 1, batch, hidden}, g.options());
  at::Tensor GH = at::empty({steps, batch, 3 * hidden}, g.options());
  at::Tensor N = at::empty({steps, batch, hidden}, g.options());
  Hx[0].copy_(h0);
  const at::Tensor w = w_hh.t();
  const int64_t* row = rows.data_ptr<int64_t>();
  const float* bias = ptr(b_hh);
  for (int64_t t = 0; t < steps; ++t) {
    at::Tensor gh_t = GH[t];
    at::mm_out(gh_t, Hx[t], w);
    float* p = ptr(gh_t);
    float* n = ptr(N) + t * batch * hidden;
    const float* h = ptr(Hx) + t * batch * hidden;
    float* out = ptr(Hx) + (t + 1) * batch * hidden;
    for (int64_t b = 0; b < batch; ++b, p += 3 * hidden, n += hidden, h += hidden,
                 out += hidden) {
      const float* x = ptr(g) + row_at(row, t * batch + b, g.size(0), 3 * hidden);
#pragma omp simd
      for (int64_t j = 0; j < hidden; ++j) {
        const float r = sigmoid(x[j] + p[j] + bias[j]);
        const float z = sigmoid(x[hidden + j] + p[hidden + j] + bias[hidden + j]);
        const float p_n = p[2 * hidden + j] + bias[2 * hidden + j];
        const float n_j = 2.0f * sigmoid(2.0f * (x[2 * hidden + j] + r * p_n)) - 1.0f;
        p[j] = r;
        p[hidden + j] = z;
        p[2 * hidden + j] = p_n;
        n[j] = n_j;
        out[j] = n_j + z * (h[j] - n_j);
      }
    }
  }
  return {Hx, GH, N};
}

// Back through gru_forward, step by step back in time: m_t = dL/dp_t gate by gate (the r and z
// columns are dL/dg's too; dL/dg_n = dL/d(g_n + r ⊙ p_n)), and dL/dh_{t-1} = dH_{t-1} +
// z ⊙ dL/dh_t + m_t W_hh. Returns dL/dg (summed into its rows), dL/dW_hh = Σ_t m_t^T h_{t-1},
// dL/db_hh = Σ_t m_t and dL/dh_0 (undefined unless asked for).
std::vector<at::Tensor> gru_backward(at::Tensor GH, at::Tensor N, at::Tensor Hx, at::Tensor dH,
                                     at::Tensor rows, int64_t g_rows, at::Tensor w_hh,
                                     bool need_h0) {
  check(GH, "GH");
  check(N, "N");
  check(Hx, "Hx");
  dH = dH.contiguous();
  const int64_t steps = N.size(0), batch = N.size(1), hidden = N.size(2);
  at::Tensor M = at::empty_like(GH), dg = at::zeros({g_rows, 3 * hidden}, GH.options());
  at::Tensor db = at::zeros({3 * hidden}, GH.options()), h0_grad;
  at::Tensor carry = dH[steps - 1].clone(), next = at::empty_like(carry);
  const int64_t* row = rows.data_ptr<int64_t>();
  float* sum = ptr(db);
  const int64_t plane = batch * hidden;
  for (int64_t t = steps - 1; t >= 0; --t) {
    const float* p = ptr(GH) + t * 3 * plane;
    const float* n = ptr(N) + t * plane;
    const float* h = ptr(Hx) + t * plane;
    const float* d = ptr(carry);
    const float* up = t > 0 ? ptr(dH) + (t - 1) * plane : nullptr;
    float* m = ptr(M) + t * 3 * plane;
    float* out = ptr(next);
    for (int64_t b = 0; b < batch; ++b, p += 3 * hidden, m += 3 * hidden, n += hidden,
                 h += hidden, d += hidden, out += hidden) {
      float* dx = ptr(dg) + row_at(row, t * batch + b, g_rows, 3 * hidden);
      const float* u = up ? up + b * hidden : nullptr;
#pragma omp simd
      for (int64_t j = 0; j < hidden; ++j) {
        const float r = p[j], z = p[hidden + j], p_n = p[2 * hidden + j], n_j = n[j];
        const float da = d[j] * (1.0f - z) * (1.0f - n_j * n_j);
        const float m_r = da * p_n * r * (1.0f - r);
        const float m_z = d[j] * (h[j] - n_j) * z * (1.0f - z);
        const float m_n = da * r;
        m[j] = m_r;
        m[hidden + j] = m_z;
        m[2 * hidden + j] = m_n;
        dx[j] += m_r;
        dx[hidden + j] += m_z;
        dx[2 * hidden + j] += da;
        sum[j] += m_r;
        sum[hidden + j] += m_z;
        sum[2 * hidden + j] += m_n;
        out[j] = (u ? u[j] : 0.0f) + z * d[j];
      }
    }
    if (t > 0 || need_h0) next.addmm_(M[t], w_hh);
    std::swap(carry, next);
  }
  if (need_h0) h0_grad = carry;
  at::Tensor dw = at::mm(M.view({-1, 3 * hidden}).t(),
                         Hx.narrow(0, 0, steps).view({-1, hidden}));
  return {dg, dw, db, h0_grad};
}

// Without the GIL: a run's loop takes milliseconds, and the lab's interface (another thread of
// the same process) redraws meanwhile.
void bind_rnn_loops(pybind11::module_& m) {
  using release = pybind11::call_guard<pybind11::gil_scoped_release>;
  m.def("rnn_tanh_forward", &rnn_tanh_forward, release());
  m.def("rnn_tanh_backward", &rnn_tanh_backward, release());
  m.def("gru_forward", &gru_forward, release());
  m.def("gru_backward", &gru_backward, release());
}
