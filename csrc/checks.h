// Argument checks shared by the CPU and CUDA entry points. Every message names the argument it is about.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cmath>

namespace gaitedge {

// Largest structuring element accepted; far beyond any edge band a gait model uses, and it bounds the
// CUDA kernel's shared-memory halo.
constexpr int64_t kMaxKernelSize = 101;

inline void check_kernel_size(int64_t k) {
  TORCH_CHECK_VALUE(k >= 1 && k % 2 == 1 && k <= kMaxKernelSize,
                    "kernel_size must be an odd integer in [1, ", kMaxKernelSize, "], got ", k);
}

inline void check_threshold(double t) {
  TORCH_CHECK_VALUE(!std::isnan(t), "threshold must not be NaN");
}

// A single-channel frame batch [N, 1, H, W].
inline void check_frames(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.dim() == 4 && t.size(1) == 1, name, " must have shape [N, 1, H, W], got ", t.sizes());
}

inline bool is_mask_dtype(at::ScalarType s) {
  return s == at::kBool || s == at::kByte || at::isFloatingType(s);
}

inline void check_mask_dtype(const at::Tensor& t, const char* name) {
  TORCH_CHECK_TYPE(is_mask_dtype(t.scalar_type()), name, " must be bool, uint8 or floating point, got ",
                   t.scalar_type());
}

inline void check_float_dtype(const at::Tensor& t, const char* name) {
  const auto s = t.scalar_type();
  TORCH_CHECK_TYPE(s == at::kFloat || s == at::kDouble || s == at::kHalf || s == at::kBFloat16, name,
                   " must be float32, float64, float16 or bfloat16, got ", s);
}

inline void check_same_shape(const at::Tensor& a, const char* a_name, const at::Tensor& b, const char* b_name) {
  TORCH_CHECK_VALUE(a.sizes() == b.sizes(), a_name, " and ", b_name, " must have the same shape, got ", a.sizes(),
                    " and ", b.sizes());
}

inline void check_same_device(const at::Tensor& a, const char* a_name, const at::Tensor& b, const char* b_name) {
  TORCH_CHECK_VALUE(a.device() == b.device(), a_name, " and ", b_name, " must be on the same device, got ", a.device(),
                    " and ", b.device());
}

// Arguments of gait_synthesis / _gait_synthesis_backward; `x_name` is "prob" or "grad".
inline void check_synthesis_args(const at::Tensor& x, const char* x_name, const at::Tensor& sil, int64_t k,
                                 double threshold) {
  check_frames(x, x_name);
  check_frames(sil, "sil");
  check_float_dtype(x, x_name);
  check_mask_dtype(sil, "sil");
  check_same_shape(x, x_name, sil, "sil");
  check_same_device(x, x_name, sil, "sil");
  check_kernel_size(k);
  check_threshold(threshold);
}

inline void check_edge_mask_args(const at::Tensor& sil, int64_t k, double threshold) {
  check_frames(sil, "sil");
  check_mask_dtype(sil, "sil");
  check_kernel_size(k);
  check_threshold(threshold);
}

}  // namespace gaitedge
