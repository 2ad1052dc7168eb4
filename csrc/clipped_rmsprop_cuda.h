// The interface between the CUDA kernel (clipped_rmsprop_cuda.cu, no torch headers) and its
// binding (clipped_rmsprop_cuda.cpp). Plain C types only, so nvcc and g++ agree on layouts.
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// One parameter tensor. grad == NULL: this step only clamps it. grad_avg / momentum_buffer are
// NULL when their group does not use them.
typedef struct {
  void* param;
  const void* grad;
  void* square_avg;
  void* grad_avg;
  void* momentum_buffer;
  int64_t numel;
  int32_t group;
  int32_t reserved;
} GankitRmspropTensor;

enum {
  GANKIT_CENTERED = 1,
  GANKIT_MAXIMIZE = 2,
  GANKIT_CLIP = 4,
  GANKIT_MOMENTUM = 8,      // momentum > 0
  GANKIT_WEIGHT_DECAY = 16  // weight_decay != 0
};

// One parameter group's hyperparameters, each rounded to float as PyTorch rounds a Python
// scalar for its fp32 math. lr is read from device memory at run time, so a CUDA graph that
// captured the step follows later changes to it.
typedef struct {
  const float* lr;
  float alpha;
  float one_minus_alpha;  // (float)(1 - alpha) with 1 - alpha computed in double, as in Python
  float eps;
  float weight_decay;
  float momentum;
  float clip_value;
  int32_t flags;
} GankitRmspropGroup;

// A block's share of the work: elements [begin, begin + chunk_size) of one tensor.
typedef struct {
  int32_t tensor;
  int32_t reserved;
  int64_t begin;
} GankitRmspropChunk;

enum { GANKIT_FLOAT32 = 0, GANKIT_FLOAT16 = 1, GANKIT_BFLOAT16 = 2 };

// Enqueue the step on `stream` (a cudaStream_t): one kernel launch, one block per chunk.
// Returns a cudaError_t (0 on success); no host synchronisation.
int gankit_rmsprop_clip_launch(int dtype, const GankitRmspropTensor* tensors,
                               const GankitRmspropGroup* groups, const GankitRmspropChunk* chunks,
                               int64_t n_chunks, int64_t chunk_size, void* stream);

// Whether `stream` is capturing a CUDA graph (then no table may be re-uploaded). cudaError_t.
int gankit_stream_is_capturing(void* stream, int* capturing);

const char* gankit_cuda_error_string(int error);

#ifdef __cplusplus
}
#endif
