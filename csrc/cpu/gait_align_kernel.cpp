// CPU kernels of align_boxes, gait_align and its backward.
//
// One task per frame (at::parallel_for over N). Per frame: row/column sums of the mask -> box (mask_sums.h)
// -> the two banded 1-D weight tables, then per channel the separable resampling (row_resample.h).
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <cstdint>
#include <tuple>
#include <vector>

#include "../align_geometry.h"
#include "../checks.h"
#include "../dispatch.h"
#include "large_output.h"
#include "mask_sums.h"
#include "row_resample.h"

namespace gaitedge {
namespace {

// ---- align_boxes -----------------------------------------------------------------------------------------------------

at::Tensor align_boxes_cpu(const at::Tensor& mask_in, const at::Tensor& ratio_in, int64_t out_h, int64_t out_w,
                           double eps, c10::string_view mode_str) {
  const AlignMode mode = parse_align_mode(mode_str);
  check_align_common(mask_in, "mask", ratio_in, out_h, out_w, eps);
  check_cpu(mask_in, "mask");
  const auto mask = mask_in.contiguous();
  const auto ratio = ratio_in.reshape({-1}).to(at::kFloat).contiguous();
  const int64_t N = mask.size(0);
  auto boxes = at::empty({N, 4}, mask.options().dtype(at::kFloat));  // [N, 4] (x1, y1, x2, y2)
  if (N == 0) return boxes;
  const AlignParams p = make_align_params(mask.size(2), mask.size(3), out_h, out_w, eps, mode);
  const float* r = ratio.data_ptr<float>();
  float* bx = boxes.data_ptr<float>();
  std::vector<uint8_t> soft(N, 0);
  GAITEDGE_DISPATCH_MASK_TYPES(mask.scalar_type(), "align_boxes_cpu", [&] {
    const scalar_t* m = mask.data_ptr<scalar_t>();
    at::parallel_for(0, N, 16, [&](int64_t begin, int64_t end) {
      cpu::FrameBox fb(p);
      for (int64_t n = begin; n < end; ++n) soft[n] = !fb(m + n * p.in_h * p.in_w, r[n], p, bx + 4 * n);
    });
  });
  cpu::opengait_soft_boxes(mask_in, soft, r, p, bx);  // OpenGait reduces the mask as it was passed
  return boxes;
}

// ---- gait_align ------------------------------------------------------------------------------------------------------

std::tuple<at::Tensor, at::Tensor> gait_align_cpu(const at::Tensor& x_in, const at::Tensor& mask_in,
                                                  const at::Tensor& ratio, int64_t out_h, int64_t out_w, double eps,
                                                  c10::string_view mode) {
  check_align_input(x_in, "x", mask_in, "mask");
  auto boxes = align_boxes_cpu(mask_in, ratio, out_h, out_w, eps, mode);
  check_output_elements(x_in.size(0), x_in.size(1), out_h, out_w);
  const auto x = x_in.contiguous();
  const int64_t N = x.size(0), C = x.size(1);
  auto out = cpu::empty_output({N, C, out_h, out_w}, x.options());  // [N, C, H, W]
  if (out.numel() == 0) return {out, boxes};
  const AlignParams p = make_align_params(x.size(2), x.size(3), out_h, out_w, eps, parse_align_mode(mode));
  const float* bx = boxes.data_ptr<float>();
  GAITEDGE_DISPATCH_FLOAT_TYPES(x.scalar_type(), "gait_align_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const scalar_t* X = x.data_ptr<scalar_t>();
    scalar_t* O = out.data_ptr<scalar_t>();
    at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
      cpu::Tables t;
      cpu::ForwardAccumulator<opmath_t> fa;
      for (int64_t n = begin; n < end; ++n) {
        t.build(bx + 4 * n, p);
        const int r0 = t.row_lo(), r1 = t.row_hi(p.in_h);
        for (int64_t c = 0; c < C; ++c) {
          const scalar_t* Xc = X + (n * C + c) * p.in_h * p.in_w;
          fa.begin(t, p);
          for (int i = r0; i <= r1; ++i) {
            const scalar_t* __restrict__ src = Xc + static_cast<int64_t>(i) * p.in_w + fa.c0;
            fa.add_row(t, p, i, cpu::opmath_row(src, fa.ncols, fa.row.data()), 0, fa.ncols);
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
  auto gx = cpu::empty_output({N, C, in_h, in_w}, grad.options());  // [N, C, h, w]
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
      cpu::Tables t;
      cpu::BackwardScratch<opmath_t> sc;
      for (int64_t n = begin; n < end; ++n) {
        t.build(bx + 4 * n, p);
        const int r0 = t.row_lo(), r1 = t.row_hi(p.in_h);
        for (int64_t c = 0; c < C; ++c) {
          sc.columns(t, p, G + (n * C + c) * p.out_h * p.out_w);
          scalar_t* dst = D + (n * C + c) * HW;
          const int c0 = sc.c0, c1 = sc.c0 + sc.ncols;
          for (int y = 0; y < p.in_h; ++y) {
            scalar_t* __restrict__ drow = dst + static_cast<int64_t>(y) * p.in_w;
            if (y < r0 || y > r1) {
              cpu::zero_fill(drow, p.in_w);
              continue;
            }
            cpu::zero_fill(drow, c0);
            sc.gather_row(t, p, y, cpu::accumulation_row(drow + c0, sc.acc.data()), 0, sc.ncols);
            cpu::flush_row(sc.acc.data(), sc.ncols, drow + c0);
            cpu::zero_fill(drow + c1, p.in_w - c1);
          }
        }
      }
    });
  });
  return gx;
}

}  // namespace

TORCH_LIBRARY_IMPL(gaitedge, CPU, m) {
  m.impl("align_boxes", &align_boxes_cpu);
  m.impl("gait_align", &gait_align_cpu);
  m.impl("_gait_align_backward", &gait_align_backward_cpu);
}

}  // namespace gaitedge
