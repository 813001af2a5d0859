// CPU kernels of edge_masks, gait_synthesis and _gait_synthesis_backward.
//
// One task per frame (at::parallel_for over N). Per frame, in one sweep over the rows:
//   1. binarise a row of sil into bytes (0/1) and run the horizontal pass of the flat k x k element:
//      hd = OR, he = AND over the clipped window [x - r, x + r] (clipping is the geodesic border);
//   2. for each output row, the vertical pass OR/ANDs the clipped window of hd/he rows into D/E, and the
//      epilogue writes the masks (edge = D ^ E, interior = E) or streams prob/grad into the output.
// All loops are over contiguous bytes or floats without branches, so the compiler vectorises them; the per-frame
// scratch (2 * H * W bytes) stays in L2 while the frame's prob and sil are read once from memory.
#include <ATen/Parallel.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <cstring>
#include <vector>

#include "../binarise.h"
#include "../checks.h"
#include "../dispatch.h"

namespace gaitedge {
namespace {

enum class Epilogue { kMasks, kSynthesis, kGrad };

// Horizontal pass of one binarised row: OR (dilation) and AND (erosion) over the window clipped to the row.
inline void horizontal_pass(const uint8_t* m, int64_t W, int64_t r, uint8_t* hd, uint8_t* he) {
  std::memcpy(hd, m, W);
  std::memcpy(he, m, W);
  for (int64_t s = 1; s <= r && s < W; ++s) {
    for (int64_t x = 0; x < W - s; ++x) {  // right neighbour x + s
      hd[x] |= m[x + s];
      he[x] &= m[x + s];
    }
    for (int64_t x = s; x < W; ++x) {  // left neighbour x - s
      hd[x] |= m[x - s];
      he[x] &= m[x - s];
    }
  }
}

template <Epilogue E, typename x_t, typename sil_t>
void frames_kernel(const x_t* x, const sil_t* sil, x_t* out, bool* edge_out, bool* interior_out, int64_t N,
                   int64_t H, int64_t W, int64_t r, const Binariser<sil_t> bin) {
  using opmath_t = at::opmath_type<x_t>;
  const int64_t HW = H * W;
  at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
    // [H, W] horizontal dilation / erosion, then one row each of binarised input, D and E.
    std::vector<uint8_t> scratch(2 * HW + 3 * W);
    uint8_t* hd = scratch.data();
    uint8_t* he = hd + HW;
    uint8_t* m = he + HW;
    uint8_t* d = m + W;
    uint8_t* e = d + W;
    for (int64_t n = begin; n < end; ++n) {
      const sil_t* s = sil + n * HW;
      for (int64_t y = 0; y < H; ++y) {
        const sil_t* srow = s + y * W;
        for (int64_t i = 0; i < W; ++i) m[i] = bin(srow[i]);
        horizontal_pass(m, W, r, hd + y * W, he + y * W);
      }
      for (int64_t y = 0; y < H; ++y) {
        const int64_t y0 = y - r < 0 ? 0 : y - r;
        const int64_t y1 = y + r > H - 1 ? H - 1 : y + r;
        std::memcpy(d, hd + y0 * W, W);
        std::memcpy(e, he + y0 * W, W);
        for (int64_t yy = y0 + 1; yy <= y1; ++yy) {
          const uint8_t* hdr = hd + yy * W;
          const uint8_t* her = he + yy * W;
          for (int64_t i = 0; i < W; ++i) {
            d[i] |= hdr[i];
            e[i] &= her[i];
          }
        }
        const int64_t off = n * HW + y * W;
        if constexpr (E == Epilogue::kMasks) {
          bool* eo = edge_out + off;
          bool* io = interior_out + off;
          for (int64_t i = 0; i < W; ++i) {
            eo[i] = (d[i] ^ e[i]) != 0;
            io[i] = e[i] != 0;
          }
        } else if constexpr (E == Epilogue::kSynthesis) {
          // Ms = edge * prob + interior * sil; edge and interior are disjoint, so the sum is exact.
          const x_t* p = x + off;
          const sil_t* sv = s + y * W;
          x_t* o = out + off;
          for (int64_t i = 0; i < W; ++i) {
            o[i] = static_cast<x_t>(static_cast<opmath_t>(d[i] ^ e[i]) * static_cast<opmath_t>(p[i]) +
                                    static_cast<opmath_t>(e[i]) * Binariser<sil_t>::template value<opmath_t>(sv[i]));
          }
        } else {
          const x_t* g = x + off;
          x_t* o = out + off;
          for (int64_t i = 0; i < W; ++i) {
            o[i] = static_cast<x_t>(static_cast<opmath_t>(d[i] ^ e[i]) * static_cast<opmath_t>(g[i]));
          }
        }
      }
    }
  });
}

void check_cpu(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.device().is_cpu(), name, " must be a CPU tensor here, got ", t.device());
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
  auto out = at::empty_like(x, at::MemoryFormat::Contiguous);  // [N, 1, H, W]
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
