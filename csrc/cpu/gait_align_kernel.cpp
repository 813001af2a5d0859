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

// Row and column sums of one mask frame: raw values (OpenGait) or the mask binarised at 0.5 (exact). Integer masks
// and binarised ones are summed in int32 (exact, and the compiler vectorises integer reductions); raw floating masks
// in float64 with four partial row sums in a fixed order (deterministic).
struct SumScratch {
  std::vector<int32_t> icol;
  std::vector<double> row;
};

template <typename mask_t>
void frame_sums(const mask_t* __restrict__ m, const AlignParams& p, double* __restrict__ row_sum,
                double* __restrict__ col_sum, SumScratch& sc) {
  const int h = p.in_h, w = p.in_w;
  constexpr bool kIntegral = std::is_same_v<mask_t, uint8_t> || std::is_same_v<mask_t, bool>;
  if (kIntegral || p.mode == AlignMode::kExact) {
    sc.icol.assign(w, 0);
    int32_t* __restrict__ icol = sc.icol.data();
    const Binariser<mask_t> half(0.5);
    const bool binarise = p.mode == AlignMode::kExact;
    for (int y = 0; y < h; ++y) {
      const mask_t* __restrict__ row = m + static_cast<int64_t>(y) * w;
      int32_t rs = 0;
      if (binarise) {
        for (int x = 0; x < w; ++x) {
          const int32_t v = half(row[x]);
          rs += v;
          icol[x] += v;
        }
      } else if constexpr (kIntegral) {
        for (int x = 0; x < w; ++x) {
          const int32_t v = static_cast<int32_t>(row[x]);
          rs += v;
          icol[x] += v;
        }
      }
      row_sum[y] = rs;
    }
    for (int x = 0; x < w; ++x) col_sum[x] = icol[x];
    return;
  }
  std::fill(col_sum, col_sum + w, 0.0);
  sc.row.resize(w);
  double* __restrict__ vals = sc.row.data();
  for (int y = 0; y < h; ++y) {
    const mask_t* __restrict__ row = m + static_cast<int64_t>(y) * w;
    for (int x = 0; x < w; ++x) vals[x] = to_double(row[x]);
    for (int x = 0; x < w; ++x) col_sum[x] += vals[x];
    double part[4] = {0.0, 0.0, 0.0, 0.0};
    int x = 0;
    for (; x + 4 <= w; x += 4) {
      for (int k = 0; k < 4; ++k) part[k] += vals[x + k];
    }
    for (; x < w; ++x) part[0] += vals[x];
    row_sum[y] = (part[0] + part[1]) + (part[2] + part[3]);
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

// dst[c * dst_stride + r] = src[r * src_stride + c] for r < rows, c < cols, in 16 x 16 blocks.
template <typename T>
void transpose(const T* __restrict__ src, int rows, int cols, int src_stride, T* __restrict__ dst, int dst_stride) {
  constexpr int kB = 16;
  for (int r0 = 0; r0 < rows; r0 += kB) {
    for (int c0 = 0; c0 < cols; c0 += kB) {
      const int r1 = std::min(rows, r0 + kB), c1 = std::min(cols, c0 + kB);
      for (int r = r0; r < r1; ++r) {
        for (int c = c0; c < c1; ++c) dst[static_cast<int64_t>(c) * dst_stride + r] = src[static_cast<int64_t>(r) * src_stride + c];
      }
    }
  }
}

// The forward runs vertical-first: each input row the box touches is added into the output rows whose bands cover
// it (V[ph, :] += Ay[ph, a] * row, a contiguous axpy the compiler vectorises), then each output row is resampled
// horizontally: out[ph, pw] = sum_b Ax[pw, b] * V[ph, sx[pw] + b].
template <typename opmath_t>
struct ForwardAccumulator {
  std::vector<opmath_t> V, row, VT, OT;  // [out_h, stride], [ncols], [stride, out_h], [out_w, out_h]
  int c0 = 0, ncols = 0, stride = 0, ph_lo = 0;

  void begin(const Tables& t, const AlignParams& p) {
    c0 = t.col_lo();
    ncols = std::max(0, t.col_hi(p.in_w) - c0 + 1);
    stride = ncols + t.gx.band;  // zero tail: a band may reach past the last column (with zero weights)
    V.assign(static_cast<size_t>(p.out_h) * stride, opmath_t(0));
    row.resize(ncols);
    ph_lo = 0;
  }
  // Adds input row i (its columns c0 .. c0 + ncols - 1 are in `row`) to the output rows that sample it.
  void add_row(const Tables& t, const AlignParams& p, int i) {
    const int By = t.gy.band;
    while (ph_lo < p.out_h && t.sy[ph_lo] + By <= i) ++ph_lo;
    const opmath_t* __restrict__ src = row.data();
    for (int ph = ph_lo; ph < p.out_h && t.sy[ph] <= i; ++ph) {
      const opmath_t wa = t.wy[ph * By + (i - t.sy[ph])];
      if (wa == opmath_t(0)) continue;
      opmath_t* __restrict__ dst = V.data() + static_cast<int64_t>(ph) * stride;
      for (int j = 0; j < ncols; ++j) dst[j] += wa * src[j];
    }
  }
  // Horizontal resample in transposed layout: VT [col][ph] so that out^T[pw, :] = sum_b Ax[pw, b] * VT[sx + b, :]
  // is a contiguous axpy over the out_h output rows (vectorised), then out = (out^T)^T.
  template <typename out_t>
  void finish(const Tables& t, const AlignParams& p, out_t* __restrict__ out) {
    const int Bx = t.gx.band, H = p.out_h;
    VT.resize(static_cast<size_t>(stride) * H);
    transpose(V.data(), H, stride, stride, VT.data(), H);
    OT.assign(static_cast<size_t>(p.out_w) * H, opmath_t(0));
    for (int pw = 0; pw < p.out_w; ++pw) {
      opmath_t* __restrict__ o = OT.data() + static_cast<int64_t>(pw) * H;
      for (int b = 0; b < Bx; ++b) {
        const opmath_t wb = t.wx[pw * Bx + b];
        if (wb == opmath_t(0)) continue;
        const opmath_t* __restrict__ v = VT.data() + static_cast<int64_t>(t.sx[pw] - c0 + b) * H;
        for (int ph = 0; ph < H; ++ph) o[ph] += wb * v[ph];
      }
    }
    for (int ph = 0; ph < H; ++ph) {
      for (int pw = 0; pw < p.out_w; ++pw) out[ph * p.out_w + pw] = static_cast<out_t>(OT[pw * H + ph]);
    }
  }
};

// Scratch of the backward.
template <typename opmath_t>
struct BackwardScratch {
  std::vector<opmath_t> GT, UT, U, plane;  // [out_w, out_h], [cols, out_h], [out_h, cols], [h, w]
};

// grad plane [h, w] (opmath) = Ay^T . (G . Ax), zero outside the box's reach. G . Ax is formed transposed
// (UT[col, :] += Ax[pw, b] * G^T[pw, :], contiguous over the out_h rows), then Ay^T is applied as axpys over input
// rows. Fixed loop order: deterministic, no atomics.
template <typename opmath_t, typename grad_t>
void backward_plane(const Tables& t, const AlignParams& p, const grad_t* __restrict__ G, BackwardScratch<opmath_t>& sc) {
  const int h = p.in_h, w = p.in_w, Bx = t.gx.band, By = t.gy.band, H = p.out_h;
  const int c0 = t.col_lo(), ncols = std::max(0, t.col_hi(w) - c0 + 1), cols = ncols + Bx;
  sc.GT.resize(static_cast<size_t>(p.out_w) * H);
  for (int ph = 0; ph < H; ++ph) {
    for (int pw = 0; pw < p.out_w; ++pw) sc.GT[pw * H + ph] = static_cast<opmath_t>(G[ph * p.out_w + pw]);
  }
  sc.UT.assign(static_cast<size_t>(cols) * H, opmath_t(0));
  for (int pw = 0; pw < p.out_w; ++pw) {
    const opmath_t* __restrict__ g = sc.GT.data() + static_cast<int64_t>(pw) * H;
    for (int b = 0; b < Bx; ++b) {
      const opmath_t wb = t.wx[pw * Bx + b];
      if (wb == opmath_t(0)) continue;
      opmath_t* __restrict__ u = sc.UT.data() + static_cast<int64_t>(t.sx[pw] - c0 + b) * H;
      for (int ph = 0; ph < H; ++ph) u[ph] += wb * g[ph];
    }
  }
  sc.U.resize(static_cast<size_t>(H) * ncols);
  transpose(sc.UT.data(), ncols, H, H, sc.U.data(), ncols);
  sc.plane.assign(static_cast<size_t>(h) * w, opmath_t(0));
  for (int ph = 0; ph < H; ++ph) {
    const int nb = std::min(By, h - t.sy[ph]);
    const opmath_t* __restrict__ u = sc.U.data() + static_cast<int64_t>(ph) * ncols;
    for (int a = 0; a < nb; ++a) {
      const opmath_t wa = t.wy[ph * By + a];
      if (wa == opmath_t(0)) continue;
      opmath_t* __restrict__ dst = sc.plane.data() + static_cast<int64_t>(t.sy[ph] + a) * w + c0;
      for (int j = 0; j < ncols; ++j) dst[j] += wa * u[j];
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
      SumScratch sc;
      for (int64_t n = begin; n < end; ++n) {
        frame_sums(m + n * p.in_h * p.in_w, p, rs.data(), cs.data(), sc);
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
      ForwardAccumulator<opmath_t> fa;
      for (int64_t n = begin; n < end; ++n) {
        t.build(bx + 4 * n, p);
        const int r0 = t.row_lo(), r1 = t.row_hi(p.in_h);
        for (int64_t c = 0; c < C; ++c) {
          const scalar_t* Xc = X + (n * C + c) * p.in_h * p.in_w;
          fa.begin(t, p);
          for (int i = r0; i <= r1; ++i) {
            const scalar_t* __restrict__ src = Xc + static_cast<int64_t>(i) * p.in_w + fa.c0;
            for (int j = 0; j < fa.ncols; ++j) fa.row[j] = static_cast<opmath_t>(src[j]);
            fa.add_row(t, p, i);
          }
          fa.finish(t, p, O + (n * C + c) * p.out_h * p.out_w);
        }
      }
    });
  });
  return {out, boxes};
}

at::Tensor gait_align_backward_cpu(const at::Tensor& grad_in, const at::Tensor& boxes_in, int64_t in_h, int64_t in_w,
                                   c10::string_view mode) {
  check_align_backward_args(grad_in, boxes_in, in_h, in_w);
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
      BackwardScratch<opmath_t> sc;
      for (int64_t n = begin; n < end; ++n) {
        t.build(bx + 4 * n, p);
        for (int64_t c = 0; c < C; ++c) {
          backward_plane(t, p, G + (n * C + c) * p.out_h * p.out_w, sc);
          scalar_t* __restrict__ dst = D + (n * C + c) * HW;
          const opmath_t* __restrict__ src = sc.plane.data();
          for (int64_t i = 0; i < HW; ++i) dst[i] = static_cast<scalar_t>(src[i]);
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
        cpu::FrameMorphology fm(H, W);
        cpu::MorphScratch& ms = fm.ms;
        const uint8_t* edge = ms.edge;
        const uint8_t* inter = ms.interior;
        ForwardAccumulator<opmath_t> fa;
        for (int64_t n = begin; n < end; ++n) {
          t.build(bx + 4 * n, p);
          const sil_t* s = S + n * H * W;
          const x_t* pr = P + n * H * W;
          cpu::horizontal_planes(s, H, W, r, bin, ms.m, ms.hd, ms.he);
          const int r0 = t.row_lo(), r1 = t.row_hi(p.in_h);
          fa.begin(t, p);
          for (int i = r0; i <= r1; ++i) {
            // one row of Ms = edge * prob + interior * sil, kept in L1 only
            cpu::edge_interior_row(ms, H, W, r, i);
            const int64_t c0 = fa.c0;
            const x_t* __restrict__ prow = pr + static_cast<int64_t>(i) * W + c0;
            const sil_t* __restrict__ srow = s + static_cast<int64_t>(i) * W + c0;
            const uint8_t* __restrict__ er = edge + c0;
            const uint8_t* __restrict__ ir = inter + c0;
            opmath_t* __restrict__ dst = fa.row.data();
            for (int j = 0; j < fa.ncols; ++j) {
              dst[j] = static_cast<opmath_t>(er[j]) * static_cast<opmath_t>(prow[j]) +
                       static_cast<opmath_t>(ir[j]) * Binariser<sil_t>::template value<opmath_t>(srow[j]);
            }
            fa.add_row(t, p, i);
          }
          fa.finish(t, p, O + n * p.out_h * p.out_w);
        }
      });
    });
  });
  return {out, boxes};
}

at::Tensor gait_edge_align_backward_cpu(const at::Tensor& grad_in, const at::Tensor& sil_in,
                                        const at::Tensor& boxes_in, int64_t kernel_size, c10::string_view mode) {
  check_edge_align_backward_args(grad_in, sil_in, boxes_in, kernel_size);
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
        cpu::FrameMorphology fm(H, W);
        cpu::MorphScratch& ms = fm.ms;
        const uint8_t* edge = ms.edge;
        const uint8_t* inter = ms.interior;
        BackwardScratch<opmath_t> sc;
        for (int64_t n = begin; n < end; ++n) {
          t.build(bx + 4 * n, p);
          backward_plane(t, p, G + n * p.out_h * p.out_w, sc);
          cpu::horizontal_planes(S + n * H * W, H, W, r, bin, ms.m, ms.hd, ms.he);
          x_t* dst = D + n * H * W;
          for (int64_t y = 0; y < H; ++y) {
            cpu::edge_interior_row(ms, H, W, r, y);
            const opmath_t* __restrict__ pl = sc.plane.data() + y * W;
            x_t* __restrict__ drow = dst + y * W;
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
