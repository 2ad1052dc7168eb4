// The cpp backend of gankit.optim.ClippedRMSprop: RMSprop followed by the clamp to
// [-clip, clip], in one pass over each tensor's memory, parallel over elements (ATen
// parallel_for, loops the compiler vectorises). Arithmetic is in the accumulate type: float for fp32/fp16/bf16, double for
// fp64. The operations are in the order of torch.optim.RMSprop's single-tensor update
// (torch/optim/rmsprop.py), then the clamp. NaN stays NaN through the clamp, as torch.clamp
// keeps it.
#include <torch/extension.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

namespace {

constexpr int64_t kGrain = 16384;

struct Hyper {
  double lr, alpha, eps, weight_decay, momentum;
  bool maximize, clip;
  double clip_value;
};

// Elements [begin, end) of one tensor. Plain restrict pointers (not lambda captures) and the
// centered / momentum choices as template arguments, so the compiler vectorises the loop.
template <typename T, bool kCentered, bool kMomentum>
void rmsprop_clip_range(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ sq,
                        T* __restrict__ ga, T* __restrict__ buf, const Hyper h, int64_t begin,
                        int64_t end) {
  using acc = at::opmath_type<T>;
  const acc lr = h.lr, alpha = h.alpha, one_minus_alpha = 1 - h.alpha, eps = h.eps;
  const acc wd = h.weight_decay, mom = h.momentum, c = h.clip_value;
  for (int64_t i = begin; i < end; ++i) {
    acc grad_i = static_cast<acc>(g[i]);
    if (h.maximize) grad_i = -grad_i;
    acc p_i = static_cast<acc>(p[i]);
    if (wd != 0) grad_i = grad_i + wd * p_i;
    const acc sq_i = static_cast<acc>(sq[i]) * alpha + one_minus_alpha * grad_i * grad_i;
    sq[i] = static_cast<T>(sq_i);
    acc avg;
    if constexpr (kCentered) {
      acc ga_i = static_cast<acc>(ga[i]);
      ga_i = ga_i + one_minus_alpha * (grad_i - ga_i);  // lerp_(grad, 1 - alpha)
      ga[i] = static_cast<T>(ga_i);
      avg = std::sqrt(sq_i + (-1) * ga_i * ga_i);
    } else {
      avg = std::sqrt(sq_i);
    }
    avg = avg + eps;
    if constexpr (kMomentum) {
      const acc b_i = static_cast<acc>(buf[i]) * mom + grad_i / avg;
      buf[i] = static_cast<T>(b_i);
      p_i = p_i + (-lr) * b_i;
    } else {
      p_i = p_i + (-lr) * (grad_i / avg);
    }
    if (h.clip) p_i = std::min(std::max(p_i, -c), c);  // NaN passes through both
    p[i] = static_cast<T>(p_i);
  }
}

template <typename T>
void rmsprop_clip_tensor(at::Tensor& param, const at::Tensor& grad, at::Tensor& square_avg,
                         at::Tensor* grad_avg, at::Tensor* momentum_buffer, const Hyper& h) {
  T* p = param.data_ptr<T>();
  const T* g = grad.data_ptr<T>();
  T* sq = square_avg.data_ptr<T>();
  T* ga = grad_avg ? grad_avg->data_ptr<T>() : nullptr;
  T* buf = momentum_buffer ? momentum_buffer->data_ptr<T>() : nullptr;
  auto range = ga ? (buf ? rmsprop_clip_range<T, true, true> : rmsprop_clip_range<T, true, false>)
                  : (buf ? rmsprop_clip_range<T, false, true> : rmsprop_clip_range<T, false, false>);
  at::parallel_for(0, param.numel(), kGrain, [=](int64_t begin, int64_t end) {
    range(p, g, sq, ga, buf, h, begin, end);
  });
}

}  // namespace

// One optimizer step over the parameters of one group that have a grad (the caller clamps
// the others with gankit.optim.clamp_parameters). grad_avgs / momentum_buffers are empty when the option is off.
// clip_value < 0 means no clamp.
void step(std::vector<at::Tensor> params, std::vector<at::Tensor> grads,
          std::vector<at::Tensor> square_avgs, std::vector<at::Tensor> grad_avgs,
          std::vector<at::Tensor> momentum_buffers, double lr, double alpha, double eps,
          double weight_decay, double momentum, bool centered, bool maximize, double clip_value) {
  const Hyper h{lr, alpha, eps, weight_decay, momentum, maximize, clip_value >= 0, clip_value};
  for (size_t i = 0; i < params.size(); ++i) {
    at::Tensor& p = params[i];
    TORCH_CHECK(p.device().is_cpu() && p.is_contiguous(), "cpp backend: parameters must be contiguous CPU tensors");
    if (p.numel() == 0) continue;
    at::Tensor grad = grads[i].contiguous();
    at::Tensor* ga = centered ? &grad_avgs[i] : nullptr;
    at::Tensor* buf = momentum > 0 ? &momentum_buffers[i] : nullptr;
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, p.scalar_type(), "rmsprop_clip", [&] {
      rmsprop_clip_tensor<scalar_t>(p, grad, square_avgs[i], ga, buf, h);
    });
  }
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("step", &step, "RMSprop step then clamp, over one parameter group");
}
