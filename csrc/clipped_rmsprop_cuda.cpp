// Binding of the cuda backend of gankit.optim.ClippedRMSprop (the kernel is in
// clipped_rmsprop_cuda.cu, which needs no torch headers; neither does this file need CUDA's).
//
// A FusedStep holds the parameters of one device and dtype and three device tables:
//   tensors  one GankitRmspropTensor per parameter (pointers to param, grad and state),
//   groups   one GankitRmspropGroup per param group, followed by the groups' float lr values,
//   chunks   one GankitRmspropChunk per block of the launch.
// chunks never change. Each step re-reads every grad pointer on the host (zero_grad with
// set_to_none moves grads) and re-uploads the tensors table only when an address changed;
// the groups table is re-uploaded only when a hyperparameter changed. So after the first step
// a step is one kernel launch: no allocation, no synchronisation, and it can be captured in a
// CUDA graph.
#include <torch/extension.h>

#include <cstring>
#include <string>
#include <vector>

#include "clipped_rmsprop_cuda.h"

namespace {

constexpr int64_t kChunkSize = 4096;  // elements per block; a multiple of every vector width

void check_cuda(int error, const char* what) {
  TORCH_CHECK(error == 0, "gankit cuda backend: ", what, ": ", gankit_cuda_error_string(error));
}

int dtype_code(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return GANKIT_FLOAT32;
    case at::kHalf: return GANKIT_FLOAT16;
    case at::kBFloat16: return GANKIT_BFLOAT16;
    default: TORCH_CHECK(false, "gankit cuda backend: parameters must be float32, float16 or bfloat16, got ", t);
  }
}

void* data_or_null(const at::Tensor& t) { return t.defined() ? t.data_ptr() : nullptr; }

// Copy host bytes into a device tensor on the current stream, through pinned memory from the
// caching host allocator (it is not reused before the copy has run): no synchronisation.
void upload(const void* bytes, int64_t n, at::Tensor& device, int64_t stream) {
  int capturing = 0;
  check_cuda(gankit_stream_is_capturing(reinterpret_cast<void*>(stream), &capturing), "cudaStreamIsCapturing");
  TORCH_CHECK(!capturing,
              "gankit cuda backend: parameter, grad or hyperparameter addresses changed while a CUDA graph is being "
              "captured; run one step before capturing, keep grads allocated, and give lr as a CUDA tensor");
  at::Tensor pinned = at::empty({n}, at::TensorOptions().dtype(at::kByte).pinned_memory(true));
  std::memcpy(pinned.data_ptr(), bytes, n);
  device.copy_(pinned, /*non_blocking=*/true);
}

struct State {
  at::Tensor square_avg, grad_avg, momentum_buffer, step;
};

class FusedStep {
 public:
  FusedStep(std::vector<at::Tensor> params, std::vector<int64_t> group_of, int64_t n_groups)
      : params_(std::move(params)), group_of_(std::move(group_of)), states_(params_.size()), n_groups_(n_groups) {
    TORCH_CHECK(!params_.empty() && params_.size() == group_of_.size(), "gankit cuda backend: bad parameter list");
    const at::Tensor& first = params_.front();
    TORCH_CHECK(first.is_cuda(), "gankit cuda backend: parameters must be CUDA tensors");
    dtype_ = dtype_code(first.scalar_type());
    std::vector<GankitRmspropChunk> chunks;
    for (size_t i = 0; i < params_.size(); ++i) {
      const at::Tensor& p = params_[i];
      TORCH_CHECK(p.device() == first.device() && p.scalar_type() == first.scalar_type(),
                  "gankit cuda backend: one FusedStep takes parameters of one device and dtype");
      TORCH_CHECK(p.is_contiguous(), "gankit cuda backend: parameters must be contiguous");
      TORCH_CHECK(group_of_[i] >= 0 && group_of_[i] < n_groups_, "gankit cuda backend: bad group index");
      for (int64_t begin = 0; begin < p.numel(); begin += kChunkSize) {
        chunks.push_back({static_cast<int32_t>(i), 0, begin});
      }
    }
    TORCH_CHECK(chunks.size() < 2147483647u, "gankit cuda backend: too many chunks for one launch");
    n_chunks_ = static_cast<int64_t>(chunks.size());
    const auto bytes = at::TensorOptions().dtype(at::kByte).device(first.device());
    tensors_device_ = at::empty({static_cast<int64_t>(params_.size() * sizeof(GankitRmspropTensor))}, bytes);
    groups_device_ = at::empty({n_groups_ * static_cast<int64_t>(sizeof(GankitRmspropGroup) + sizeof(float))}, bytes);
    chunks_device_ = at::empty({std::max<int64_t>(n_chunks_, 1) * static_cast<int64_t>(sizeof(GankitRmspropChunk))}, bytes);
    chunks_host_ = std::move(chunks);
  }

  // Give parameter i its RMSprop state (the tensors of optimizer.state[p]); undefined tensors
  // for options the group does not use.
  void set_state(int64_t i, at::Tensor square_avg, c10::optional<at::Tensor> grad_avg,
                 c10::optional<at::Tensor> momentum_buffer, at::Tensor step) {
    const at::Tensor& p = params_.at(i);
    auto check = [&](const at::Tensor& t, const char* name) {
      TORCH_CHECK(t.device() == p.device() && t.scalar_type() == p.scalar_type() && t.is_contiguous() &&
                      t.numel() == p.numel(),
                  "gankit cuda backend: state ", name, " must be a contiguous tensor like its parameter");
    };
    check(square_avg, "square_avg");
    if (grad_avg) check(*grad_avg, "grad_avg");
    if (momentum_buffer) check(*momentum_buffer, "momentum_buffer");
    states_[i] = {square_avg, grad_avg.value_or(at::Tensor()), momentum_buffer.value_or(at::Tensor()), step};
  }

  // The groups' hyperparameters. lr_tensors[g], when given, is a float32 scalar on the device
  // that the kernel reads at run time (needed to change lr between CUDA graph replays).
  void set_groups(std::vector<double> lr, std::vector<c10::optional<at::Tensor>> lr_tensors, std::vector<double> alpha,
                  std::vector<double> eps, std::vector<double> weight_decay, std::vector<double> momentum,
                  std::vector<bool> centered, std::vector<bool> maximize, double clip_value, int64_t stream) {
    TORCH_CHECK(static_cast<int64_t>(lr.size()) == n_groups_, "gankit cuda backend: one value per group expected");
    std::vector<GankitRmspropGroup> groups(n_groups_);
    std::vector<float> lr_values(n_groups_);
    auto* lr_store = reinterpret_cast<float*>(static_cast<char*>(groups_device_.data_ptr()) +
                                              n_groups_ * sizeof(GankitRmspropGroup));
    for (int64_t g = 0; g < n_groups_; ++g) {
      const auto& lr_tensor = lr_tensors[g];
      if (lr_tensor) {
        TORCH_CHECK(lr_tensor->device() == params_.front().device() && lr_tensor->scalar_type() == at::kFloat &&
                        lr_tensor->numel() == 1,
                    "gankit cuda backend: a tensor lr must be a float32 scalar on the parameters' device");
      }
      lr_values[g] = static_cast<float>(lr[g]);
      int32_t flags = (centered[g] ? GANKIT_CENTERED : 0) | (maximize[g] ? GANKIT_MAXIMIZE : 0) |
                      (clip_value >= 0 ? GANKIT_CLIP : 0) | (momentum[g] > 0 ? GANKIT_MOMENTUM : 0) |
                      (weight_decay[g] != 0 ? GANKIT_WEIGHT_DECAY : 0);
      groups[g] = {lr_tensor ? lr_tensor->data_ptr<float>() : lr_store + g,
                   static_cast<float>(alpha[g]),
                   static_cast<float>(1.0 - alpha[g]),
                   static_cast<float>(eps[g]),
                   static_cast<float>(weight_decay[g]),
                   static_cast<float>(momentum[g]),
                   static_cast<float>(clip_value),
                   flags};
    }
    std::vector<char> bytes(groups_device_.numel());
    std::memcpy(bytes.data(), groups.data(), groups.size() * sizeof(GankitRmspropGroup));
    std::memcpy(bytes.data() + groups.size() * sizeof(GankitRmspropGroup), lr_values.data(), lr_values.size() * sizeof(float));
    upload(bytes.data(), static_cast<int64_t>(bytes.size()), groups_device_, stream);
    if (!chunks_uploaded_) {
      upload(chunks_host_.data(), n_chunks_ * static_cast<int64_t>(sizeof(GankitRmspropChunk)), chunks_device_, stream);
      chunks_uploaded_ = true;
    }
    groups_set_ = true;
  }

  // One step on `stream`. Returns the indices of parameters that have a grad but no state
  // yet; then nothing was done, and the caller sets their state and calls step again.
  std::vector<int64_t> step(int64_t stream) {
    TORCH_CHECK(groups_set_, "gankit cuda backend: set_groups before step");
    std::vector<int64_t> missing;
    tensors_host_.resize(params_.size());
    for (size_t i = 0; i < params_.size(); ++i) {
      const at::Tensor& p = params_[i];
      const at::Tensor& grad = p.grad();
      const State& s = states_[i];
      if (grad.defined()) {
        TORCH_CHECK(!grad.is_sparse(), "RMSprop does not support sparse gradients");
        TORCH_CHECK(grad.device() == p.device() && grad.scalar_type() == p.scalar_type() && grad.is_contiguous() &&
                        grad.numel() == p.numel(),
                    "gankit cuda backend: a grad must be a contiguous tensor like its parameter");
        if (!s.square_avg.defined()) missing.push_back(static_cast<int64_t>(i));
      }
      tensors_host_[i] = {p.data_ptr(), grad.defined() ? grad.data_ptr() : nullptr, data_or_null(s.square_avg),
                          data_or_null(s.grad_avg), data_or_null(s.momentum_buffer), p.numel(),
                          static_cast<int32_t>(group_of_[i]), 0};
    }
    if (!missing.empty()) return missing;
    const size_t table_bytes = tensors_host_.size() * sizeof(GankitRmspropTensor);
    if (tensors_uploaded_.size() != tensors_host_.size() ||
        std::memcmp(tensors_uploaded_.data(), tensors_host_.data(), table_bytes) != 0) {
      upload(tensors_host_.data(), static_cast<int64_t>(table_bytes), tensors_device_, stream);
      tensors_uploaded_ = tensors_host_;
    }
    for (size_t i = 0; i < params_.size(); ++i) {  // RMSprop's step counters, as torch.optim.RMSprop keeps them
      if (tensors_host_[i].grad == nullptr) continue;
      at::Tensor& counter = states_[i].step;
      if (!counter.is_cpu()) {
        counter.add_(1);
      } else if (counter.scalar_type() == at::kDouble) {
        *counter.data_ptr<double>() += 1;
      } else {
        *counter.data_ptr<float>() += 1;
      }
    }
    check_cuda(gankit_rmsprop_clip_launch(dtype_, static_cast<const GankitRmspropTensor*>(tensors_device_.data_ptr()),
                                          static_cast<const GankitRmspropGroup*>(groups_device_.data_ptr()),
                                          static_cast<const GankitRmspropChunk*>(chunks_device_.data_ptr()), n_chunks_,
                                          kChunkSize, reinterpret_cast<void*>(stream)),
               "kernel launch");
    return missing;
  }

  int64_t n_chunks() const { return n_chunks_; }

 private:
  std::vector<at::Tensor> params_;
  std::vector<int64_t> group_of_;
  std::vector<State> states_;
  int64_t n_groups_;
  int dtype_ = GANKIT_FLOAT32;
  int64_t n_chunks_ = 0;
  std::vector<GankitRmspropChunk> chunks_host_;
  std::vector<GankitRmspropTensor> tensors_host_, tensors_uploaded_;
  at::Tensor tensors_device_, groups_device_, chunks_device_;
  bool chunks_uploaded_ = false, groups_set_ = false;
};

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  pybind11::class_<FusedStep>(m, "FusedStep")
      .def(pybind11::init<std::vector<at::Tensor>, std::vector<int64_t>, int64_t>())
      .def("set_state", &FusedStep::set_state)
      .def("set_groups", &FusedStep::set_groups)
      .def("step", &FusedStep::step)
      .def_property_readonly("n_chunks", &FusedStep::n_chunks);
  m.attr("CHUNK_SIZE") = kChunkSize;
}
