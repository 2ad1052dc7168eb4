// The cuda backend of gankit.optim.ClippedRMSprop: RMSprop followed by the clamp to
// [-clip, clip] for every parameter of one device and dtype, in ONE kernel launch.
//
// No torch headers: raw pointers and a stream, so nvcc on a machine without a GPU (or torch)
// compiles it as a check. The binding (clipped_rmsprop_cuda.cpp) keeps three tables in device
// memory, built once and cached across steps: tensors (pointers, sizes, group), groups
// (hyperparameters, lr read through a device pointer) and chunks (block -> tensor, offset).
// Unlike multi_tensor_apply, whose tensor lists travel as kernel arguments (a few dozen
// tensors per launch), the tables have no size limit.
//
// Bitwise equality with torch.optim.RMSprop (foreach) + clamp_ in fp32: the arithmetic follows
// PyTorch's foreach CUDA functors op by op (ATen/native/cuda/ForeachFunctors.cuh: `a + s*op(b,
// c)` and `a + alpha*b` contracted to one fma by nvcc; Lerp.h for lerp), and this file is
// compiled with --fmad=false so that nothing else is contracted. IEEE sqrt and division (no
// fast math). fp16/bf16 parameters: the same arithmetic in float, state stored in the half type.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "clipped_rmsprop_cuda.h"

// Every function but the __global__ one also compiles for the host, so the same code can be
// run block by block on a CPU as a check (GANKIT_HOST_EMULATION, used by the test suite).
#define GANKIT_HD __host__ __device__

namespace {

constexpr int kThreads = 256;

GANKIT_HD __forceinline__ float to_float(float x) { return x; }
GANKIT_HD __forceinline__ float to_float(__half x) { return __half2float(x); }
GANKIT_HD __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> GANKIT_HD __forceinline__ T from_float(float x);
template <> GANKIT_HD __forceinline__ float from_float<float>(float x) { return x; }
template <> GANKIT_HD __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <> GANKIT_HD __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

struct Element {
  float param, grad, square_avg, grad_avg, momentum_buffer;
};

// torch/optim/rmsprop.py, _multi_tensor_rmsprop, one foreach op per line, in float. For
// float parameters every line rounds exactly as the foreach op does. For fp16/bf16 only the
// state is stored in the half type: PyTorch's half update rounds every intermediate, and in
// fp16 eps = 1e-8 underflows to 0, so small squared gradients give inf; we do not copy that.
GANKIT_HD __forceinline__ void rmsprop(Element& e, const GankitRmspropGroup& h, float neg_lr) {
  float g = e.grad;
  if (h.flags & GANKIT_MAXIMIZE) g = -g;                                     // _foreach_neg
  if (h.flags & GANKIT_WEIGHT_DECAY) g = fmaf(h.weight_decay, e.param, g);   // _foreach_add(g, p, alpha=wd)
  float sq = e.square_avg * h.alpha;                                         // _foreach_mul_(sq, alpha)
  sq = fmaf(h.one_minus_alpha, g * g, sq);                                   // _foreach_addcmul_(sq, g, g, 1-alpha)
  e.square_avg = sq;
  float avg;
  if (h.flags & GANKIT_CENTERED) {
    const float w = h.one_minus_alpha, d = g - e.grad_avg;                   // _foreach_lerp_(ga, g, 1-alpha)
    const float ga = fabsf(w) < 0.5f ? fmaf(w, d, e.grad_avg) : fmaf(-d, 1.0f - w, g);
    e.grad_avg = ga;
    avg = sqrtf(sq - ga * ga);                                               // _foreach_addcmul(sq, ga, ga, -1); sqrt_
  } else {
    avg = sqrtf(sq);                                                         // _foreach_sqrt
  }
  avg = avg + h.eps;                                                         // _foreach_add_(avg, eps)
  if (h.flags & GANKIT_MOMENTUM) {
    const float buf = e.momentum_buffer * h.momentum + g / avg;              // _foreach_mul_(buf, momentum); addcdiv_
    e.momentum_buffer = buf;
    e.param = fmaf(neg_lr, buf, e.param);                                    // _foreach_add_(p, buf, alpha=-lr)
  } else {
    e.param = fmaf(neg_lr, g / avg, e.param);                                // _foreach_addcdiv_(p, g, avg, -lr)
  }
}

// p.clamp_(-c, c); NaN stays NaN, as torch.clamp keeps it (fminf/fmaxf alone would drop it).
GANKIT_HD __forceinline__ float clamp_keep_nan(float x, float c) { return isnan(x) ? x : fminf(fmaxf(x, -c), c); }

template <typename T>
struct Pointers {
  T* param;
  const T* grad;
  T* square_avg;
  T* grad_avg;
  T* momentum_buffer;
};

template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

// Elements [i, i + V) of one chunk: load, update in float, store.
template <typename T, int V>
GANKIT_HD __forceinline__ void step_elements(const Pointers<T>& ptr, int64_t i, const GankitRmspropGroup& h,
                                              float neg_lr, bool has_grad, bool clip) {
  using P = Pack<T, V>;
  const P p = *reinterpret_cast<const P*>(ptr.param + i);
  P g, sq, ga, buf, p_out;
  if (has_grad) {
    g = *reinterpret_cast<const P*>(ptr.grad + i);
    sq = *reinterpret_cast<const P*>(ptr.square_avg + i);
    if (ptr.grad_avg) ga = *reinterpret_cast<const P*>(ptr.grad_avg + i);
    if (ptr.momentum_buffer) buf = *reinterpret_cast<const P*>(ptr.momentum_buffer + i);
  }
#pragma unroll
  for (int k = 0; k < V; ++k) {
    Element e{to_float(p.v[k]), 0.0f, 0.0f, 0.0f, 0.0f};
    if (has_grad) {
      e.grad = to_float(g.v[k]);
      e.square_avg = to_float(sq.v[k]);
      if (ptr.grad_avg) e.grad_avg = to_float(ga.v[k]);
      if (ptr.momentum_buffer) e.momentum_buffer = to_float(buf.v[k]);
      rmsprop(e, h, neg_lr);
      sq.v[k] = from_float<T>(e.square_avg);
      if (ptr.grad_avg) ga.v[k] = from_float<T>(e.grad_avg);
      if (ptr.momentum_buffer) buf.v[k] = from_float<T>(e.momentum_buffer);
    }
    p_out.v[k] = from_float<T>(clip ? clamp_keep_nan(e.param, h.clip_value) : e.param);
  }
  *reinterpret_cast<P*>(ptr.param + i) = p_out;
  if (has_grad) {
    *reinterpret_cast<P*>(ptr.square_avg + i) = sq;
    if (ptr.grad_avg) *reinterpret_cast<P*>(ptr.grad_avg + i) = ga;
    if (ptr.momentum_buffer) *reinterpret_cast<P*>(ptr.momentum_buffer + i) = buf;
  }
}

GANKIT_HD __forceinline__ bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// Block `block`, thread `thread` of the launch: its share of one chunk of one tensor.
template <typename T>
GANKIT_HD __forceinline__ void step_chunk(const GankitRmspropTensor* __restrict__ tensors,
                                          const GankitRmspropGroup* __restrict__ groups,
                                          const GankitRmspropChunk* __restrict__ chunks, int64_t chunk_size,
                                          int64_t block, int thread) {
  const GankitRmspropChunk chunk = chunks[block];
  const GankitRmspropTensor t = tensors[chunk.tensor];
  const GankitRmspropGroup h = groups[t.group];
  const bool has_grad = t.grad != nullptr;
  const bool clip = h.flags & GANKIT_CLIP;
  if (!has_grad && !clip) return;  // nothing to do for this tensor on this step
  const int64_t rest = t.numel - chunk.begin;
  const int64_t n = rest < chunk_size ? rest : chunk_size;
  Pointers<T> ptr{static_cast<T*>(t.param) + chunk.begin, nullptr, nullptr, nullptr, nullptr};
  float neg_lr = 0.0f;
  if (has_grad) {
    ptr.grad = static_cast<const T*>(t.grad) + chunk.begin;
    ptr.square_avg = static_cast<T*>(t.square_avg) + chunk.begin;
    if (h.flags & GANKIT_CENTERED) ptr.grad_avg = static_cast<T*>(t.grad_avg) + chunk.begin;
    if (h.flags & GANKIT_MOMENTUM) ptr.momentum_buffer = static_cast<T*>(t.momentum_buffer) + chunk.begin;
    neg_lr = -*h.lr;
  }
  // 16-byte loads and stores where every pointer allows them (chunk_size is a multiple of V).
  constexpr int V = 16 / sizeof(T);
  const bool vectorise = aligned16(ptr.param) && (!has_grad || (aligned16(ptr.grad) && aligned16(ptr.square_avg) &&
                                                                 (!ptr.grad_avg || aligned16(ptr.grad_avg)) &&
                                                                 (!ptr.momentum_buffer || aligned16(ptr.momentum_buffer))));
  const int64_t vector_end = vectorise ? n / V * V : 0;
  for (int64_t i = int64_t(thread) * V; i < vector_end; i += int64_t(kThreads) * V) {
    step_elements<T, V>(ptr, i, h, neg_lr, has_grad, clip);
  }
  for (int64_t i = vector_end + thread; i < n; i += kThreads) {
    step_elements<T, 1>(ptr, i, h, neg_lr, has_grad, clip);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    rmsprop_clip_kernel(const GankitRmspropTensor* __restrict__ tensors, const GankitRmspropGroup* __restrict__ groups,
                        const GankitRmspropChunk* __restrict__ chunks, int64_t chunk_size) {
  step_chunk<T>(tensors, groups, chunks, chunk_size, blockIdx.x, threadIdx.x);
}

template <typename T>
cudaError_t launch(const GankitRmspropTensor* tensors, const GankitRmspropGroup* groups,
                   const GankitRmspropChunk* chunks, int64_t n_chunks, int64_t chunk_size, cudaStream_t stream) {
  rmsprop_clip_kernel<T><<<dim3(static_cast<unsigned>(n_chunks)), kThreads, 0, stream>>>(tensors, groups, chunks, chunk_size);
  return cudaGetLastError();
}

}  // namespace

extern "C" int gankit_rmsprop_clip_launch(int dtype, const GankitRmspropTensor* tensors,
                                          const GankitRmspropGroup* groups, const GankitRmspropChunk* chunks,
                                          int64_t n_chunks, int64_t chunk_size, void* stream) {
  if (n_chunks <= 0) return cudaSuccess;
  if (n_chunks > 2147483647LL || chunk_size % 8 != 0) return cudaErrorInvalidValue;
  const auto s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case GANKIT_FLOAT32: return launch<float>(tensors, groups, chunks, n_chunks, chunk_size, s);
    case GANKIT_FLOAT16: return launch<__half>(tensors, groups, chunks, n_chunks, chunk_size, s);
    case GANKIT_BFLOAT16: return launch<__nv_bfloat16>(tensors, groups, chunks, n_chunks, chunk_size, s);
    default: return cudaErrorInvalidValue;
  }
}

extern "C" int gankit_stream_is_capturing(void* stream, int* capturing) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  const cudaError_t error = cudaStreamIsCapturing(static_cast<cudaStream_t>(stream), &status);
  *capturing = status == cudaStreamCaptureStatusActive;
  return error;
}

extern "C" const char* gankit_cuda_error_string(int error) { return cudaGetErrorString(static_cast<cudaError_t>(error)); }

#ifdef GANKIT_HOST_EMULATION
// The launch, run on the CPU over host memory: every block, every thread, in order. Threads
// share no memory, so the order cannot change the result. For tests only.
template <typename T>
void emulate(const GankitRmspropTensor* tensors, const GankitRmspropGroup* groups, const GankitRmspropChunk* chunks,
             int64_t n_chunks, int64_t chunk_size) {
  for (int64_t block = 0; block < n_chunks; ++block) {
    for (int thread = 0; thread < kThreads; ++thread) step_chunk<T>(tensors, groups, chunks, chunk_size, block, thread);
  }
}

extern "C" int gankit_rmsprop_clip_emulate(int dtype, const GankitRmspropTensor* tensors, const GankitRmspropGroup* groups,
                                           const GankitRmspropChunk* chunks, int64_t n_chunks, int64_t chunk_size) {
  switch (dtype) {
    case GANKIT_FLOAT32: emulate<float>(tensors, groups, chunks, n_chunks, chunk_size); return 0;
    case GANKIT_FLOAT16: emulate<__half>(tensors, groups, chunks, n_chunks, chunk_size); return 0;
    case GANKIT_BFLOAT16: emulate<__nv_bfloat16>(tensors, groups, chunks, n_chunks, chunk_size); return 0;
    default: return 1;
  }
}
#endif
