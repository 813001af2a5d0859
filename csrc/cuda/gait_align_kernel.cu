// CUDA kernels of align_boxes, gait_align (+ backward) and the fused gait_edge_align (+ backward).
//
//   boxes_kernel       one block per frame: row/column sums of the mask in shared memory (fixed summation order,
//                      so the box is reproducible), then the box (one thread, align_geometry.h).
//   forward kernels    one block per plane (frame, channel): the frame's banded weights in shared memory, then a
//                      horizontal pass into a shared row buffer and a vertical pass to the output
//                      (align_frame.cuh). The fused op reads prob, sil and the bit-packed edge/interior rows (from
//                      the gait_synthesis kernel) and forms Ms = edge * prob + interior * sil per tap; Ms is never
//                      written.
//   backward kernels   one block per plane: the weights and the output gradient in shared memory, then one thread
//                      per V input pixels gathers its gradient (no atomics, every pixel written once, bitwise
//                      reproducible). The fused backward gathers only edge pixels (the others are 0) unless the
//                      gradient holds inf/NaN.
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/max.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>

#include "../align_geometry.h"
#include "../binarise.h"
#include "../checks.h"
#include "../dispatch.h"
#include "../opengait_stats.h"
#include "cuda_helpers.cuh"
#include "align_frame.cuh"
#include "edge_bits.cuh"

namespace gaitedge {
namespace cuda {
namespace {

constexpr double kSynthesisThreshold = 0.5;
// Bytes of shared memory a forward block gives its row buffer T; frames whose T does not fit are done in chunks of
// output rows.
constexpr size_t kRowBufferBytes = 32 * 1024;

template <typename T>
__device__ __forceinline__ double mask_value(T v, AlignMode mode, const Binariser<T>& half) {
  if (mode == AlignMode::kExact) return half(v) ? 1.0 : 0.0;
  if constexpr (std::is_same_v<T, double>) {
    return v;
  } else {
    return static_cast<double>(static_cast<float>(v));
  }
}

template <typename mask_t>
__global__ void __launch_bounds__(kThreads)
    boxes_kernel(const mask_t* __restrict__ mask, const float* __restrict__ ratio, const AlignParams p,
                 const Binariser<mask_t> half, float* __restrict__ boxes) {
  extern __shared__ double sums[];  // [in_h] row sums, then [in_w] column sums
  double* row_sum = sums;
  double* col_sum = sums + p.in_h;
  const int64_t n = blockIdx.x;
  const mask_t* m = mask + n * p.in_h * static_cast<int64_t>(p.in_w);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;

  for (int y = warp; y < p.in_h; y += warps) {  // one warp per row, fixed shuffle-tree order
    double s = 0.0;
    for (int x = lane; x < p.in_w; x += 32) s += mask_value(m[static_cast<int64_t>(y) * p.in_w + x], p.mode, half);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_down_sync(0xffffffffu, s, o);
    if (lane == 0) row_sum[y] = s;
  }
  for (int x = threadIdx.x; x < p.in_w; x += blockDim.x) {  // one thread per column, top to bottom
    double s = 0.0;
    for (int y = 0; y < p.in_h; ++y) s += mask_value(m[static_cast<int64_t>(y) * p.in_w + x], p.mode, half);
    col_sum[x] = s;
  }
  __syncthreads();
  if (threadIdx.x == 0) box_from_sums(row_sum, col_sum, ratio[n], p, boxes + 4 * n);
}

// OpenGait's box from (h_top, h_bot, w_center) [N, 3] (a floating mask in OpenGait mode, opengait_stats.h).
__global__ void boxes_from_stats_kernel(const int32_t* __restrict__ stats, const float* __restrict__ ratio,
                                        const AlignParams p, int64_t N, float* __restrict__ boxes) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n < N) opengait_box(stats[3 * n], stats[3 * n + 1], stats[3 * n + 2], ratio[n], p, boxes + 4 * n);
}

// The per-plane programs of align_frame.cuh, with a barrier between phases.
template <typename x_t, typename sil_t, bool kFused>
__global__ void __launch_bounds__(kThreads)
    align_forward_kernel(const frame::Args a, const frame::ForwardArgs<x_t, sil_t> f) {
  extern __shared__ __align__(16) unsigned char smem[];
  const frame::Layout l = frame::make_layout<at::opmath_type<x_t>>(a, false);
  const frame::ForwardFrame<x_t, sil_t, kFused> fr(a, f, smem, l, blockIdx.x);
  fr.tables(threadIdx.x, blockDim.x);
  __syncthreads();
  for (int ph = 0; ph < a.p.out_h;) {
    const frame::Chunk c = fr.chunk(ph);
    fr.rows(threadIdx.x, blockDim.x, c);
    __syncthreads();
    fr.outputs(threadIdx.x, blockDim.x, c);
    __syncthreads();  // T is rewritten by the next chunk
    ph = c.ph_b;
  }
}

template <typename x_t, bool kFused, int V>
__global__ void __launch_bounds__(kThreads)
    align_backward_kernel(const frame::Args a, const frame::BackwardArgs<x_t> f) {
  extern __shared__ __align__(16) unsigned char smem[];
  const frame::Layout l = frame::make_layout<at::opmath_type<x_t>>(a, true);
  const frame::BackwardFrame<x_t, kFused, V> fr(a, f, smem, l, blockIdx.x);
  const bool finite = fr.load(threadIdx.x, blockDim.x);
  const bool dense = __syncthreads_or(!finite);
  fr.spans(threadIdx.x, blockDim.x);
  __syncthreads();
  fr.pixels(threadIdx.x, blockDim.x, dense);
}

// rmin: the smallest ratio (check_ratio), read once on the host with the argument check.
frame::Args forward_args(const AlignParams& p, double rmin, int64_t C, size_t opmath_bytes) {
  return frame::forward_args(p, C, rmin, opmath_bytes, kRowBufferBytes);
}

frame::Args backward_args(const AlignParams& p, const at::Tensor& boxes, int64_t C) {
  const float widest = p.mode == AlignMode::kExact && boxes.size(0)
                           ? (boxes.select(1, 2) - boxes.select(1, 0)).max().item<float>()
                           : 1.0f;
  return frame::backward_args(p, C, widest);
}

// Launches one block per plane with `smem` bytes of dynamic shared memory, opting in above the default 48 KiB.
template <typename Kernel, typename FrameArgs>
void launch_planes(Kernel kernel, int64_t planes, size_t smem, const frame::Args& a, const FrameArgs& f,
                   cudaStream_t stream) {
  TORCH_CHECK_VALUE(planes < (int64_t(1) << 31), "too many frames x channels for one launch: ", planes);
  if (smem > 48 * 1024) {
    int device = 0, optin = 0;
    C10_CUDA_CHECK(cudaGetDevice(&device));
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    TORCH_CHECK_VALUE(smem <= static_cast<size_t>(optin), "frames of ", a.p.in_h, " x ", a.p.in_w,
                      " with output ", a.p.out_h, " x ", a.p.out_w, " need ", smem,
                      " bytes of shared memory per block, more than this GPU offers (", optin, ")");
    C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  }
  kernel<<<planes, kThreads, smem, stream>>>(a, f);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// Boxes [N, 4] (x1, y1, x2, y2) of every frame of `mask_in` (as the caller passed it: OpenGait's reductions of a
// floating mask run on its own layout).
at::Tensor make_boxes(const at::Tensor& mask_in, const at::Tensor& ratio_in, const AlignParams& p,
                      cudaStream_t stream) {
  const auto ratio = ratio_in.reshape({-1}).to(at::kFloat).contiguous();
  const int64_t N = mask_in.size(0);
  auto boxes = at::empty({N, 4}, mask_in.options().dtype(at::kFloat));  // [N, 4]
  if (N == 0) return boxes;
  TORCH_CHECK_VALUE(N < (int64_t(1) << 31), "too many frames for one launch: ", N);
  if (uses_opengait_float_stats(mask_in, p.mode)) {
    const at::Tensor stats = opengait_frame_stats(mask_in, p.eps);  // [N, 3] int32, on the current stream
    boxes_from_stats_kernel<<<cuda::ceil_div<int64_t>(N, kThreads), kThreads, 0, stream>>>(
        stats.data_ptr<int32_t>(), ratio.data_ptr<float>(), p, N, boxes.data_ptr<float>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return boxes;
  }
  const auto mask = mask_in.contiguous();
  const size_t smem = static_cast<size_t>(p.in_h + p.in_w) * sizeof(double);
  TORCH_CHECK_VALUE(smem <= 48 * 1024, "frames of size ", p.in_h, " x ", p.in_w,
                    " are too large for the CUDA GaitAlign kernel (h + w must be <= 6144)");
  GAITEDGE_DISPATCH_MASK_TYPES(mask.scalar_type(), "gait_align_boxes_cuda", [&] {
    boxes_kernel<scalar_t><<<N, kThreads, smem, stream>>>(mask.data_ptr<scalar_t>(), ratio.data_ptr<float>(), p,
                                                          Binariser<scalar_t>(0.5), boxes.data_ptr<float>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return boxes;
}

template <typename x_t, bool kFused>
void launch_backward(const at::Tensor& grad, const at::Tensor& boxes, const uint32_t* edge, int nw,
                     const frame::Args& a, at::Tensor& grad_in, cudaStream_t stream) {
  const frame::BackwardArgs<x_t> f{grad.data_ptr<x_t>(), edge, nw, boxes.data_ptr<float>(), grad_in.data_ptr<x_t>()};
  const size_t smem = frame::make_layout<at::opmath_type<x_t>>(a, true).total;
  const int64_t planes = grad.size(0) * grad.size(1);
  constexpr int VX = 16 / sizeof(x_t);
  if (frame::backward_width(a.p.in_w, sizeof(x_t), is_aligned(grad_in.data_ptr(), 16)) == VX) {
    launch_planes(align_backward_kernel<x_t, kFused, VX>, planes, smem, a, f, stream);
  } else {
    launch_planes(align_backward_kernel<x_t, kFused, 1>, planes, smem, a, f, stream);
  }
}

// ---- host entry points -----------------------------------------------------------------------------------------------

at::Tensor align_boxes_cuda(const at::Tensor& mask_in, const at::Tensor& ratio, int64_t out_h, int64_t out_w,
                            double eps, c10::string_view mode) {
  const AlignMode m = parse_align_mode(mode);
  check_align_common(mask_in, "mask", ratio, out_h, out_w, eps);
  c10::cuda::CUDAGuard guard(mask_in.device());
  const auto mask = mask_in.contiguous();
  const AlignParams p = make_align_params(mask.size(2), mask.size(3), out_h, out_w, eps, m);
  return make_boxes(mask_in, ratio, p, c10::cuda::getCurrentCUDAStream());
}

std::tuple<at::Tensor, at::Tensor> gait_align_cuda(const at::Tensor& x_in, const at::Tensor& mask_in,
                                                   const at::Tensor& ratio, int64_t out_h, int64_t out_w, double eps,
                                                   c10::string_view mode) {
  const AlignMode m = parse_align_mode(mode);
  check_align_input(x_in, "x", mask_in, "mask");
  const double rmin = check_align_common(mask_in, "mask", ratio, out_h, out_w, eps);
  check_output_elements(x_in.size(0), x_in.size(1), out_h, out_w);
  c10::cuda::CUDAGuard guard(x_in.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const auto x = x_in.contiguous();
  const auto mask = mask_in.contiguous();
  const int64_t N = x.size(0), C = x.size(1);
  const AlignParams p = make_align_params(x.size(2), x.size(3), out_h, out_w, eps, m);
  const at::Tensor boxes = make_boxes(mask_in, ratio, p, stream);
  auto out = at::empty({N, C, out_h, out_w}, x.options());  // [N, C, H, W]
  if (out.numel() == 0) return {out, boxes};
  GAITEDGE_DISPATCH_FLOAT_TYPES(x.scalar_type(), "gait_align_cuda", [&] {
    const frame::Args a = forward_args(p, rmin, C, sizeof(at::opmath_type<scalar_t>));
    const frame::ForwardArgs<scalar_t, float> f{x.data_ptr<scalar_t>(), nullptr, nullptr, N, 0,
                                                boxes.data_ptr<float>(), out.data_ptr<scalar_t>()};
    const size_t smem = frame::make_layout<at::opmath_type<scalar_t>>(a, false).total;
    launch_planes(align_forward_kernel<scalar_t, float, false>, N * C, smem, a, f, stream);
  });
  return {out, boxes};
}

at::Tensor gait_align_backward_cuda(const at::Tensor& grad_in, const at::Tensor& boxes_in, int64_t in_h, int64_t in_w,
                                    c10::string_view mode) {
  check_align_backward_args(grad_in, boxes_in, in_h, in_w);
  c10::cuda::CUDAGuard guard(grad_in.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const auto grad = grad_in.contiguous();
  const auto boxes = boxes_in.contiguous();
  const int64_t N = grad.size(0), C = grad.size(1);
  auto gx = at::empty({N, C, in_h, in_w}, grad.options());  // [N, C, h, w]
  if (gx.numel() == 0) return gx;
  if (grad.numel() == 0) return gx.zero_();
  const AlignParams p = make_align_params(in_h, in_w, grad.size(2), grad.size(3), 1.0, parse_align_mode(mode));
  const frame::Args a = backward_args(p, boxes, C);
  GAITEDGE_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "gait_align_backward_cuda", [&] {
    launch_backward<scalar_t, false>(grad, boxes, nullptr, 0, a, gx, stream);
  });
  return gx;
}

std::tuple<at::Tensor, at::Tensor> gait_edge_align_cuda(const at::Tensor& prob_in, const at::Tensor& sil_in,
                                                        const at::Tensor& ratio, int64_t kernel_size, int64_t out_h,
                                                        int64_t out_w, double eps, c10::string_view mode) {
  const AlignMode m = parse_align_mode(mode);
  check_synthesis_args(prob_in, "prob", sil_in, kernel_size, kSynthesisThreshold);
  const double rmin = check_align_common(sil_in, "sil", ratio, out_h, out_w, eps);
  check_output_elements(prob_in.size(0), 1, out_h, out_w);
  c10::cuda::CUDAGuard guard(prob_in.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const auto prob = prob_in.contiguous();
  const auto sil = sil_in.contiguous();
  const int64_t N = prob.size(0);
  const AlignParams p = make_align_params(prob.size(2), prob.size(3), out_h, out_w, eps, m);
  const at::Tensor boxes = make_boxes(sil_in, ratio, p, stream);
  auto out = at::empty({N, 1, out_h, out_w}, prob.options());  // [N, 1, H, W]
  if (out.numel() == 0) return {out, boxes};
  const at::Tensor bits = edge_interior_bits(sil, kernel_size, kSynthesisThreshold, stream);  // [2, N, h, nw]
  const int nw = static_cast<int>(bits.size(3));
  GAITEDGE_DISPATCH_FLOAT_TYPES(prob.scalar_type(), "gait_edge_align_cuda", [&] {
    using x_t = scalar_t;
    const frame::Args a = forward_args(p, rmin, 1, sizeof(at::opmath_type<x_t>));
    const size_t smem = frame::make_layout<at::opmath_type<x_t>>(a, false).total;
    GAITEDGE_DISPATCH_MASK_TYPES(sil.scalar_type(), "gait_edge_align_cuda_sil", [&] {
      const frame::ForwardArgs<x_t, scalar_t> f{prob.data_ptr<x_t>(), sil.data_ptr<scalar_t>(),
                                                reinterpret_cast<const uint32_t*>(bits.data_ptr<int32_t>()), N, nw,
                                                boxes.data_ptr<float>(), out.data_ptr<x_t>()};
      launch_planes(align_forward_kernel<x_t, scalar_t, true>, N, smem, a, f, stream);
    });
  });
  return {out, boxes};
}

at::Tensor gait_edge_align_backward_cuda(const at::Tensor& grad_in, const at::Tensor& sil_in,
                                         const at::Tensor& boxes_in, int64_t kernel_size, c10::string_view mode) {
  check_edge_align_backward_args(grad_in, sil_in, boxes_in, kernel_size);
  c10::cuda::CUDAGuard guard(grad_in.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const auto grad = grad_in.contiguous();
  const auto sil = sil_in.contiguous();
  const auto boxes = boxes_in.contiguous();
  auto gp = at::empty(sil.sizes(), grad.options());  // [N, 1, h, w]
  if (gp.numel() == 0) return gp;
  if (grad.numel() == 0) return gp.zero_();
  const AlignParams p = make_align_params(sil.size(2), sil.size(3), grad.size(2), grad.size(3), 1.0,
                                          parse_align_mode(mode));
  const frame::Args a = backward_args(p, boxes, 1);
  const at::Tensor bits = edge_interior_bits(sil, kernel_size, kSynthesisThreshold, stream);  // [2, N, h, nw]
  GAITEDGE_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "gait_edge_align_backward_cuda", [&] {
    launch_backward<scalar_t, true>(grad, boxes, reinterpret_cast<const uint32_t*>(bits.data_ptr<int32_t>()),
                                    static_cast<int>(bits.size(3)), a, gp, stream);
  });
  return gp;
}

}  // namespace
}  // namespace cuda

TORCH_LIBRARY_IMPL(gaitedge, CUDA, m) {
  m.impl("align_boxes", &cuda::align_boxes_cuda);
  m.impl("gait_align", &cuda::gait_align_cuda);
  m.impl("_gait_align_backward", &cuda::gait_align_backward_cuda);
  m.impl("gait_edge_align", &cuda::gait_edge_align_cuda);
  m.impl("_gait_edge_align_backward", &cuda::gait_edge_align_backward_cuda);
}

}  // namespace gaitedge
