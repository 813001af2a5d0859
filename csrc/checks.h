// Argument checks shared by the CPU and CUDA entry points. Every message names the argument it is about.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/TensorOperators.h>
#include <c10/util/Exception.h>

#include <ATen/Dispatch.h>
#include <ATen/ops/aminmax.h>
#include <ATen/ops/stack.h>
#include <c10/util/string_view.h>

#include <cmath>

#include "align_geometry.h"

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

// The floating types every kernel is instantiated for (float8 and the like are not).
inline bool is_float_dtype(at::ScalarType s) {
  return s == at::kFloat || s == at::kDouble || s == at::kHalf || s == at::kBFloat16;
}

inline bool is_mask_dtype(at::ScalarType s) { return s == at::kBool || s == at::kByte || is_float_dtype(s); }

inline void check_mask_dtype(const at::Tensor& t, const char* name) {
  TORCH_CHECK_TYPE(is_mask_dtype(t.scalar_type()), name,
                   " must be bool, uint8 or floating point (float32, float64, float16, bfloat16), got ",
                   t.scalar_type());
}

inline void check_float_dtype(const at::Tensor& t, const char* name) {
  TORCH_CHECK_TYPE(is_float_dtype(t.scalar_type()), name, " must be float32, float64, float16 or bfloat16, got ",
                   t.scalar_type());
}

inline void check_same_shape(const at::Tensor& a, const char* a_name, const at::Tensor& b, const char* b_name) {
  TORCH_CHECK_VALUE(a.sizes() == b.sizes(), a_name, " and ", b_name, " must have the same shape, got ", a.sizes(),
                    " and ", b.sizes());
}

// The CPU kernels read their inputs' memory directly: a tensor on another device must be refused first.
inline void check_cpu(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.device().is_cpu(), name, " must be a CPU tensor here, got ", t.device());
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

// ---- GaitAlign ------------------------------------------------------------------------------------------------------

inline AlignMode parse_align_mode(c10::string_view mode) {
  if (mode == "opengait") return AlignMode::kOpenGait;
  if (mode == "exact") return AlignMode::kExact;
  TORCH_CHECK_VALUE(false, "mode must be \"opengait\" or \"exact\", got \"", mode, "\"");
}

// Largest output side: the kernels index an output plane with 32-bit integers (out_h * out_w < 2^31).
constexpr int64_t kMaxOutSide = 32768;
// Largest input side: frames are indexed with 32-bit rows and columns.
constexpr int64_t kMaxInSide = (int64_t(1) << 31) - 1;

// Largest output of one align call, N * C * out_h * out_w elements (16 GiB of float32). The ops are frame-isolated,
// so a larger batch gives the same bits in chunks of frames; asking for more in one call is refused before any
// allocation. gaitedge/ops/_checks.py MAX_OUTPUT_ELEMENTS mirrors it.
constexpr int64_t kMaxOutputElements = int64_t(1) << 32;

inline void check_out_size(int64_t out_h, int64_t out_w) {
  TORCH_CHECK_VALUE(out_h >= 1 && out_w >= 1 && out_h <= kMaxOutSide && out_w <= kMaxOutSide,
                    "out_size must be in [1, ", kMaxOutSide, "] on each side, got (", out_h, ", ", out_w, ")");
}

// n, c >= 0 and out_h * out_w in [1, 2^30] (check_out_size first); the products are formed only where they fit.
inline void check_output_elements(int64_t n, int64_t c, int64_t out_h, int64_t out_w) {
  const int64_t plane = out_h * out_w;
  const bool fits = c <= kMaxOutputElements / plane && (c == 0 || n <= kMaxOutputElements / (c * plane));
  TORCH_CHECK_VALUE(fits, "the output [N, C, H, W] = [", n, ", ", c, ", ", out_h, ", ", out_w,
                    "] would hold more than ", kMaxOutputElements,
                    " elements; align fewer frames per call (the results are the same)");
}

inline void check_frame_size(int64_t h, int64_t w, const char* name) {
  TORCH_CHECK_VALUE(h <= kMaxInSide && w <= kMaxInSide, name, " frames must be smaller than 2^31 on each side, got ",
                    h, " x ", w);
}

// ratio: N positive finite values ([N] or [N, 1]), on mask's device. Returns the smallest (1 when there are none),
// which exact mode's CUDA kernels need for a bound. A CPU ratio is read in place; a CUDA one costs one aminmax and
// one copy to the host, the op's only device sync.
inline double check_ratio(const at::Tensor& ratio, const at::Tensor& mask) {
  const int64_t N = mask.size(0);
  TORCH_CHECK_VALUE(ratio.dim() >= 1 && ratio.dim() <= 2 && ratio.size(0) == N && ratio.numel() == N,
                    "ratio must have shape [N] or [N, 1] with N = ", N, " frames, got ", ratio.sizes());
  TORCH_CHECK_TYPE(is_float_dtype(ratio.scalar_type()), "ratio must be floating point (float32, float64, float16, "
                   "bfloat16), got ", ratio.scalar_type());
  check_same_device(ratio, "ratio", mask, "mask");
  if (N == 0) return 1.0;
  double lo = 0.0, hi = 0.0;
  if (ratio.device().is_cpu()) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, ratio.scalar_type(), "check_ratio", [&] {
      const scalar_t* r = ratio.const_data_ptr<scalar_t>();
      const int64_t stride = ratio.stride(0);  // [N] or [N, 1]: element n at n * stride(0)
      lo = static_cast<double>(r[0]);
      hi = lo;
      for (int64_t n = 1; n < N; ++n) {
        const double v = static_cast<double>(r[n * stride]);
        lo = v < lo || std::isnan(v) ? v : lo;  // NaN sticks
        hi = v > hi ? v : hi;
      }
    });
  } else {
    const auto [mn, mx] = at::aminmax(ratio);  // NaN propagates into both
    const auto host = at::stack({mn, mx}).to(at::kCPU, at::kDouble);
    lo = host[0].item<double>();
    hi = host[1].item<double>();
  }
  TORCH_CHECK_VALUE(lo > 0.0 && hi < INFINITY,  // false for NaN
                    "ratio (width/height of each person's box) must be positive and finite; got a value <= 0, "
                    "inf or NaN");
  return lo;
}

// Returns the smallest ratio (see check_ratio).
inline double check_align_common(const at::Tensor& mask, const char* mask_name, const at::Tensor& ratio,
                                 int64_t out_h, int64_t out_w, double eps) {
  check_frames(mask, mask_name);
  check_mask_dtype(mask, mask_name);
  check_frame_size(mask.size(2), mask.size(3), mask_name);
  const double rmin = check_ratio(ratio, mask);
  check_out_size(out_h, out_w);
  TORCH_CHECK_VALUE(std::isfinite(eps), "eps must be finite, got ", eps);
  return rmin;
}

// x [N, C, h, w] against mask [N, 1, h, w].
inline void check_align_input(const at::Tensor& x, const char* x_name, const at::Tensor& mask, const char* mask_name) {
  check_frames(mask, mask_name);  // before mask.size(2) below
  TORCH_CHECK_VALUE(x.dim() == 4 && x.size(1) >= 1, x_name, " must have shape [N, C, H, W], got ", x.sizes());
  check_float_dtype(x, x_name);
  TORCH_CHECK_VALUE(x.size(0) == mask.size(0) && x.size(2) == mask.size(2) && x.size(3) == mask.size(3), x_name,
                    " [N, C, H, W] and ", mask_name, " [N, 1, H, W] must agree in N, H and W, got ", x.sizes(),
                    " and ", mask.sizes());
  check_same_device(x, x_name, mask, mask_name);
}

inline void check_boxes(const at::Tensor& boxes, int64_t N, const at::Tensor& like) {
  TORCH_CHECK_VALUE(boxes.dim() == 2 && boxes.size(0) == N && boxes.size(1) == 4,
                    "boxes must have shape [N, 4] with N = ", N, ", got ", boxes.sizes());
  TORCH_CHECK_TYPE(boxes.scalar_type() == at::kFloat, "boxes must be float32, got ", boxes.scalar_type());
  check_same_device(boxes, "boxes", like, "grad");
}

// _gait_align_backward(grad [N, C, H, W], boxes [N, 4], in_h, in_w).
inline void check_align_backward_args(const at::Tensor& grad, const at::Tensor& boxes, int64_t in_h, int64_t in_w) {
  TORCH_CHECK_VALUE(grad.dim() == 4, "grad must have shape [N, C, H, W], got ", grad.sizes());
  check_float_dtype(grad, "grad");
  check_boxes(boxes, grad.size(0), grad);
  TORCH_CHECK_VALUE(in_h >= 0 && in_w >= 0 && in_h <= kMaxInSide && in_w <= kMaxInSide,
                    "in_h and in_w must be in [0, 2^31), got ", in_h, " and ", in_w);
  if (grad.numel()) check_out_size(grad.size(2), grad.size(3));
}

// _gait_edge_align_backward(grad [N, 1, H, W], sil [N, 1, h, w], boxes [N, 4], kernel_size).
inline void check_edge_align_backward_args(const at::Tensor& grad, const at::Tensor& sil, const at::Tensor& boxes,
                                           int64_t kernel_size) {
  check_frames(sil, "sil");
  check_mask_dtype(sil, "sil");
  check_kernel_size(kernel_size);
  TORCH_CHECK_VALUE(grad.dim() == 4 && grad.size(1) == 1 && grad.size(0) == sil.size(0),
                    "grad must have shape [N, 1, H, W] with N = ", sil.size(0), ", got ", grad.sizes());
  check_float_dtype(grad, "grad");
  check_same_device(grad, "grad", sil, "sil");
  check_boxes(boxes, grad.size(0), grad);
  check_frame_size(sil.size(2), sil.size(3), "sil");
  if (grad.numel()) check_out_size(grad.size(2), grad.size(3));
}

inline AlignParams make_align_params(int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w, double eps,
                                     AlignMode mode) {
  AlignParams p;
  p.in_h = static_cast<int>(in_h);
  p.in_w = static_cast<int>(in_w);
  p.out_h = static_cast<int>(out_h);
  p.out_w = static_cast<int>(out_w);
  p.pad = mode == AlignMode::kOpenGait ? static_cast<int>(out_w / 2) : 0;
  p.eps = static_cast<float>(eps);
  p.mode = mode;
  return p;
}

}  // namespace gaitedge
