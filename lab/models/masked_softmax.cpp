// The attention chapters' masked softmax for float32 on the CPU (lab/models/attention.py), as one
// autograd node. The book's way, sequence_mask then softmax, is a dozen torch calls on small
// tensors (lengths repeated per query, a comparison, a masked copy, the softmax's five passes,
// and their backwards): a sixth of the Transformer's training step. Here one pass over the
// scores does the forward, and one over the gradients (with the weights) the backward.
//
// Row (n, q) of X [N, Q, K] keeps its first len keys: len = valid_lens[n] for lengths per
// example, valid_lens[n, q] for lengths per query, clamped to [0, K]. The results are the book's:
// the keys left out weigh 0 (exp of its fill, −10⁶, underflows to 0) and get no gradient, and a
// row with no key left weighs all its keys alike (its fill is all the row holds) with no
// gradient at all. As in lab/models/cpu_ops.py's softmax, a weight below e⁻⁸⁰ is set to 0
// rather than computed (denormals on the way are slow, and it is 0 to float precision).

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "fast_math.h"

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr float NEGLIGIBLE = -80.0f;

// The valid lengths, one per row of X.
struct Lengths {
  const int64_t* data;
  int64_t queries;
  bool per_query;
  int64_t keys;

  int64_t operator()(int64_t row) const {
    const int64_t len = data[per_query ? row : row / queries];
    return len < 0 ? 0 : (len > keys ? keys : len);
  }
};

Lengths lengths_of(const at::Tensor& x, const at::Tensor& lens) {
  const int64_t rows = x.size(0) * x.size(1);
  TORCH_CHECK(lens.scalar_type() == at::kLong && lens.is_contiguous(),
              "masked_softmax: contiguous int64 valid_lens expected");
  TORCH_CHECK(lens.numel() == x.size(0) || lens.numel() == rows,
              "masked_softmax: valid_lens must be [N] or [N, Q] for scores [N, Q, K]");
  return {lens.data_ptr<int64_t>(), x.size(1), lens.numel() == rows, x.size(2)};
}

// Rows are short (the book's 10 keys) and of different lengths, which a loop along a row cannot
// vectorize well; so blocks of LANES rows are transposed, row r0 + l into lane l of t (t[k, l]),
// and every loop runs across the lanes, one vector per key.
constexpr int64_t LANES = 16;

// f(t, r0, lanes) for each block of rows of a [rows, keys] buffer, blocks split over threads
// when there are enough of them; t holds the block of `in`, and is written back to `out`.
template <typename F>
void for_blocks(const float* in, float* out, int64_t rows, int64_t keys, const F& f) {
  const int64_t blocks = (rows + LANES - 1) / LANES;
  const int64_t grain = std::max<int64_t>(1, (1 << 16) / (LANES * std::max<int64_t>(keys, 1)));
  at::parallel_for(0, blocks, grain, [&](int64_t first, int64_t last) {
    std::vector<float> t(static_cast<size_t>(keys * LANES));
    for (int64_t block = first; block < last; ++block) {
      const int64_t r0 = block * LANES, lanes = std::min(LANES, rows - r0);
      for (int64_t l = 0; l < lanes; ++l)
        for (int64_t k = 0; k < keys; ++k) t[k * LANES + l] = in[(r0 + l) * keys + k];
      f(t.data(), r0, lanes);
      for (int64_t l = 0; l < lanes; ++l)
        for (int64_t k = 0; k < keys; ++k) out[(r0 + l) * keys + k] = t[k * LANES + l];
    }
  });
}

// The kept keys of each lane's row: n[l] for row r0 + l (0 past the last row).
void lane_lengths(const Lengths& len, int64_t r0, int64_t lanes, int64_t* n) {
  for (int64_t l = 0; l < LANES; ++l) n[l] = l < lanes ? len(r0 + l) : 0;
}

at::Tensor forward_rows(const at::Tensor& x, const Lengths& len) {
  at::Tensor y = at::empty_like(x);
  const int64_t keys = x.size(2);
  for_blocks(x.data_ptr<float>(), y.data_ptr<float>(), x.size(0) * x.size(1), keys,
             [&](float* t, int64_t r0, int64_t lanes) {
    int64_t n[LANES];
    float top[LANES], sum[LANES], scale[LANES], flat[LANES];
    lane_lengths(len, r0, lanes, n);
    for (int64_t l = 0; l < LANES; ++l) top[l] = -std::numeric_limits<float>::infinity();
    for (int64_t k = 0; k < keys; ++k) {
      const float* v = t + k * LANES;
#pragma omp simd
      for (int64_t l = 0; l < LANES; ++l) top[l] = k < n[l] && v[l] > top[l] ? v[l] : top[l];
    }
    for (int64_t l = 0; l < LANES; ++l) sum[l] = 0.0f;
    for (int64_t k = 0; k < keys; ++k) {
      float* v = t + k * LANES;
#pragma omp simd
      for (int64_t l = 0; l < LANES; ++l) {
        const float z = v[l] - top[l];  // a NaN kept stays NaN, and so makes the sum
        v[l] = k < n[l] && !(z < NEGLIGIBLE) ? exp_approx(z) : 0.0f;
        sum[l] += v[l];
      }
    }
#pragma omp simd
    for (int64_t l = 0; l < LANES; ++l) {
      scale[l] = n[l] == 0 ? 0.0f : 1.0f / sum[l];
      flat[l] = n[l] == 0 ? 1.0f / static_cast<float>(keys) : 0.0f;
    }
    for (int64_t k = 0; k < keys; ++k) {
      float* v = t + k * LANES;
#pragma omp simd
      for (int64_t l = 0; l < LANES; ++l) v[l] = v[l] * scale[l] + flat[l];
    }
  });
  return y;
}

// dX = Y ⊙ (G − Σ G ⊙ Y) along each row (0 where a key was left out, as Y is); 0 for a row
// with no key kept.
at::Tensor backward_rows(const at::Tensor& g, const at::Tensor& y, const Lengths& len) {
  const at::Tensor grad = g.contiguous();
  at::Tensor dx = at::empty_like(y);
  const float* ys = y.data_ptr<float>();
  const int64_t keys = y.size(2);
  for_blocks(grad.data_ptr<float>(), dx.data_ptr<float>(), y.size(0) * y.size(1), keys,
             [&](float* t, int64_t r0, int64_t lanes) {
    thread_local std::vector<float> yb;  // the block's weights, transposed as t is
    yb.assign(static_cast<size_t>(keys * LANES), 0.0f);
    for (int64_t l = 0; l < lanes; ++l)
      for (int64_t k = 0; k < keys; ++k) yb[k * LANES + l] = ys[(r0 + l) * keys + k];
    int64_t n[LANES];
    float dot[LANES];
    lane_lengths(len, r0, lanes, n);
    for (int64_t l = 0; l < LANES; ++l) dot[l] = 0.0f;
    for (int64_t k = 0; k < keys; ++k) {
      const float* v = t + k * LANES;
      const float* w = yb.data() + k * LANES;
#pragma omp simd
      for (int64_t l = 0; l < LANES; ++l) dot[l] += v[l] * w[l];
    }
    for (int64_t k = 0; k < keys; ++k) {
      float* v = t + k * LANES;
      const float* w = yb.data() + k * LANES;
#pragma omp simd
      for (int64_t l = 0; l < LANES; ++l) v[l] = n[l] == 0 ? 0.0f : w[l] * (v[l] - dot[l]);
    }
  });
  return dx;
}

struct MaskedSoftmax : public torch::autograd::Function<MaskedSoftmax> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x,
                            const at::Tensor& valid_lens) {
    TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == at::kFloat && x.dim() == 3,
                "masked_softmax: float32 CPU scores [N, Q, K] expected");
    const at::Tensor scores = x.contiguous();
    const at::Tensor lens = valid_lens.to(at::kLong).contiguous();
    at::Tensor y = forward_rows(scores, lengths_of(scores, lens));
    ctx->save_for_backward({y, lens});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    TORCH_CHECK(!grads[0].requires_grad(), "masked_softmax: no second derivative");
    const variable_list saved = ctx->get_saved_variables();
    return {backward_rows(grads[0], saved[0], lengths_of(saved[0], saved[1])), at::Tensor()};
  }
};

at::Tensor masked_softmax(const at::Tensor& x, const at::Tensor& valid_lens) {
  return MaskedSoftmax::apply(x, valid_lens);
}

}  // namespace

void bind_masked_softmax(pybind11::module_& m) {
  m.def("masked_softmax", &masked_softmax, pybind11::call_guard<pybind11::gil_scoped_release>());
}
