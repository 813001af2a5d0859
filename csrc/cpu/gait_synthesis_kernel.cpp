// CPU kernels of edge_masks, gait_synthesis and _gait_synthesis_backward.
//
// One task per frame (at::parallel_for over N): the frame's horizontal morphology planes (morphology.h), then per
// output row the vertical pass and the epilogue, which writes the masks or streams prob/grad into the output.
// The per-frame scratch (2 * H * W bits) stays in L1 while the frame's prob and sil are read once from memory.
#include <ATen/Parallel.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <cstring>
#include <vector>

#include "../binarise.h"
#include "../checks.h"
#include "../dispatch.h"
#include "half_rows.h"
#include "large_output.h"
#include "morphology.h"

namespace gaitedge {
namespace {

enum class Epilogue { kMasks, kSynthesis, kGrad };

template <Epilogue E, typename x_t, typename sil_t>
void frames_kernel(const x_t* x, const sil_t* sil, x_t* out, bool* edge_out, bool* interior_out, int64_t N,
                   int64_t H, int64_t W, int64_t r, const Binariser<sil_t> bin) {
  using opmath_t = at::opmath_type<x_t>;
  const int64_t HW = H * W;
  at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
    // bit planes of the horizontal pass and one byte row each of edge and interior
    cpu::FrameMorphology fm(H, W);
    cpu::MorphScratch& ms = fm.ms;
    const uint8_t* __restrict__ edge = ms.edge;
    const uint8_t* __restrict__ inter = ms.interior;
    // fp16/bf16 rows go through float with vector conversions (half_rows.h); false for the other dtypes
    const bool rows16 = cpu::vector_rows<x_t>();
    std::vector<float> fin(rows16 ? W : 0), fout(rows16 ? W : 0);  // [W] each: one row in, one row out
    for (int64_t n = begin; n < end; ++n) {
      const sil_t* s = sil + n * HW;
      cpu::horizontal_planes(s, H, W, r, bin, ms.m, ms.hd, ms.he);
      for (int64_t y = 0; y < H; ++y) {
        cpu::edge_interior_row(ms, H, W, r, y);
        const int64_t off = n * HW + y * W;
        if constexpr (E == Epilogue::kMasks) {
          bool* __restrict__ eo = edge_out + off;
          bool* __restrict__ io = interior_out + off;
          for (int64_t i = 0; i < W; ++i) {
            eo[i] = edge[i] != 0;
            io[i] = inter[i] != 0;
          }
        } else if constexpr (E == Epilogue::kSynthesis) {
          // Ms = edge * prob + interior * sil; edge and interior are disjoint, so the sum is exact.
          const x_t* __restrict__ p = x + off;
          const sil_t* __restrict__ sv = s + y * W;
          x_t* __restrict__ o = out + off;
          if (rows16) {
            cpu::to_float_row(p, fin.data(), W);
            for (int64_t i = 0; i < W; ++i) {
              fout[i] = static_cast<float>(edge[i]) * fin[i] +
                        static_cast<float>(inter[i]) * Binariser<sil_t>::template value<float>(sv[i]);
            }
            cpu::from_float_row(fout.data(), o, W);
            continue;
          }
          for (int64_t i = 0; i < W; ++i) {
            o[i] = static_cast<x_t>(static_cast<opmath_t>(edge[i]) * static_cast<opmath_t>(p[i]) +
                                    static_cast<opmath_t>(inter[i]) * Binariser<sil_t>::template value<opmath_t>(sv[i]));
          }
        } else {
          const x_t* __restrict__ g = x + off;
          x_t* __restrict__ o = out + off;
          if (rows16) {
            cpu::to_float_row(g, fin.data(), W);
            for (int64_t i = 0; i < W; ++i) fout[i] = static_cast<float>(edge[i]) * fin[i];
            cpu::from_float_row(fout.data(), o, W);
            continue;
          }
          for (int64_t i = 0; i < W; ++i) {
            o[i] = static_cast<x_t>(static_cast<opmath_t>(edge[i]) * static_cast<opmath_t>(g[i]));
          }
        }
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor> edge_masks_cpu(const at::Tensor& sil_in, int64_t kernel_size, double threshold) {
  check_edge_mask_args(sil_in, kernel_size, threshold);
  check_cpu(sil_in, "sil");
  const auto sil = sil_in.contiguous();
  auto edge = at::empty(sil.sizes(), sil.options().dtype(at::kBool));  // [N, 1, H, W]
  auto interior = at::empty(sil.sizes(), sil.options().dtype(at::kBool));
  if (sil.numel() == 0) return {edge, interior};
  const int64_t N = sil.size(0), H = sil.size(2), W = sil.size(3);
  GAITEDGE_DISPATCH_MASK_TYPES(sil.scalar_type(), "edge_masks_cpu", [&] {
    frames_kernel<Epilogue::kMasks, float, scalar_t>(nullptr, sil.data_ptr<scalar_t>(), nullptr,
                                                      edge.data_ptr<bool>(), interior.data_ptr<bool>(), N, H, W,
                                                      kernel_size / 2, Binariser<scalar_t>(threshold));
  });
  return {edge, interior};
}

template <Epilogue E>
at::Tensor synthesis_like_cpu(const at::Tensor& x_in, const char* x_name, const at::Tensor& sil_in,
                              int64_t kernel_size, double threshold) {
  check_synthesis_args(x_in, x_name, sil_in, kernel_size, threshold);
  check_cpu(x_in, x_name);
  const auto x = x_in.contiguous();
  const auto sil = sil_in.contiguous();
  auto out = cpu::empty_output(x.sizes(), x.options());  // [N, 1, H, W], contiguous
  if (x.numel() == 0) return out;
  const int64_t N = x.size(0), H = x.size(2), W = x.size(3);
  GAITEDGE_DISPATCH_FLOAT_TYPES(x.scalar_type(), "gait_synthesis_cpu", [&] {
    using x_t = scalar_t;
    GAITEDGE_DISPATCH_MASK_TYPES(sil.scalar_type(), "gait_synthesis_cpu_sil", [&] {
      frames_kernel<E, x_t, scalar_t>(x.data_ptr<x_t>(), sil.data_ptr<scalar_t>(), out.data_ptr<x_t>(), nullptr,
                                      nullptr, N, H, W, kernel_size / 2, Binariser<scalar_t>(threshold));
    });
  });
  return out;
}

at::Tensor gait_synthesis_cpu(const at::Tensor& prob, const at::Tensor& sil, int64_t kernel_size, double threshold) {
  return synthesis_like_cpu<Epilogue::kSynthesis>(prob, "prob", sil, kernel_size, threshold);
}

at::Tensor gait_synthesis_backward_cpu(const at::Tensor& grad, const at::Tensor& sil, int64_t kernel_size,
                                       double threshold) {
  return synthesis_like_cpu<Epilogue::kGrad>(grad, "grad", sil, kernel_size, threshold);
}

}  // namespace

TORCH_LIBRARY_IMPL(gaitedge, CPU, m) {
  m.impl("edge_masks", &edge_masks_cpu);
  m.impl("gait_synthesis", &gait_synthesis_cpu);
  m.impl("_gait_synthesis_backward", &gait_synthesis_backward_cpu);
}

}  // namespace gaitedge
