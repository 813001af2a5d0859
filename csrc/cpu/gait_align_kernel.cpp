// CPU kernels of align_boxes, gait_align (+ backward) and the fused gait_edge_align (+ backward).
//
// One task per frame (at::parallel_for over N). Per frame: row/column sums of the mask -> box (align_geometry.h)
// -> the two banded 1-D weight tables, then per channel the separable resampling
//   forward   T = X . Ax^T over the rows the box touches, out = Ay . T
//   backward  U = G . Ax, grad = Ay^T . U, accumulated in a per-frame buffer in a fixed order: deterministic and
//             free of atomics, every input pixel written once.
// The fused op forms Ms = edge * prob + interior * sil row by row from the morphology planes and never writes it.
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../align_geometry.h"
#include "../binarise.h"
#include "../checks.h"
#include "../dispatch.h"
#include "morphology.h"

namespace gaitedge {
namespace {

template <typename T>
inline double to_double(T v) {
  if constexpr (std::is_same_v<T, double>) {
    return v;
  } else {
    return static_cast<double>(static_cast<float>(v));
  }
}

// Row and column sums of one mask frame: raw values (OpenGait) or the mask binarised at 0.5 (exact).
template <typename mask_t>
void frame_sums(const mask_t* m, const AlignParams& p, double* row_sum, double* col_sum) {
  const int h = p.in_h, w = p.in_w;
  std::fill(col_sum, col_sum + w, 0.0);
  const Binariser<mask_t> half(0.5);
  for (int y = 0; y < h; ++y) {
    const mask_t* row = m + static_cast<int64_t>(y) * w;
    double rs = 0.0;
    for (int x = 0; x < w; ++x) {
      const double v = p.mode == AlignMode::kOpenGait ? to_double(row[x]) : (half(row[x]) ? 1.0 : 0.0);
      rs += v;
      col_sum[x] += v;
    }
    row_sum[y] = rs;
  }
}

// The banded weight tables of one frame's box.
struct Tables {
  AxisGrid gy, gx;
  std::vector<int> sy, sx;    // band starts [out_h], [out_w]
  std::vector<float> wy, wx;  // [out_h, By], [out_w, Bx]

  void build(const float* box, const AlignParams& p) {
    gy = axis_grid(box[1], box[3], p.in_h, p.out_h, 0, p.mode);
    gx = axis_grid(box[0], box[2], p.in_w, p.out_w, p.pad, p.mode);
    sy.resize(p.out_h);
    sx.resize(p.out_w);
    wy.resize(static_cast<size_t>(p.out_h) * gy.band);
    wx.resize(static_cast<size_t>(p.out_w) * gx.band);
    for (int o = 0; o < p.out_h; ++o) sy[o] = axis_band(gy, o, p.in_h, 0, p.mode, &wy[o * gy.band]);
    for (int o = 0; o < p.out_w; ++o) sx[o] = axis_band(gx, o, p.in_w, p.pad, p.mode, &wx[o * gx.band]);
  }
  int row_lo() const { return sy.front(); }
  int row_hi(int h) const { return std::min(h - 1, sy.back() + gy.band - 1); }
  int col_lo() const { return sx.front(); }
  int col_hi(int w) const { return std::min(w - 1, sx.back() + gx.band - 1); }
};

// out[ph, pw] from the resampled rows T [rows, out_w] (rows start at t.row_lo()).
template <typename opmath_t, typename out_t>
void vertical_forward(const Tables& t, const AlignParams& p, const opmath_t* T, opmath_t* acc, out_t* out) {
  const int By = t.gy.band, r0 = t.row_lo();
  for (int ph = 0; ph < p.out_h; ++ph) {
    std::fill(acc, acc + p.out_w, opmath_t(0));
    const int nb = std::min(By, p.in_h - t.sy[ph]);
    for (int a = 0; a < nb; ++a) {
      const opmath_t wa = t.wy[ph * By + a];
      const opmath_t* tr = T + static_cast<int64_t>(t.sy[ph] + a - r0) * p.out_w;
      for (int pw = 0; pw < p.out_w; ++pw) acc[pw] += wa * tr[pw];
    }
    out_t* o = out + static_cast<int64_t>(ph) * p.out_w;
    for (int pw = 0; pw < p.out_w; ++pw) o[pw] = static_cast<out_t>(acc[pw]);
  }
}

// One input row through the horizontal bands: T_row[pw] = sum_b Ax[pw, b] * row[sx[pw] + b].
template <typename opmath_t, typename Row>
inline void horizontal_forward(const Tables& t, const AlignParams& p, const Row& row, opmath_t* trow) {
  const int Bx = t.gx.band;
  for (int pw = 0; pw < p.out_w; ++pw) {
    const int s = t.sx[pw], nb = std::min(Bx, p.in_w - s);
    const float* wt = &t.wx[pw * Bx];
    opmath_t acc = 0;
    for (int b = 0; b < nb; ++b) acc += static_cast<opmath_t>(wt[b]) * row(s + b);
    trow[pw] = acc;
  }
}

// grad plane [h, w] (opmath) = Ay^T . (G . Ax), zero outside the box's reach; U is [out_h, w] scratch.
template <typename opmath_t, typename grad_t>
void backward_plane(const Tables& t, const AlignParams& p, const grad_t* G, opmath_t* U, opmath_t* plane) {
  const int h = p.in_h, w = p.in_w, Bx = t.gx.band, By = t.gy.band;
  const int c0 = t.col_lo(), c1 = t.col_hi(w);
  std::fill(U, U + static_cast<int64_t>(p.out_h) * w, opmath_t(0));
  for (int ph = 0; ph < p.out_h; ++ph) {
    opmath_t* u = U + static_cast<int64_t>(ph) * w;
    for (int pw = 0; pw < p.out_w; ++pw) {
      const opmath_t g = static_cast<opmath_t>(G[ph * p.out_w + pw]);
      const int s = t.sx[pw], nb = std::min(Bx, w - s);
      const float* wt = &t.wx[pw * Bx];
      for (int b = 0; b < nb; ++b) u[s + b] += g * static_cast<opmath_t>(wt[b]);
    }
  }
  std::fill(plane, plane + static_cast<int64_t>(h) * w, opmath_t(0));
  for (int ph = 0; ph < p.out_h; ++ph) {
    const int nb = std::min(By, h - t.sy[ph]);
    const opmath_t* u = U + static_cast<int64_t>(ph) * w;
    for (int a = 0; a < nb; ++a) {
      const opmath_t wa = t.wy[ph * By + a];
      opmath_t* dst = plane + static_cast<int64_t>(t.sy[ph] + a) * w;
      for (int j = c0; j <= c1; ++j) dst[j] += wa * u[j];
    }
  }
}

void require_cpu(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.device().is_cpu(), name, " must be a CPU tensor here, got ", t.device());
}

// ---- align_boxes -----------------------------------------------------------------------------------------------------

at::Tensor align_boxes_cpu(const at::Tensor& mask_in, const at::Tensor& ratio_in, int64_t out_h, int64_t out_w,
                           double eps, c10::string_view mode_str) {
  const AlignMode mode = parse_align_mode(mode_str);
  check_align_common(mask_in, "mask", ratio_in, out_h, out_w, eps);
  require_cpu(mask_in, "mask");
  const auto mask = mask_in.contiguous();
  const auto ratio = ratio_in.reshape({-1}).to(at::kFloat).contiguous();
  const int64_t N = mask.size(0);
  auto boxes = at::empty({N, 4}, mask.options().dtype(at::kFloat));  // [N, 4] (x1, y1, x2, y2)
  if (N == 0) return boxes;
  const AlignParams p = make_align_params(mask.size(2), mask.size(3), out_h, out_w, eps, mode);
  const float* r = ratio.data_ptr<float>();
  float* bx = boxes.data_ptr<float>();
  GAITEDGE_DISPATCH_MASK_TYPES(mask.scalar_type(), "align_boxes_cpu", [&] {
    const scalar_t* m = mask.data_ptr<scalar_t>();
    at::parallel_for(0, N, 16, [&](int64_t begin, int64_t end) {
      std::vector<double> rs(p.in_h), cs(p.in_w);
      for (int64_t n = begin; n < end; ++n) {
        frame_sums(m + n * p.in_h * p.in_w, p, rs.data(), cs.data());
        box_from_sums(rs.data(), cs.data(), r[n], p, bx + 4 * n);
      }
    });
  });
  return boxes;
}

// ---- gait_align ------------------------------------------------------------------------------------------------------

std::tuple<at::Tensor, at::Tensor> gait_align_cpu(const at::Tensor& x_in, const at::Tensor& mask_in,
                                                  const at::Tensor& ratio, int64_t out_h, int64_t out_w, double eps,
                                                  c10::string_view mode) {
  check_align_input(x_in, "x", mask_in, "mask");
  auto boxes = align_boxes_cpu(mask_in, ratio, out_h, out_w, eps, mode);
  const auto x = x_in.contiguous();
  const int64_t N = x.size(0), C = x.size(1);
  auto out = at::empty({N, C, out_h, out_w}, x.options());  // [N, C, H, W]
  if (out.numel() == 0) return {out, boxes};
  const AlignParams p = make_align_params(x.size(2), x.size(3), out_h, out_w, eps, parse_align_mode(mode));
  const float* bx = boxes.data_ptr<float>();
  GAITEDGE_DISPATCH_FLOAT_TYPES(x.scalar_type(), "gait_align_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const scalar_t* X = x.data_ptr<scalar_t>();
    scalar_t* O = out.data_ptr<scalar_t>();
    at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
      Tables t;
      std::vector<opmath_t> T, acc(p.out_w);
      for (int64_t n = begin; n < end; ++n) {
        t.build(bx + 4 * n, p);
        const int r0 = t.row_lo(), r1 = t.row_hi(p.in_h);
        T.resize(static_cast<size_t>(std::max(0, r1 - r0 + 1)) * p.out_w);
        for (int64_t c = 0; c < C; ++c) {
          const scalar_t* Xc = X + (n * C + c) * p.in_h * p.in_w;
          for (int i = r0; i <= r1; ++i) {
            const scalar_t* row = Xc + static_cast<int64_t>(i) * p.in_w;
            horizontal_forward<opmath_t>(t, p, [row](int j) { return static_cast<opmath_t>(row[j]); },
                                         T.data() + static_cast<int64_t>(i - r0) * p.out_w);
          }
          vertical_forward(t, p, T.data(), acc.data(), O + (n * C + c) * p.out_h * p.out_w);
        }
      }
    });
  });
  return {out, boxes};
}

at::Tensor gait_align_backward_cpu(const at::Tensor& grad_in, const at::Tensor& boxes_in, int64_t in_h, int64_t in_w,
                                   c10::string_view mode) {
  TORCH_CHECK_VALUE(grad_in.dim() == 4, "grad must have shape [N, C, H, W], got ", grad_in.sizes());
  check_float_dtype(grad_in, "grad");
  check_boxes(boxes_in, grad_in.size(0), grad_in);
  TORCH_CHECK_VALUE(in_h >= 0 && in_w >= 0, "in_h and in_w must be non-negative");
  const auto grad = grad_in.contiguous();
  const auto boxes = boxes_in.contiguous();
  const int64_t N = grad.size(0), C = grad.size(1);
  auto gx = at::empty({N, C, in_h, in_w}, grad.options());  // [N, C, h, w]
  if (gx.numel() == 0) return gx;
  if (grad.numel() == 0) return gx.zero_();
  const AlignParams p = make_align_params(in_h, in_w, grad.size(2), grad.size(3), 1.0, parse_align_mode(mode));
  const float* bx = boxes.data_ptr<float>();
  GAITEDGE_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "gait_align_backward_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const scalar_t* G = grad.data_ptr<scalar_t>();
    scalar_t* D = gx.data_ptr<scalar_t>();
    const int64_t HW = in_h * in_w;
    at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
      Tables t;
      std::vector<opmath_t> U(static_cast<size_t>(p.out_h) * in_w), plane(HW);
      for (int64_t n = begin; n < end; ++n) {
        t.build(bx + 4 * n, p);
        for (int64_t c = 0; c < C; ++c) {
          backward_plane(t, p, G + (n * C + c) * p.out_h * p.out_w, U.data(), plane.data());
          scalar_t* dst = D + (n * C + c) * HW;
          for (int64_t i = 0; i < HW; ++i) dst[i] = static_cast<scalar_t>(plane[i]);
        }
      }
    });
  });
  return gx;
}

// ---- gait_edge_align -------------------------------------------------------------------------------------------------

constexpr double kSynthesisThreshold = 0.5;

std::tuple<at::Tensor, at::Tensor> gait_edge_align_cpu(const at::Tensor& prob_in, const at::Tensor& sil_in,
                                                       const at::Tensor& ratio, int64_t kernel_size, int64_t out_h,
                                                       int64_t out_w, double eps, c10::string_view mode) {
  check_synthesis_args(prob_in, "prob", sil_in, kernel_size, kSynthesisThreshold);
  auto boxes = align_boxes_cpu(sil_in, ratio, out_h, out_w, eps, mode);
  const auto prob = prob_in.contiguous();
  const auto sil = sil_in.contiguous();
  const int64_t N = prob.size(0);
  auto out = at::empty({N, 1, out_h, out_w}, prob.options());  // [N, 1, H, W]
  if (out.numel() == 0) return {out, boxes};
  const AlignParams p = make_align_params(prob.size(2), prob.size(3), out_h, out_w, eps, parse_align_mode(mode));
  const int64_t r = kernel_size / 2, H = p.in_h, W = p.in_w;
  const float* bx = boxes.data_ptr<float>();
  GAITEDGE_DISPATCH_FLOAT_TYPES(prob.scalar_type(), "gait_edge_align_cpu", [&] {
    using x_t = scalar_t;
    using opmath_t = at::opmath_type<x_t>;
    GAITEDGE_DISPATCH_MASK_TYPES(sil.scalar_type(), "gait_edge_align_cpu_sil", [&] {
      using sil_t = scalar_t;
      const x_t* P = prob.data_ptr<x_t>();
      const sil_t* S = sil.data_ptr<sil_t>();
      x_t* O = out.data_ptr<x_t>();
      const Binariser<sil_t> bin(kSynthesisThreshold);
      at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
        Tables t;
        std::vector<uint8_t> morph(cpu::MorphScratch::bytes(H, W) + 2 * W);
        cpu::MorphScratch ms(morph.data(), H, W);
        uint8_t* edge = morph.data() + cpu::MorphScratch::bytes(H, W);
        uint8_t* inter = edge + W;
        std::vector<opmath_t> T, acc(p.out_w), msrow(W);
        for (int64_t n = begin; n < end; ++n) {
          t.build(bx + 4 * n, p);
          const sil_t* s = S + n * H * W;
          const x_t* pr = P + n * H * W;
          cpu::horizontal_planes(s, H, W, r, bin, ms.m, ms.hd, ms.he);
          const int r0 = t.row_lo(), r1 = t.row_hi(p.in_h);
          T.resize(static_cast<size_t>(std::max(0, r1 - r0 + 1)) * p.out_w);
          for (int i = r0; i <= r1; ++i) {
            // one row of Ms = edge * prob + interior * sil, kept in registers/L1 only
            cpu::edge_interior_row(ms.hd, ms.he, H, W, r, i, edge, inter);
            const x_t* prow = pr + static_cast<int64_t>(i) * W;
            const sil_t* srow = s + static_cast<int64_t>(i) * W;
            for (int64_t j = 0; j < W; ++j) {
              msrow[j] = static_cast<opmath_t>(edge[j]) * static_cast<opmath_t>(prow[j]) +
                         static_cast<opmath_t>(inter[j]) * Binariser<sil_t>::template value<opmath_t>(srow[j]);
            }
            const opmath_t* mr = msrow.data();
            horizontal_forward<opmath_t>(t, p, [mr](int j) { return mr[j]; },
                                         T.data() + static_cast<int64_t>(i - r0) * p.out_w);
          }
          vertical_forward(t, p, T.data(), acc.data(), O + n * p.out_h * p.out_w);
        }
      });
    });
  });
  return {out, boxes};
}

at::Tensor gait_edge_align_backward_cpu(const at::Tensor& grad_in, const at::Tensor& sil_in,
                                        const at::Tensor& boxes_in, int64_t kernel_size, c10::string_view mode) {
  check_frames(sil_in, "sil");
  check_mask_dtype(sil_in, "sil");
  check_kernel_size(kernel_size);
  TORCH_CHECK_VALUE(grad_in.dim() == 4 && grad_in.size(1) == 1 && grad_in.size(0) == sil_in.size(0),
                    "grad must have shape [N, 1, H, W] with N = ", sil_in.size(0), ", got ", grad_in.sizes());
  check_float_dtype(grad_in, "grad");
  check_same_device(grad_in, "grad", sil_in, "sil");
  check_boxes(boxes_in, grad_in.size(0), grad_in);
  const auto grad = grad_in.contiguous();
  const auto sil = sil_in.contiguous();
  const auto boxes = boxes_in.contiguous();
  const int64_t N = sil.size(0), H = sil.size(2), W = sil.size(3);
  auto gp = at::empty({N, 1, H, W}, grad.options());  // [N, 1, H, W]
  if (gp.numel() == 0) return gp;
  if (grad.numel() == 0) return gp.zero_();
  const AlignParams p = make_align_params(H, W, grad.size(2), grad.size(3), 1.0, parse_align_mode(mode));
  const int64_t r = kernel_size / 2;
  const float* bx = boxes.data_ptr<float>();
  GAITEDGE_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "gait_edge_align_backward_cpu", [&] {
    using x_t = scalar_t;
    using opmath_t = at::opmath_type<x_t>;
    GAITEDGE_DISPATCH_MASK_TYPES(sil.scalar_type(), "gait_edge_align_backward_cpu_sil", [&] {
      using sil_t = scalar_t;
      const x_t* G = grad.data_ptr<x_t>();
      const sil_t* S = sil.data_ptr<sil_t>();
      x_t* D = gp.data_ptr<x_t>();
      const Binariser<sil_t> bin(kSynthesisThreshold);
      at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
        Tables t;
        std::vector<uint8_t> morph(cpu::MorphScratch::bytes(H, W) + 2 * W);
        cpu::MorphScratch ms(morph.data(), H, W);
        uint8_t* edge = morph.data() + cpu::MorphScratch::bytes(H, W);
        uint8_t* inter = edge + W;
        std::vector<opmath_t> U(static_cast<size_t>(p.out_h) * W), plane(H * W);
        for (int64_t n = begin; n < end; ++n) {
          t.build(bx + 4 * n, p);
          backward_plane(t, p, G + n * p.out_h * p.out_w, U.data(), plane.data());
          cpu::horizontal_planes(S + n * H * W, H, W, r, bin, ms.m, ms.hd, ms.he);
          x_t* dst = D + n * H * W;
          for (int64_t y = 0; y < H; ++y) {
            cpu::edge_interior_row(ms.hd, ms.he, H, W, r, y, edge, inter);
            const opmath_t* pl = plane.data() + y * W;
            x_t* drow = dst + y * W;
            for (int64_t j = 0; j < W; ++j) drow[j] = static_cast<x_t>(static_cast<opmath_t>(edge[j]) * pl[j]);
          }
        }
      });
    });
  });
  return gp;
}

}  // namespace

TORCH_LIBRARY_IMPL(gaitedge, CPU, m) {
  m.impl("align_boxes", &align_boxes_cpu);
  m.impl("gait_align", &gait_align_cpu);
  m.impl("_gait_align_backward", &gait_align_backward_cpu);
  m.impl("gait_edge_align", &gait_edge_align_cpu);
  m.impl("_gait_edge_align_backward", &gait_edge_align_backward_cpu);
}

}  // namespace gaitedge
