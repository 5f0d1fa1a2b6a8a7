// LeNet's pooling, nn.AvgPool2d(kernel_size=2, stride=2), for float32 channels_last tensors on
// the CPU (lab/models/cpu_ops.py's AvgPool2d), forward and backward. torch's channels_last
// kernel vectorizes along the channels, and LeNet's first pooling has 6 of them: with its
// backward, a sixth of LeNet's training step on 2 cores. Here each output pixel is the mean of
// the 2×2 window under it, row by row of the image, which reads and writes each value once.
// As torch's (ceil_mode off, no padding), an odd last row or column is left out.

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct Shape {
  int64_t n, h, w, c;
  int64_t oh() const { return h / 2; }
  int64_t ow() const { return w / 2; }
};

Shape shape_of(const at::Tensor& x) { return {x.size(0), x.size(2), x.size(3), x.size(1)}; }

// f(output row, offset of the first of its two input rows) for every output row (an image's
// row, all its pixels and channels), the rows split over threads.
template <typename F>
void for_output_rows(const Shape& s, const F& f) {
  const int64_t rows = s.n * s.oh(), grain = std::max<int64_t>(1, (1 << 15) / (s.w * s.c + 1));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t image = row / s.oh(), oh = row % s.oh();
      f(row, (image * s.h + 2 * oh) * s.w * s.c);
    }
  });
}

at::Tensor pool_forward(const at::Tensor& x) {
  const Shape s = shape_of(x);
  at::Tensor y = at::empty({s.n, s.c, s.oh(), s.ow()},
                           x.options().memory_format(at::MemoryFormat::ChannelsLast));
  const float* in = x.data_ptr<float>();
  float* out = y.data_ptr<float>();
  const int64_t c = s.c, width = s.w * c, out_width = s.ow() * c;
  for_output_rows(s, [&](int64_t row, int64_t first) {
    const float* top = in + first;
    const float* bottom = top + width;
    float* o = out + row * out_width;
    for (int64_t ow = 0; ow < s.ow(); ++ow) {
      const float* a = top + 2 * ow * c;
      const float* b = bottom + 2 * ow * c;
      for (int64_t k = 0; k < c; ++k)
        o[ow * c + k] = 0.25f * ((a[k] + a[k + c]) + (b[k] + b[k + c]));
    }
  });
  return y;
}

at::Tensor pool_backward(const at::Tensor& grad, const Shape& s) {
  const at::Tensor g = grad.contiguous(at::MemoryFormat::ChannelsLast);
  // An odd last row or column took no part, so its gradient is 0.
  at::Tensor dx =
      at::empty({s.n, s.c, s.h, s.w}, g.options().memory_format(at::MemoryFormat::ChannelsLast));
  if (s.h % 2 || s.w % 2) dx.zero_();
  const float* gs = g.data_ptr<float>();
  float* out = dx.data_ptr<float>();
  const int64_t c = s.c, width = s.w * c, out_width = s.ow() * c;
  for_output_rows(s, [&](int64_t row, int64_t first) {
    float* top = out + first;
    float* bottom = top + width;
    const float* gr = gs + row * out_width;
    for (int64_t ow = 0; ow < s.ow(); ++ow) {
      float* a = top + 2 * ow * c;
      float* b = bottom + 2 * ow * c;
      for (int64_t k = 0; k < c; ++k) {
        const float v = 0.25f * gr[ow * c + k];
        a[k] = v;
        a[k + c] = v;
        b[k] = v;
        b[k + c] = v;
      }
    }
  });
  return dx;
}

struct AvgPool2x2 : public torch::autograd::Function<AvgPool2x2> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x) {
    TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == at::kFloat && x.dim() == 4 &&
                    x.is_contiguous(at::MemoryFormat::ChannelsLast) && x.size(2) >= 2 &&
                    x.size(3) >= 2,
                "avg_pool_2x2: a float32 channels_last CPU tensor of at least 2×2 expected");
    ctx->saved_data["shape"] = x.sizes();
    return pool_forward(x);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    TORCH_CHECK(!grads[0].requires_grad(), "avg_pool_2x2: no second derivative");
    const std::vector<int64_t> size = ctx->saved_data["shape"].toIntVector();
    return {pool_backward(grads[0], {size[0], size[2], size[3], size[1]})};
  }
};

at::Tensor avg_pool_2x2(const at::Tensor& x) { return AvgPool2x2::apply(x); }

}  // namespace

void bind_avg_pool(pybind11::module_& m) {
  m.def("avg_pool_2x2", &avg_pool_2x2, pybind11::call_guard<pybind11::gil_scoped_release>());
}
