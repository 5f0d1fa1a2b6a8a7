// Dropout for float32 on the CPU (lab/models/cpu_ops.py's Dropout), as one autograd node whose
// mask costs nothing to draw or to keep. torch draws its mask with bernoulli_ (one Mersenne
// Twister number per element, in one thread), stores it, and multiplies twice: on the
// Transformer's small tensors a fifth of a training step. Here element i is kept when a hash
// of (seed, i) is at least p·2³²: every element on its own, so the loop vectorizes, any number
// of threads gives the same mask, and the backward recomputes the mask instead of storing it.
// The seed is one draw from torch's default CPU generator, so torch.manual_seed and a
// checkpoint's saved generator state make a run repeat as with torch's dropout (with other
// masks than torch's).

#include <torch/extension.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cstdint>
#include <mutex>

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// A 32-bit integer hash with low bias (Wellons' lowbias32): its output bits are close to
// independent of each other and of the input's, which a threshold test needs.
inline uint32_t hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

struct Mask {
  uint32_t key0, key1, threshold;
  float scale;

  Mask(double p, uint64_t seed)
      : key0(static_cast<uint32_t>(seed)), key1(static_cast<uint32_t>(seed >> 32)),
        threshold(static_cast<uint32_t>(p * 4294967296.0)),  // p < 1: below 2³²
        scale(static_cast<float>(1.0 / (1.0 - p))) {}

  // x ⊙ mask / (1 − p): what the forward returns, and with the same mask the gradient.
  at::Tensor apply(const at::Tensor& x) const {
    const at::Tensor in = x.contiguous();
    TORCH_CHECK(in.numel() <= UINT32_MAX, "dropout: more elements than the mask's 2^32");
    at::Tensor out = at::empty_like(in);
    const float* src = in.data_ptr<float>();
    float* dst = out.data_ptr<float>();
    const Mask m = *this;
    at::parallel_for(0, in.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) {
        const uint32_t h = hash32(hash32(static_cast<uint32_t>(i) ^ m.key0) + m.key1);
        dst[i] = h >= m.threshold ? src[i] * m.scale : 0.0f;
      }
    });
    return out;
  }
};

uint64_t draw_seed() {
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(generator)->random64();
}

struct Dropout : public torch::autograd::Function<Dropout> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, double p) {
    TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == at::kFloat,
                "dropout: a float32 CPU tensor was expected");
    TORCH_CHECK(p > 0.0 && p < 1.0, "dropout: p in (0, 1) expected, got ", p);
    const uint64_t seed = draw_seed();
    ctx->saved_data["p"] = p;
    ctx->saved_data["seed"] = static_cast<int64_t>(seed);
    return Mask(p, seed).apply(x);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    TORCH_CHECK(!grads[0].requires_grad(), "dropout: no second derivative");
    const Mask mask(ctx->saved_data["p"].toDouble(),
                    static_cast<uint64_t>(ctx->saved_data["seed"].toInt()));
    return {mask.apply(grads[0]), at::Tensor()};
  }
};

at::Tensor dropout(const at::Tensor& x, double p) { return Dropout::apply(x, p); }

}  // namespace

void bind_dropout(pybind11::module_& m) {
  m.def("dropout", &dropout, pybind11::call_guard<pybind11::gil_scoped_release>());
}
