// OpenGait's box statistics of a floating mask, reduced the way OpenGait reduces them (host code, both devices).
//
// OpenGait's GaitAlign finds the person's rows and median column from PyTorch float32 sums and a float32 cumulative
// sum of the raw mask (float64 for a float64 mask; under autocast a 16-bit mask is summed in float32). On a soft
// mask those roundings decide ties: on a constant 0.4 mask the float32 cumulative sum puts the median at column 64
// where exact sums give 63. The same ATen reductions on the same device reproduce OpenGait's numbers exactly, so
// a soft floating mask in OpenGait mode takes its (h_top, h_bot, w_center) from here, and the kernels turn them into
// the box (align_geometry.h, opengait_box). bool/uint8 masks and 0/1 floating frames need none of this: their sums
// are exact in any order (the CPU kernels check each floating frame and call this only for a batch with a soft one;
// the CUDA path calls it for every floating mask).
#pragma once

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/any.h>
#include <ATen/ops/argmax.h>
#include <ATen/ops/cumsum.h>
#include <ATen/ops/flip.h>
#include <ATen/ops/full_like.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/where.h>

#include "align_geometry.h"

namespace gaitedge {

// Whether a mask's box statistics come from opengait_frame_stats.
inline bool uses_opengait_float_stats(const at::Tensor& mask, AlignMode mode) {
  return mode == AlignMode::kOpenGait && at::isFloatingType(mask.scalar_type());
}

// [N, 3] int32 (h_top, h_bot, w_center) of mask [N, 1, h, w] (contiguous, floating, N >= 1), on mask's device:
//   h_top    the first row whose sum is >= eps (h when there is none),
//   h_bot    the last such row + 1 (1 when there is none),
//   w_center the number of columns whose cumulative column mass is below half the total.
inline at::Tensor opengait_frame_stats(const at::Tensor& mask, double eps) {
  const auto m = mask.scalar_type() == at::kDouble ? mask : mask.to(at::kFloat);
  const int64_t h = m.size(2);
  const auto rows = at::sum(m, {-1}).squeeze(1).ge(eps);  // [N, h]; eps compared in m's dtype, as OpenGait's >=
  const auto any = at::any(rows, -1);                       // [N]
  const auto rows8 = rows.to(at::kByte);
  const auto first = at::argmax(rows8, -1);                         // the first true row (argmax returns the first)
  const auto last = (h - 1) - at::argmax(at::flip(rows8, {-1}), -1);  // the last true row
  const auto h_top = at::where(any, first, at::full_like(first, h));
  const auto h_bot = at::where(any, last + 1, at::full_like(last, 1));
  const auto col = at::sum(m, {-2});                                       // [N, 1, w]
  const auto below = at::cumsum(col, -1).lt(at::sum(col, {-1}, true) / 2.0);  // [N, 1, w]
  const auto w_center = at::sum(below, {-1}).squeeze(1);                   // [N]
  return at::stack({h_top, h_bot, w_center}, 1).to(at::kInt).contiguous();  // [N, 3]
}

}  // namespace gaitedge
