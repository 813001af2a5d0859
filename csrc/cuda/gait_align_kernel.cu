// CUDA kernels of align_boxes, gait_align (+ backward) and the fused gait_edge_align (+ backward).
//
//   tables_kernel      one block per frame: row/column sums of the mask in shared memory (fixed summation order,
//                      so the box is reproducible), the box (one thread, align_geometry.h), then the banded weights
//                      Ay [out_h, By] and Ax [out_w, Bx] and their band starts into a small per-frame workspace.
//   forward kernels    one thread per output element: sum_a Ay[a] * (sum_b Ax[b] * X[sy + a, sx + b]), the same
//                      order as the CPU kernel. The fused op reads prob, sil and a bit-packed edge/interior mask
//                      (from the gait_synthesis kernel) and forms Ms = edge * prob + interior * sil per tap; Ms is
//                      never written.
//   backward kernels   one thread per input pixel gathers grad = sum over the output rows/columns whose bands cover
//                      it (found by binary search over the non-decreasing band starts): no atomics, every pixel
//                      written once, bitwise reproducible. The fused backward skips non-edge pixels (their gradient
//                      is 0).
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/min.h>
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
#include "cuda_helpers.cuh"
#include "edge_bits.cuh"

namespace gaitedge {
namespace cuda {
namespace {

constexpr double kSynthesisThreshold = 0.5;

// Per-frame workspace: band starts [N, out_h + out_w] (int32) and weights [N, out_h * By + out_w * Bx] (float).
struct Workspace {
  at::Tensor starts, weights, boxes;
  int By, Bx;
};

struct TableArgs {
  AlignParams p;
  int By, Bx;  // band widths reserved per output index (upper bounds over all frames)
};

template <typename T>
__device__ __forceinline__ double mask_value(T v, AlignMode mode, const Binariser<T>& half) {
  if (mode == AlignMode::kExact) return half(v) ? 1.0 : 0.0;
  if constexpr (std::is_same_v<T, double>) {
    return v;
  } else {
    return static_cast<double>(static_cast<float>(v));
  }
}

// The banded tables of frame n's box, one output index per thread: starts [out_h + out_w] (y then x) and the
// zero-padded weights [out_h, By] then [out_w, Bx].
__device__ void fill_tables(const float* box, const TableArgs& a, int64_t n, int* starts, float* weights) {
  const AlignParams& p = a.p;
  AxisGrid gy = axis_grid(box[1], box[3], p.in_h, p.out_h, 0, p.mode);
  AxisGrid gx = axis_grid(box[0], box[2], p.in_w, p.out_w, p.pad, p.mode);
  gy.band = min(gy.band, a.By);
  gx.band = min(gx.band, a.Bx);
  int* sy = starts + n * (p.out_h + p.out_w);
  float* wy = weights + n * (static_cast<int64_t>(p.out_h) * a.By + static_cast<int64_t>(p.out_w) * a.Bx);
  float* wx = wy + p.out_h * a.By;
  for (int o = threadIdx.x; o < p.out_h + p.out_w; o += blockDim.x) {
    const bool is_y = o < p.out_h;
    float* w = is_y ? wy + o * a.By : wx + (o - p.out_h) * a.Bx;
    const int B = is_y ? a.By : a.Bx;
    for (int b = 0; b < B; ++b) w[b] = 0.0f;
    sy[o] = is_y ? axis_band(gy, o, p.in_h, 0, p.mode, w) : axis_band(gx, o - p.out_h, p.in_w, p.pad, p.mode, w);
  }
}

template <typename mask_t>
__global__ void __launch_bounds__(kThreads)
    tables_kernel(const mask_t* __restrict__ mask, const float* __restrict__ ratio, const TableArgs a,
                  const Binariser<mask_t> half, float* __restrict__ boxes, int* __restrict__ starts,
                  float* __restrict__ weights) {
  extern __shared__ double sums[];  // [in_h] row sums, then [in_w] column sums
  const AlignParams& p = a.p;
  double* row_sum = sums;
  double* col_sum = sums + p.in_h;
  __shared__ float box[4];
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
  if (threadIdx.x == 0) {
    box_from_sums(row_sum, col_sum, ratio[n], p, box);
    for (int i = 0; i < 4; ++i) boxes[4 * n + i] = box[i];
  }
  __syncthreads();
  if (starts == nullptr) return;  // align_boxes only

  fill_tables(box, a, n, starts, weights);
}

// The value of input pixel (row, col) of frame n, channel c: the feature map, or Ms for the fused op.
template <typename x_t, typename sil_t, bool kFused>
struct Pixel {
  const x_t* x;
  const sil_t* sil;
  const uint32_t* bits;  // [2, N, h, nw]
  int64_t plane;         // N * h * nw
  int nw;
  using opmath_t = at::opmath_type<x_t>;  // float64 stays float64 (gradcheck), everything else float32
  __device__ __forceinline__ opmath_t operator()(int64_t frame_off, int64_t n, int h, int w, int row, int col) const {
    const int64_t idx = frame_off + static_cast<int64_t>(row) * w + col;
    if constexpr (kFused) {
      const int64_t word0 = (n * h + row) * nw;
      const opmath_t e = bit_at(bits, word0, col) ? 1 : 0;
      const opmath_t in = bit_at(bits + plane, word0, col) ? 1 : 0;
      return e * static_cast<opmath_t>(x[idx]) + in * Binariser<sil_t>::template value<opmath_t>(sil[idx]);
    } else {
      return static_cast<opmath_t>(x[idx]);
    }
  }
};

template <typename x_t, typename sil_t, bool kFused>
__global__ void __launch_bounds__(kThreads)
    align_forward_kernel(const Pixel<x_t, sil_t, kFused> pix, x_t* __restrict__ out, const int* __restrict__ starts,
                         const float* __restrict__ weights, const TableArgs a, const int64_t C, const int64_t total) {
  using opmath_t = at::opmath_type<x_t>;
  const AlignParams& p = a.p;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    // idx -> (n, c, ph, pw)
    const int pw = static_cast<int>(idx % p.out_w);
    const int ph = static_cast<int>((idx / p.out_w) % p.out_h);
    const int64_t nc = idx / (static_cast<int64_t>(p.out_w) * p.out_h);
    const int64_t n = nc / C;
    const int* sy = starts + n * (p.out_h + p.out_w);
    const float* wy = weights + n * (static_cast<int64_t>(p.out_h) * a.By + static_cast<int64_t>(p.out_w) * a.Bx);
    const float* wx = wy + p.out_h * a.By + pw * a.Bx;
    wy += ph * a.By;
    const int y0 = sy[ph], x0 = sy[p.out_h + pw];
    const int nby = min(a.By, p.in_h - y0), nbx = min(a.Bx, p.in_w - x0);
    const int64_t frame_off = nc * p.in_h * static_cast<int64_t>(p.in_w);
    opmath_t acc = 0;
    for (int i = 0; i < nby; ++i) {
      const opmath_t wa = wy[i];
      if (wa == opmath_t(0)) continue;
      opmath_t racc = 0;
      for (int j = 0; j < nbx; ++j) racc += static_cast<opmath_t>(wx[j]) * pix(frame_off, n, p.in_h, p.in_w, y0 + i, x0 + j);
      acc += wa * racc;
    }
    out[idx] = static_cast<x_t>(acc);
  }
}

// Output indices o whose band [s[o], s[o] + B) covers input index i, for non-decreasing starts s: [lo, hi].
__device__ __forceinline__ void covering(const int* s, int n_out, int B, int i, int& lo, int& hi) {
  int l = 0, r = n_out;  // first o with s[o] > i - B
  while (l < r) {
    const int m = (l + r) >> 1;
    if (s[m] > i - B) r = m; else l = m + 1;
  }
  lo = l;
  l = 0, r = n_out;  // first o with s[o] > i
  while (l < r) {
    const int m = (l + r) >> 1;
    if (s[m] > i) r = m; else l = m + 1;
  }
  hi = l - 1;
}

template <typename x_t, bool kFused>
__global__ void __launch_bounds__(kThreads)
    align_backward_kernel(const x_t* __restrict__ grad, x_t* __restrict__ grad_in, const int* __restrict__ starts,
                          const float* __restrict__ weights, const uint32_t* __restrict__ bits, const int nw,
                          const TableArgs a, const int64_t C, const int64_t total) {
  using opmath_t = at::opmath_type<x_t>;
  const AlignParams& p = a.p;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    // idx -> (n, c, i, j)
    const int j = static_cast<int>(idx % p.in_w);
    const int i = static_cast<int>((idx / p.in_w) % p.in_h);
    const int64_t nc = idx / (static_cast<int64_t>(p.in_w) * p.in_h);
    const int64_t n = nc / C;
    if constexpr (kFused) {
      if (!bit_at(bits, (n * p.in_h + i) * nw, j)) {  // gradient reaches prob only through the edge band
        grad_in[idx] = x_t(0);
        continue;
      }
    }
    const int* sy = starts + n * (p.out_h + p.out_w);
    const int* sx = sy + p.out_h;
    const float* wy = weights + n * (static_cast<int64_t>(p.out_h) * a.By + static_cast<int64_t>(p.out_w) * a.Bx);
    const float* wx = wy + p.out_h * a.By;
    int ph0, ph1, pw0, pw1;
    covering(sy, p.out_h, a.By, i, ph0, ph1);
    covering(sx, p.out_w, a.Bx, j, pw0, pw1);
    const x_t* g = grad + nc * p.out_h * static_cast<int64_t>(p.out_w);
    opmath_t acc = 0;
    for (int ph = ph0; ph <= ph1; ++ph) {
      const opmath_t wa = wy[ph * a.By + (i - sy[ph])];
      if (wa == opmath_t(0)) continue;
      opmath_t racc = 0;
      for (int pw = pw0; pw <= pw1; ++pw) {
        racc += static_cast<opmath_t>(wx[pw * a.Bx + (j - sx[pw])]) * static_cast<opmath_t>(g[ph * p.out_w + pw]);
      }
      acc += wa * racc;
    }
    grad_in[idx] = static_cast<x_t>(acc);
  }
}

inline int64_t grid_for(int64_t total) {
  return std::max<int64_t>(1, std::min<int64_t>(ceil_div<int64_t>(total, kThreads), int64_t(1) << 20));
}

// Band widths that bound every frame's bands (align_geometry.h: B = min(grid + 2, n_in)); exact mode's horizontal
// window grows as 1 / ratio, so its bound uses the smallest ratio (read once on the host; check_ratio syncs anyway).
TableArgs table_args(const AlignParams& p, const at::Tensor& ratio) {
  TableArgs a;
  a.p = p;
  const int gy = static_cast<int>(ceil_div<int64_t>(std::max(p.in_h, 1), p.out_h));
  a.By = std::min(gy + 2, p.in_h);
  int gx;
  if (p.mode == AlignMode::kOpenGait) {
    gx = static_cast<int>(ceil_div<int64_t>(p.in_w + 2 * p.pad, p.out_w));
  } else {
    const double rmin = ratio.numel() ? ratio.min().item<double>() : 1.0;
    gx = static_cast<int>(std::ceil(static_cast<double>(p.in_w) / (p.out_h * rmin))) + 1;
  }
  a.Bx = std::min(gx + 2, p.in_w);
  return a;
}

template <typename mask_t>
void launch_tables(const at::Tensor& mask, const at::Tensor& ratio, const TableArgs& a, Workspace& ws,
                   bool with_tables, cudaStream_t stream) {
  const int64_t N = mask.size(0);
  const size_t smem = static_cast<size_t>(a.p.in_h + a.p.in_w) * sizeof(double);
  TORCH_CHECK_VALUE(smem <= 48 * 1024, "frames of size ", a.p.in_h, " x ", a.p.in_w,
                    " are too large for the CUDA GaitAlign kernel (h + w must be <= 6144)");
  tables_kernel<mask_t><<<N, kThreads, smem, stream>>>(
      mask.data_ptr<mask_t>(), ratio.data_ptr<float>(), a, Binariser<mask_t>(0.5), ws.boxes.data_ptr<float>(),
      with_tables ? ws.starts.data_ptr<int>() : nullptr, with_tables ? ws.weights.data_ptr<float>() : nullptr);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// Boxes (and, with_tables, the weight tables) of every frame of `mask`.
Workspace make_workspace(const at::Tensor& mask, const at::Tensor& ratio_in, const AlignParams& p, bool with_tables,
                         cudaStream_t stream, TableArgs* args) {
  const auto ratio = ratio_in.reshape({-1}).to(at::kFloat).contiguous();
  const int64_t N = mask.size(0);
  Workspace ws;
  ws.boxes = at::empty({N, 4}, mask.options().dtype(at::kFloat));  // [N, 4] (x1, y1, x2, y2)
  const TableArgs a = table_args(p, ratio);
  if (with_tables) {
    ws.starts = at::empty({N, p.out_h + p.out_w}, mask.options().dtype(at::kInt));
    ws.weights = at::empty({N, static_cast<int64_t>(p.out_h) * a.By + static_cast<int64_t>(p.out_w) * a.Bx},
                           mask.options().dtype(at::kFloat));
  }
  if (N > 0) {
    GAITEDGE_DISPATCH_MASK_TYPES(mask.scalar_type(), "gait_align_tables_cuda", [&] {
      launch_tables<scalar_t>(mask, ratio, a, ws, with_tables, stream);
    });
  }
  if (args) *args = a;
  return ws;
}

// Tables rebuilt from saved boxes for the backward: the same geometry code, without the mask.
__global__ void tables_from_boxes_kernel(const float* __restrict__ boxes, const TableArgs a, int* __restrict__ starts,
                                         float* __restrict__ weights) {
  const int64_t n = blockIdx.x;
  const float* box = boxes + 4 * n;
  fill_tables(box, a, n, starts, weights);
}

Workspace tables_from_boxes(const at::Tensor& boxes, const AlignParams& p, cudaStream_t stream, TableArgs* args) {
  const int64_t N = boxes.size(0);
  // bounds that hold for any box inside OpenGait's padded frame / any exact-mode window over the frame
  TableArgs a;
  a.p = p;
  a.By = std::min(static_cast<int>(ceil_div<int64_t>(std::max(p.in_h, 1), p.out_h)) + 2, p.in_h);
  Workspace ws;
  ws.boxes = boxes;
  // the horizontal band follows from the widest saved box
  const float widest = N ? (boxes.select(1, 2) - boxes.select(1, 0)).max().item<float>() : 1.0f;
  const int gx = static_cast<int>(std::ceil(std::max(widest, 1.0f) / p.out_w)) + 1;
  a.Bx = std::min(gx + 2, p.in_w);
  ws.starts = at::empty({N, p.out_h + p.out_w}, boxes.options().dtype(at::kInt));
  ws.weights = at::empty({N, static_cast<int64_t>(p.out_h) * a.By + static_cast<int64_t>(p.out_w) * a.Bx},
                         boxes.options());
  if (N > 0) {
    tables_from_boxes_kernel<<<N, kThreads, 0, stream>>>(boxes.data_ptr<float>(), a, ws.starts.data_ptr<int>(),
                                                         ws.weights.data_ptr<float>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  *args = a;
  return ws;
}

// ---- host entry points -----------------------------------------------------------------------------------------------

at::Tensor align_boxes_cuda(const at::Tensor& mask_in, const at::Tensor& ratio, int64_t out_h, int64_t out_w,
                            double eps, c10::string_view mode) {
  const AlignMode m = parse_align_mode(mode);
  check_align_common(mask_in, "mask", ratio, out_h, out_w, eps);
  c10::cuda::CUDAGuard guard(mask_in.device());
  const auto mask = mask_in.contiguous();
  const AlignParams p = make_align_params(mask.size(2), mask.size(3), out_h, out_w, eps, m);
  return make_workspace(mask, ratio, p, false, c10::cuda::getCurrentCUDAStream(), nullptr).boxes;
}

std::tuple<at::Tensor, at::Tensor> gait_align_cuda(const at::Tensor& x_in, const at::Tensor& mask_in,
                                                   const at::Tensor& ratio, int64_t out_h, int64_t out_w, double eps,
                                                   c10::string_view mode) {
  const AlignMode m = parse_align_mode(mode);
  check_align_input(x_in, "x", mask_in, "mask");
  check_align_common(mask_in, "mask", ratio, out_h, out_w, eps);
  c10::cuda::CUDAGuard guard(x_in.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const auto x = x_in.contiguous();
  const auto mask = mask_in.contiguous();
  const int64_t N = x.size(0), C = x.size(1);
  const AlignParams p = make_align_params(x.size(2), x.size(3), out_h, out_w, eps, m);
  TableArgs a;
  Workspace ws = make_workspace(mask, ratio, p, true, stream, &a);
  auto out = at::empty({N, C, out_h, out_w}, x.options());  // [N, C, H, W]
  const int64_t total = out.numel();
  if (total == 0) return {out, ws.boxes};
  GAITEDGE_DISPATCH_FLOAT_TYPES(x.scalar_type(), "gait_align_cuda", [&] {
    const Pixel<scalar_t, float, false> pix{x.data_ptr<scalar_t>(), nullptr, nullptr, 0, 0};
    align_forward_kernel<scalar_t, float, false><<<grid_for(total), kThreads, 0, stream>>>(
        pix, out.data_ptr<scalar_t>(), ws.starts.data_ptr<int>(), ws.weights.data_ptr<float>(), a, C, total);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {out, ws.boxes};
}

at::Tensor gait_align_backward_cuda(const at::Tensor& grad_in, const at::Tensor& boxes_in, int64_t in_h, int64_t in_w,
                                    c10::string_view mode) {
  check_align_backward_args(grad_in, boxes_in, in_h, in_w);
  c10::cuda::CUDAGuard guard(grad_in.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const auto grad = grad_in.contiguous();
  const int64_t N = grad.size(0), C = grad.size(1);
  auto gx = at::empty({N, C, in_h, in_w}, grad.options());  // [N, C, h, w]
  const int64_t total = gx.numel();
  if (total == 0) return gx;
  if (grad.numel() == 0) return gx.zero_();
  const AlignParams p = make_align_params(in_h, in_w, grad.size(2), grad.size(3), 1.0, parse_align_mode(mode));
  TableArgs a;
  Workspace ws = tables_from_boxes(boxes_in.contiguous(), p, stream, &a);
  GAITEDGE_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "gait_align_backward_cuda", [&] {
    align_backward_kernel<scalar_t, false><<<grid_for(total), kThreads, 0, stream>>>(
        grad.data_ptr<scalar_t>(), gx.data_ptr<scalar_t>(), ws.starts.data_ptr<int>(), ws.weights.data_ptr<float>(),
        nullptr, 0, a, C, total);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return gx;
}

std::tuple<at::Tensor, at::Tensor> gait_edge_align_cuda(const at::Tensor& prob_in, const at::Tensor& sil_in,
                                                        const at::Tensor& ratio, int64_t kernel_size, int64_t out_h,
                                                        int64_t out_w, double eps, c10::string_view mode) {
  const AlignMode m = parse_align_mode(mode);
  check_synthesis_args(prob_in, "prob", sil_in, kernel_size, kSynthesisThreshold);
  check_align_common(sil_in, "sil", ratio, out_h, out_w, eps);
  c10::cuda::CUDAGuard guard(prob_in.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const auto prob = prob_in.contiguous();
  const auto sil = sil_in.contiguous();
  const int64_t N = prob.size(0);
  const AlignParams p = make_align_params(prob.size(2), prob.size(3), out_h, out_w, eps, m);
  TableArgs a;
  Workspace ws = make_workspace(sil, ratio, p, true, stream, &a);
  auto out = at::empty({N, 1, out_h, out_w}, prob.options());  // [N, 1, H, W]
  const int64_t total = out.numel();
  if (total == 0) return {out, ws.boxes};
  const at::Tensor bits = edge_interior_bits(sil, kernel_size, kSynthesisThreshold, stream);  // [2, N, h, nw]
  const int nw = static_cast<int>(bits.size(3));
  GAITEDGE_DISPATCH_FLOAT_TYPES(prob.scalar_type(), "gait_edge_align_cuda", [&] {
    using x_t = scalar_t;
    GAITEDGE_DISPATCH_MASK_TYPES(sil.scalar_type(), "gait_edge_align_cuda_sil", [&] {
      const Pixel<x_t, scalar_t, true> pix{prob.data_ptr<x_t>(), sil.data_ptr<scalar_t>(),
                                           reinterpret_cast<const uint32_t*>(bits.data_ptr<int32_t>()),
                                           N * p.in_h * static_cast<int64_t>(nw), nw};
      align_forward_kernel<x_t, scalar_t, true><<<grid_for(total), kThreads, 0, stream>>>(
          pix, out.data_ptr<x_t>(), ws.starts.data_ptr<int>(), ws.weights.data_ptr<float>(), a, 1, total);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return {out, ws.boxes};
}

at::Tensor gait_edge_align_backward_cuda(const at::Tensor& grad_in, const at::Tensor& sil_in,
                                         const at::Tensor& boxes_in, int64_t kernel_size, c10::string_view mode) {
  check_edge_align_backward_args(grad_in, sil_in, boxes_in, kernel_size);
  c10::cuda::CUDAGuard guard(grad_in.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const auto grad = grad_in.contiguous();
  const auto sil = sil_in.contiguous();
  auto gp = at::empty(sil.sizes(), grad.options());  // [N, 1, h, w]
  const int64_t total = gp.numel();
  if (total == 0) return gp;
  if (grad.numel() == 0) return gp.zero_();
  const AlignParams p = make_align_params(sil.size(2), sil.size(3), grad.size(2), grad.size(3), 1.0,
                                          parse_align_mode(mode));
  TableArgs a;
  Workspace ws = tables_from_boxes(boxes_in.contiguous(), p, stream, &a);
  const at::Tensor bits = edge_interior_bits(sil, kernel_size, kSynthesisThreshold, stream);  // [2, N, h, nw]
  GAITEDGE_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "gait_edge_align_backward_cuda", [&] {
    align_backward_kernel<scalar_t, true><<<grid_for(total), kThreads, 0, stream>>>(
        grad.data_ptr<scalar_t>(), gp.data_ptr<scalar_t>(), ws.starts.data_ptr<int>(), ws.weights.data_ptr<float>(),
        reinterpret_cast<const uint32_t*>(bits.data_ptr<int32_t>()), static_cast<int>(bits.size(3)), a, 1, total);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
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
