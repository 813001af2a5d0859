// CUDA kernels of edge_masks, gait_synthesis and _gait_synthesis_backward: one fused kernel, three epilogues.
//
// A block owns `tile_rows` output rows of one frame. Its shared memory holds the silhouette rows of the tile plus
// an r-row halo as bit rows (bit j of word w = column 32w + j):
//   1. binarise: each thread packs 32 consecutive pixels of one row into a word (16-byte loads where aligned);
//   2. horizontal pass: dilation = OR, erosion = AND of the row shifted by -r..r (funnel shifts across words);
//      outside the image counts as 0 for dilation and 1 for erosion, which is the geodesic border;
//   3. vertical pass: OR/AND over the rows of the window clipped to the image -> edge = D ^ E, interior = E;
//   4. epilogue: stream prob (or grad) through with 16-byte loads/stores and write Ms (or grad * edge, or the masks).
// Nothing but the output is written to global memory, and prob/grad is read exactly once.
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../binarise.h"
#include "../checks.h"
#include "../dispatch.h"
#include "cuda_helpers.cuh"
#include "edge_bits.cuh"

namespace gaitedge {
namespace cuda {
namespace {

// kBits writes the packed edge/interior words themselves (for the fused GaitAlign kernels).
enum class Epilogue { kMasks, kSynthesis, kGrad, kBits };

constexpr int kMaxSharedBytes = 48 * 1024;

struct Geometry {
  int H, W, r, nw;          // frame size, element radius, 32-bit words per row
  int tile_rows, tiles;     // output rows per block, blocks per frame
  int rows_in_max;          // tile_rows + 2r: the largest halo'd tile
};

inline int shared_words(const Geometry& g) { return 3 * g.rows_in_max * g.nw + 2 * g.tile_rows * g.nw; }

Geometry make_geometry(int64_t H, int64_t W, int64_t r) {
  Geometry g;
  g.H = static_cast<int>(H);
  g.W = static_cast<int>(W);
  g.r = static_cast<int>(r);
  g.nw = static_cast<int>(ceil_div<int64_t>(W, 32));
  // About one word per thread in the packing passes, but never more rows than the frame has.
  int rows = std::max(4, std::min(64, kThreads / g.nw));
  g.tile_rows = std::min<int>(rows, g.H);
  for (;;) {
    g.rows_in_max = g.tile_rows + 2 * g.r;
    if (shared_words(g) * 4 <= kMaxSharedBytes || g.tile_rows == 1) break;
    g.tile_rows = std::max(1, g.tile_rows / 2);
  }
  TORCH_CHECK_VALUE(shared_words(g) * 4 <= kMaxSharedBytes, "frames of width ", W, " with kernel_size ",
                    2 * r + 1, " are too large for the CUDA kernel's shared-memory tile");
  g.tiles = static_cast<int>(ceil_div<int64_t>(H, g.tile_rows));
  return g;
}

// Word i of a bit row, with `fill` outside the row and the bits past the last column set to `pad`.
__device__ __forceinline__ uint32_t word_at(const uint32_t* row, int i, int nw, uint32_t fill, uint32_t last_pad) {
  if (i < 0 || i >= nw) return fill;
  const uint32_t v = row[i];
  return i == nw - 1 ? (v | last_pad) : v;
}

// 32 bits of a bit row starting at column `pos` (which may be negative or past the end).
__device__ __forceinline__ uint32_t bits_at(const uint32_t* row, int pos, int nw, uint32_t fill, uint32_t last_pad) {
  const int q = pos >> 5;  // floor division, also for negative pos
  const int b = pos & 31;
  const uint32_t lo = word_at(row, q, nw, fill, last_pad);
  if (b == 0) return lo;
  return __funnelshift_r(lo, word_at(row, q + 1, nw, fill, last_pad), b);
}

// Packs `count` (<= 32) pixels starting at p into a word, bit j = pixel j.
template <typename sil_t>
__device__ __forceinline__ uint32_t pack_word(const sil_t* p, int count, const Binariser<sil_t>& bin, bool vec) {
  uint32_t word = 0;
  if (vec && count == 32) {
    constexpr int V = 16 / sizeof(sil_t) < 32 ? 16 / sizeof(sil_t) : 32;
    using VecT = Vec<sil_t, V>;
#pragma unroll
    for (int c = 0; c < 32 / V; ++c) {
      const VecT v = reinterpret_cast<const VecT*>(p)[c];
#pragma unroll
      for (int j = 0; j < V; ++j) word |= static_cast<uint32_t>(bin(v.val[j])) << (c * V + j);
    }
  } else {
    for (int j = 0; j < count; ++j) word |= static_cast<uint32_t>(bin(p[j])) << j;
  }
  return word;
}

template <Epilogue E, typename x_t, typename sil_t, int V>
__device__ __forceinline__ void epilogue(const x_t* __restrict__ x, const sil_t* __restrict__ sil,
                                         x_t* __restrict__ out, bool* __restrict__ edge_out,
                                         bool* __restrict__ interior_out, int64_t base, int count, int W, int nw,
                                         const uint32_t* eb, const uint32_t* ib) {
  using opmath_t = at::opmath_type<x_t>;
  for (int i0 = threadIdx.x * V; i0 < count; i0 += blockDim.x * V) {
    const int row = i0 / W;
    const int col = i0 - row * W;
    // V divides 32 and W (or V == 1), so the V pixels share one word.
    const uint32_t e = eb[row * nw + (col >> 5)] >> (col & 31);
    const uint32_t in = ib[row * nw + (col >> 5)] >> (col & 31);
    const int64_t off = base + i0;
    if constexpr (E == Epilogue::kBits) {
      // not reached: the kernel returns before the epilogue
    } else if constexpr (E == Epilogue::kMasks) {
      Vec<bool, V> ev, iv;
#pragma unroll
      for (int j = 0; j < V; ++j) {
        ev.val[j] = (e >> j) & 1u;
        iv.val[j] = (in >> j) & 1u;
      }
      *reinterpret_cast<Vec<bool, V>*>(edge_out + off) = ev;
      *reinterpret_cast<Vec<bool, V>*>(interior_out + off) = iv;
    } else {
      const Vec<x_t, V> xv = *reinterpret_cast<const Vec<x_t, V>*>(x + off);
      Vec<x_t, V> ov;
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const opmath_t ef = static_cast<opmath_t>((e >> j) & 1u);
        if constexpr (E == Epilogue::kSynthesis) {
          // edge and interior are disjoint, so the sum is exact (no FMA rounding question).
          const opmath_t inf = static_cast<opmath_t>((in >> j) & 1u);
          ov.val[j] = static_cast<x_t>(ef * static_cast<opmath_t>(xv.val[j]) +
                                       inf * Binariser<sil_t>::template value<opmath_t>(sil[off + j]));
        } else {
          ov.val[j] = static_cast<x_t>(ef * static_cast<opmath_t>(xv.val[j]));
        }
      }
      *reinterpret_cast<Vec<x_t, V>*>(out + off) = ov;
    }
  }
}

template <Epilogue E, typename x_t, typename sil_t, int V>
__global__ void __launch_bounds__(kThreads)
    synthesis_kernel(const x_t* __restrict__ x, const sil_t* __restrict__ sil, x_t* __restrict__ out,
                     bool* __restrict__ edge_out, bool* __restrict__ interior_out, uint32_t* __restrict__ bits_out,
                     const Geometry g, const Binariser<sil_t> bin, const bool vec_sil) {
  extern __shared__ uint32_t smem[];
  const int nw = g.nw;
  uint32_t* m = smem;                         // [rows_in_max, nw] binarised input rows
  uint32_t* hd = m + g.rows_in_max * nw;      // [rows_in_max, nw] horizontal dilation
  uint32_t* he = hd + g.rows_in_max * nw;     // [rows_in_max, nw] horizontal erosion
  uint32_t* eb = he + g.rows_in_max * nw;     // [tile_rows, nw] edge
  uint32_t* ib = eb + g.tile_rows * nw;       // [tile_rows, nw] interior

  const int64_t n = blockIdx.x / g.tiles;
  const int y_begin = static_cast<int>(blockIdx.x % g.tiles) * g.tile_rows;
  const int y_end = min(g.H, y_begin + g.tile_rows);
  const int in_begin = max(0, y_begin - g.r);
  const int in_end = min(g.H, y_end + g.r);
  const int rows_in = in_end - in_begin;
  const sil_t* frame = sil + n * g.H * static_cast<int64_t>(g.W);

  for (int idx = threadIdx.x; idx < rows_in * nw; idx += blockDim.x) {
    const int row = idx / nw, w = idx - row * nw;
    const int count = min(32, g.W - 32 * w);
    m[idx] = pack_word(frame + static_cast<int64_t>(in_begin + row) * g.W + 32 * w, count, bin, vec_sil);
  }
  __syncthreads();

  const int tail = g.W & 31;
  const uint32_t pad = tail ? ~((1u << tail) - 1u) : 0u;  // bits past the last column
  for (int idx = threadIdx.x; idx < rows_in * nw; idx += blockDim.x) {
    const int row = idx / nw, w = idx - row * nw;
    const uint32_t* mr = m + row * nw;
    uint32_t d = 0u, e = ~0u;
    for (int s = -g.r; s <= g.r; ++s) {
      d |= bits_at(mr, 32 * w + s, nw, 0u, 0u);
      e &= bits_at(mr, 32 * w + s, nw, ~0u, pad);
    }
    hd[idx] = d;
    he[idx] = e;
  }
  __syncthreads();

  const int rows_out = y_end - y_begin;
  for (int idx = threadIdx.x; idx < rows_out * nw; idx += blockDim.x) {
    const int row = idx / nw, w = idx - row * nw;
    const int y = y_begin + row;
    const int lo = max(0, y - g.r) - in_begin, hi = min(g.H - 1, y + g.r) - in_begin;
    uint32_t d = 0u, e = ~0u;
    for (int yy = lo; yy <= hi; ++yy) {
      d |= hd[yy * nw + w];
      e &= he[yy * nw + w];
    }
    eb[idx] = d ^ e;
    ib[idx] = e;
    if constexpr (E == Epilogue::kBits) {
      const int64_t plane = static_cast<int64_t>(gridDim.x / g.tiles) * g.H * nw;  // N * H * nw words
      const int64_t word = (n * g.H + y) * nw + w;
      bits_out[word] = d ^ e;
      bits_out[plane + word] = e;
    }
  }
  if constexpr (E == Epilogue::kBits) return;
  __syncthreads();

  const int64_t base = (n * g.H + y_begin) * static_cast<int64_t>(g.W);
  epilogue<E, x_t, sil_t, V>(x, sil, out, edge_out, interior_out, base, rows_out * g.W, g.W, nw, eb, ib);
}

template <Epilogue E, typename x_t, typename sil_t>
void launch(const x_t* x, const sil_t* sil, x_t* out, bool* edge_out, bool* interior_out, int64_t N,
            const Geometry& g, double threshold, cudaStream_t stream, uint32_t* bits_out = nullptr) {
  const int64_t blocks = N * g.tiles;
  TORCH_CHECK_VALUE(blocks < (int64_t(1) << 31), "too many frames for one launch: ", N);
  const size_t smem = static_cast<size_t>(shared_words(g)) * 4;
  const bool vec_sil = is_aligned(sil, 16) && (static_cast<int64_t>(g.W) * sizeof(sil_t)) % 16 == 0;
  constexpr int VX = E == Epilogue::kMasks ? 16 : 16 / int(sizeof(x_t));
  bool vec_out = g.W % VX == 0;
  if constexpr (E == Epilogue::kBits) {
    vec_out = false;
  } else if constexpr (E == Epilogue::kMasks) {
    vec_out = vec_out && is_aligned(edge_out, 16) && is_aligned(interior_out, 16);
  } else {
    vec_out = vec_out && is_aligned(x, 16) && is_aligned(out, 16);
  }
  const Binariser<sil_t> bin(threshold);
  if (vec_out && E != Epilogue::kBits) {
    synthesis_kernel<E, x_t, sil_t, VX><<<blocks, kThreads, smem, stream>>>(x, sil, out, edge_out, interior_out,
                                                                            bits_out, g, bin, vec_sil);
  } else {
    synthesis_kernel<E, x_t, sil_t, 1><<<blocks, kThreads, smem, stream>>>(x, sil, out, edge_out, interior_out,
                                                                           bits_out, g, bin, vec_sil);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

std::tuple<at::Tensor, at::Tensor> edge_masks_cuda(const at::Tensor& sil_in, int64_t kernel_size, double threshold) {
  check_edge_mask_args(sil_in, kernel_size, threshold);
  c10::cuda::CUDAGuard guard(sil_in.device());
  const auto sil = sil_in.contiguous();
  auto edge = at::empty(sil.sizes(), sil.options().dtype(at::kBool));  // [N, 1, H, W]
  auto interior = at::empty(sil.sizes(), sil.options().dtype(at::kBool));
  if (sil.numel() == 0) return {edge, interior};
  const Geometry g = make_geometry(sil.size(2), sil.size(3), kernel_size / 2);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  GAITEDGE_DISPATCH_MASK_TYPES(sil.scalar_type(), "edge_masks_cuda", [&] {
    launch<Epilogue::kMasks, float, scalar_t>(nullptr, sil.data_ptr<scalar_t>(), nullptr, edge.data_ptr<bool>(),
                                              interior.data_ptr<bool>(), sil.size(0), g, threshold, stream);
  });
  return {edge, interior};
}

template <Epilogue E>
at::Tensor synthesis_like_cuda(const at::Tensor& x_in, const char* x_name, const at::Tensor& sil_in,
                               int64_t kernel_size, double threshold) {
  check_synthesis_args(x_in, x_name, sil_in, kernel_size, threshold);
  c10::cuda::CUDAGuard guard(x_in.device());
  const auto x = x_in.contiguous();
  const auto sil = sil_in.contiguous();
  auto out = at::empty_like(x, at::MemoryFormat::Contiguous);  // [N, 1, H, W]
  if (x.numel() == 0) return out;
  const Geometry g = make_geometry(x.size(2), x.size(3), kernel_size / 2);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  GAITEDGE_DISPATCH_FLOAT_TYPES(x.scalar_type(), "gait_synthesis_cuda", [&] {
    using x_t = scalar_t;
    GAITEDGE_DISPATCH_MASK_TYPES(sil.scalar_type(), "gait_synthesis_cuda_sil", [&] {
      launch<E, x_t, scalar_t>(x.data_ptr<x_t>(), sil.data_ptr<scalar_t>(), out.data_ptr<x_t>(), nullptr, nullptr,
                               x.size(0), g, threshold, stream);
    });
  });
  return out;
}

at::Tensor gait_synthesis_cuda(const at::Tensor& prob, const at::Tensor& sil, int64_t kernel_size, double threshold) {
  return synthesis_like_cuda<Epilogue::kSynthesis>(prob, "prob", sil, kernel_size, threshold);
}

at::Tensor gait_synthesis_backward_cuda(const at::Tensor& grad, const at::Tensor& sil, int64_t kernel_size,
                                        double threshold) {
  return synthesis_like_cuda<Epilogue::kGrad>(grad, "grad", sil, kernel_size, threshold);
}

}  // namespace

at::Tensor edge_interior_bits(const at::Tensor& sil_in, int64_t kernel_size, double threshold, cudaStream_t stream) {
  const auto sil = sil_in.contiguous();
  const int64_t N = sil.size(0), H = sil.size(2), W = sil.size(3);
  auto bits = at::empty({2, N, H, ceil_div<int64_t>(W, 32)}, sil.options().dtype(at::kInt));
  if (sil.numel() == 0) return bits;
  const Geometry g = make_geometry(H, W, kernel_size / 2);
  GAITEDGE_DISPATCH_MASK_TYPES(sil.scalar_type(), "edge_interior_bits_cuda", [&] {
    launch<Epilogue::kBits, float, scalar_t>(nullptr, sil.data_ptr<scalar_t>(), nullptr, nullptr, nullptr, N, g,
                                             threshold, stream, reinterpret_cast<uint32_t*>(bits.data_ptr<int32_t>()));
  });
  return bits;
}

}  // namespace cuda

TORCH_LIBRARY_IMPL(gaitedge, CUDA, m) {
  m.impl("edge_masks", &cuda::edge_masks_cuda);
  m.impl("gait_synthesis", &cuda::gait_synthesis_cuda);
  m.impl("_gait_synthesis_backward", &cuda::gait_synthesis_backward_cuda);
}

}  // namespace gaitedge
