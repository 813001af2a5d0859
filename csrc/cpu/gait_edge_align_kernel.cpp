// CPU kernels of the fused gait_edge_align (gait_align of Ms = edge * prob + interior * sil) and its backward.
//
// One task per frame (at::parallel_for over N), the same resampling as gait_align (row_resample.h), but Ms is
// formed row by row from the morphology's bit rows (morphology.h, edge_rows.h) and never written to memory. Both
// passes touch only the columns the silhouette spans: exact, and inf/NaN fall back to dense rows (forward) or
// frames (backward).
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../align_geometry.h"
#include "../binarise.h"
#include "../checks.h"
#include "../dispatch.h"
#include "edge_rows.h"
#include "half_rows.h"
#include "large_output.h"
#include "mask_sums.h"
#include "morphology.h"
#include "row_resample.h"

namespace gaitedge {
namespace {

constexpr double kSynthesisThreshold = 0.5;

// Calls body.template operator()<x_t, sil_t>() for the dtypes of x (prob or grad) and sil.
template <bool kBackward, typename Body>
void dispatch_edge_align(const at::Tensor& x, const at::Tensor& sil, Body&& body) {
  GAITEDGE_DISPATCH_FLOAT_TYPES(x.scalar_type(),
                                kBackward ? "gait_edge_align_backward_cpu" : "gait_edge_align_cpu", [&] {
    using x_t = scalar_t;
    GAITEDGE_DISPATCH_MASK_TYPES(sil.scalar_type(),
                                 kBackward ? "gait_edge_align_backward_cpu_sil" : "gait_edge_align_cpu_sil",
                                 [&] { body.template operator()<x_t, scalar_t>(); });
  });
}

// One thread's frame state, the same in both passes: the box's tables, the frame's morphology planes over the rows
// the box's rows' windows read, and a float row for fp16/bf16 data (half_rows.h).
template <typename x_t, typename sil_t>
struct EdgeFrame {
  const AlignParams& p;
  const int64_t r, nw;  // morphology radius; words per bit row
  const Binariser<sil_t> bin{kSynthesisThreshold};
  cpu::Tables t;
  cpu::FrameMorphology fm;
  cpu::MorphScratch& ms;
  const bool rows16;          // x_t rows go through float
  std::vector<float> row16;   // [W] when rows16
  int r0 = 0, r1 = -1;        // the input rows the box samples
  int64_t h0 = 0, h1 = 0;     // the rows their windows read, [h0, h1)

  EdgeFrame(const AlignParams& p_, int64_t r_)
      : p(p_), r(r_), nw(cpu::words_per_row(p_.in_w)), fm(p_.in_h, p_.in_w), ms(fm.ms),
        rows16(cpu::vector_rows<x_t>()), row16(rows16 ? p_.in_w : 0) {}

  // The tables of `box` and the horizontal morphology planes of frame s that the box's rows need.
  void begin(const float* box, const sil_t* s) {
    t.build(box, p);
    r0 = t.row_lo();
    r1 = t.row_hi(p.in_h);
    h0 = std::max<int64_t>(0, r0 - r);
    h1 = std::min<int64_t>(p.in_h, r1 + r + 1);
    cpu::horizontal_planes(s, p.in_h, p.in_w, r, bin, ms.m, ms.hd, ms.he, h0, h1);
  }
};

std::tuple<at::Tensor, at::Tensor> gait_edge_align_cpu(const at::Tensor& prob_in, const at::Tensor& sil_in,
                                                       const at::Tensor& ratio, int64_t kernel_size, int64_t out_h,
                                                       int64_t out_w, double eps, c10::string_view mode) {
  check_synthesis_args(prob_in, "prob", sil_in, kernel_size, kSynthesisThreshold);
  const AlignMode amode = parse_align_mode(mode);
  check_align_common(sil_in, "sil", ratio, out_h, out_w, eps);
  check_output_elements(prob_in.size(0), 1, out_h, out_w);
  check_cpu(sil_in, "sil");
  const auto prob = prob_in.contiguous();
  const auto sil = sil_in.contiguous();
  const auto ratios = ratio.reshape({-1}).to(at::kFloat).contiguous();
  const int64_t N = prob.size(0);
  auto boxes = at::empty({N, 4}, sil.options().dtype(at::kFloat));  // [N, 4] (x1, y1, x2, y2)
  auto out = cpu::empty_output({N, 1, out_h, out_w}, prob.options());  // [N, 1, H, W]
  if (N == 0) return {out, boxes};
  const AlignParams p = make_align_params(prob.size(2), prob.size(3), out_h, out_w, eps, amode);
  const int64_t r = kernel_size / 2, H = p.in_h, W = p.in_w;
  const float* rt = ratios.data_ptr<float>();
  float* bx = boxes.data_ptr<float>();
  std::vector<uint8_t> soft(N, 0);
  dispatch_edge_align<false>(prob, sil, [&]<typename x_t, typename sil_t>() {
    using opmath_t = at::opmath_type<x_t>;
    const x_t* P = prob.data_ptr<x_t>();
    const sil_t* S = sil.data_ptr<sil_t>();
    x_t* O = out.data_ptr<x_t>();
    // Frames frames[k] for k in [0, count) (every frame when `frames` is null); with `boxes_known` the boxes are
    // not computed again.
    const auto run = [&](const int64_t* frames, int64_t count, bool boxes_known) {
      at::parallel_for(0, count, 1, [&](int64_t begin, int64_t end) {
        EdgeFrame<x_t, sil_t> f(p, r);
        cpu::MorphScratch& ms = f.ms;
        cpu::ForwardAccumulator<opmath_t> fa;
        cpu::FrameBox fb(p);
        for (int64_t k = begin; k < end; ++k) {
          const int64_t n = frames ? frames[k] : k;
          const sil_t* s = S + n * H * W;
          // the box in the same pass: the frame's sil is read from memory once
          if (!boxes_known) soft[n] = !fb(s, rt[n], p, bx + 4 * n);
          f.begin(bx + 4 * n, s);
          const x_t* pr = P + n * H * W;
          fa.begin(f.t, p);
          const int c0 = fa.c0, c1 = fa.c0 + fa.ncols;
          for (int i = f.r0; i <= f.r1; ++i) {
            // one row of Ms = edge * prob + interior * sil, kept in L1 only. Ms is zero outside the dilated
            // silhouette (edge | interior), so only the columns [a, b) that span it are formed and accumulated:
            // a person is a fifth of the box's width. That is exact unless prob, or a floating sil, holds an
            // inf/NaN outside the span (0 * NaN is NaN in the composite); then the whole row is formed.
            cpu::edge_interior_bits(ms, H, W, r, i);
            const int64_t off = static_cast<int64_t>(i) * W;
            auto [a, b] = cpu::bit_span(ms.d, ms.e, f.nw, c0, c1);
            bool finite = cpu::all_finite(pr + off + c0, a - c0) && cpu::all_finite(pr + off + b, c1 - b);
            if constexpr (!std::is_same_v<sil_t, uint8_t> && !std::is_same_v<sil_t, bool>) {
              finite = finite && cpu::all_finite(s + off + c0, a - c0) && cpu::all_finite(s + off + b, c1 - b);
            }
            if (!finite) {
              a = c0;
              b = c1;
            }
            if (f.rows16) {  // the row's prob as float, indexed by column like pr + off, then the float path
              cpu::to_float_row(pr + off + a, f.row16.data() + a, b - a);
              cpu::synthesis_row(ms.d, ms.e, f.row16.data(), s + off, a, b, fa.row.data() + (a - c0));
            } else {
              cpu::synthesis_row(ms.d, ms.e, pr + off, s + off, a, b, fa.row.data() + (a - c0));
            }
            fa.add_row(f.t, p, i, fa.row.data(), a - c0, b - c0);
          }
          fa.finish(f.t, p, O + n * p.out_h * p.out_w);
        }
      });
    };
    run(nullptr, N, false);
    // soft frames whose box OpenGait's float32 reductions move (a tie at half the mass) are done again
    const std::vector<int64_t> redo = cpu::opengait_soft_boxes(sil_in, soft, rt, p, bx);
    if (!redo.empty()) run(redo.data(), static_cast<int64_t>(redo.size()), true);
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
  auto gp = cpu::empty_output({N, 1, H, W}, grad.options());  // [N, 1, H, W]
  if (gp.numel() == 0) return gp;
  if (grad.numel() == 0) return gp.zero_();
  const AlignParams p = make_align_params(H, W, grad.size(2), grad.size(3), 1.0, parse_align_mode(mode));
  const int64_t r = kernel_size / 2;
  const float* bx = boxes.data_ptr<float>();
  dispatch_edge_align<true>(grad, sil, [&]<typename x_t, typename sil_t>() {
    using opmath_t = at::opmath_type<x_t>;
    const x_t* G = grad.data_ptr<x_t>();
    const sil_t* S = sil.data_ptr<sil_t>();
    x_t* D = gp.data_ptr<x_t>();
    at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
      EdgeFrame<x_t, sil_t> f(p, r);
      cpu::MorphScratch& ms = f.ms;
      const int64_t nw = f.nw;
      cpu::BackwardScratch<opmath_t> sc;
      for (int64_t n = begin; n < end; ++n) {
        f.begin(bx + 4 * n, S + n * H * W);
        const x_t* g = G + n * p.out_h * p.out_w;
        const bool dense = !cpu::all_finite(g, p.out_h * p.out_w);
        // every row's edge lies inside the columns of the frame's horizontal dilation: U is needed there only
        std::fill(ms.m, ms.m + nw, uint64_t(0));
        for (int64_t yy = f.h0; yy < f.h1; ++yy) {
          for (int64_t i = 0; i < nw; ++i) ms.m[i] |= ms.hd[yy * nw + i];
        }
        const int c0 = f.t.col_lo(), c1 = std::max(c0, f.t.col_hi(p.in_w) + 1);
        const auto [ua, ub] = dense ? std::pair<int, int>{c0, c1} : cpu::bit_span(ms.m, ms.m, nw, c0, c1);
        sc.columns(f.t, p, g, ua - c0, ub - c0);
        x_t* dst = D + n * H * W;
        for (int y = 0; y < H; ++y) {
          x_t* __restrict__ row = dst + static_cast<int64_t>(y) * W;
          if (y < f.r0 || y > f.r1) {  // the box never samples this row: its gradient is zero
            cpu::zero_fill(row, W);
          } else {
            // grad_prob = edge * grad_Ms is zero outside the edge band: only the columns [a, b) spanning the
            // row's edge pixels are gathered (all of them when the upstream gradient holds inf/NaN, which
            // 0 * grad would turn into NaN in the composite)
            cpu::edge_interior_bits(ms, H, W, r, y);
            const auto [a, b] = dense ? std::pair<int, int>{c0, c1} : cpu::bit_span(ms.d, ms.d, nw, c0, c1);
            sc.gather_row(f.t, p, y, sc.acc.data(), a - c0, b - c0);
            cpu::zero_fill(row, a);
            if (f.rows16) {  // the float product, then one vector conversion of the row
              cpu::edge_product(ms.d, sc.acc.data() + (a - c0), a, b, f.row16.data());
              cpu::from_float_row(f.row16.data(), row + a, b - a);
            } else {
              cpu::edge_product(ms.d, sc.acc.data() + (a - c0), a, b, row + a);
            }
            cpu::zero_fill(row + b, W - b);
          }
        }
      }
    });
  });
  return gp;
}

}  // namespace

TORCH_LIBRARY_IMPL(gaitedge, CPU, m) {
  m.impl("gait_edge_align", &gait_edge_align_cpu);
  m.impl("_gait_edge_align_backward", &gait_edge_align_backward_cpu);
}

}  // namespace gaitedge
