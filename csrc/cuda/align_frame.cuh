// The per-frame programs of the CUDA GaitAlign kernels (gait_align_kernel.cu): one thread block owns one plane
// (frame n, channel c) and keeps that frame's separable RoIAlign tables in shared memory.
//
// Each program is a sequence of phases. A phase is a function of (thread index, thread count) that touches shared
// memory only through the plane's Layout; the kernels call the phases in order with a barrier between them, and
// tests/ops/cuda_host/ runs the very same phases on the host, one thread index after another, against the
// reference. So this header is plain C++ when compiled without nvcc: no CUDA built-ins in here.
//
//   forward   tables: Ay / Ax bands of the frame's box (align_geometry.h), one output index per thread;
//             then per chunk of output rows:
//               rows     T[r, pw] = sum_b Ax[pw, b] * X[r, sx[pw] + b] for the input rows the chunk samples
//                        (X = the feature map, or Ms = edge * prob + interior * sil for the fused op, formed per tap
//                        and never stored);
//               outputs  out[ph, pw] = sum_a Ay[ph, a] * T[sy[ph] + a, pw].
//   backward  tables and the output gradient G [out_h, out_w] into shared memory (and whether G is all finite);
//             spans: for every input row / column, the output rows / columns whose bands cover it;
//             pixels: grad_X[i, j] = sum_ph Ay[ph, i - sy] * sum_pw Ax[pw, j - sx] * G[ph, pw], a gather (no
//             atomics, every pixel written once, bitwise reproducible), 16-byte stores. The fused op's gradient
//             reaches prob only through the edge band: with G finite, non-edge pixels are zero without any work;
//             otherwise every pixel is gathered and multiplied by its edge bit, so 0 * inf/NaN propagates as in
//             the composite.
// Zero weights are skipped along both axes, as in the CPU kernel, so both devices propagate inf/NaN alike.
#pragma once

#include <ATen/OpMathType.h>
#include <c10/macros/Macros.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../align_geometry.h"
#include "../binarise.h"
#include "cuda_helpers.cuh"

namespace gaitedge {
namespace frame {

C10_HOST_DEVICE inline int imin(int a, int b) { return a < b ? a : b; }
C10_HOST_DEVICE inline int imax(int a, int b) { return a > b ? a : b; }
C10_HOST_DEVICE inline size_t align16(size_t bytes) { return (bytes + 15) & ~static_cast<size_t>(15); }

// Bit `col` of a bit row (bit j of word w = column 32 w + j), the layout of the edge/interior bits.
C10_HOST_DEVICE inline bool bit_at(const uint32_t* row, int col) { return (row[col >> 5] >> (col & 31)) & 1u; }

// Launch-wide parameters.
struct Args {
  AlignParams p;
  int By, Bx;   // table strides: bounds on every frame's vertical / horizontal band
  int t_rows;   // forward: rows of the T buffer (>= By)
  int64_t C;    // channels per frame (1 for the fused op)
};

// Band bounds (align_geometry.h: B = min(grid + 2, n_in)) that hold for every frame of a launch, so that one
// shared-memory layout serves them all. Vertically and in OpenGait mode they follow from the frame size alone
// (boxes lie inside the frame / OpenGait's padded frame): no host sync. An exact-mode window grows as 1 / ratio, so
// its bound comes from the smallest ratio (forward) or the widest saved box (backward), which the caller reads.
inline int band_bound_y(const AlignParams& p) {
  return imin(static_cast<int>(cuda::ceil_div<int64_t>(imax(p.in_h, 1), p.out_h)) + 2, p.in_h);
}

inline int band_bound_x_opengait(const AlignParams& p) {
  return imin(static_cast<int>(cuda::ceil_div<int64_t>(p.in_w + 2 * p.pad, p.out_w)) + 2, p.in_w);
}

// The launch's bounds; exact_grid bounds exact mode's horizontal samples per output index (the data-dependent part,
// from the caller), unused in OpenGait mode.
inline Args bounded_args(const AlignParams& p, int64_t C, double exact_grid) {
  Args a;
  a.p = p;
  a.C = C;
  a.By = band_bound_y(p);
  // compared in double: a tiny ratio makes exact_grid larger than any int, and the band never exceeds the frame
  a.Bx = p.mode == AlignMode::kOpenGait ? band_bound_x_opengait(p)
                                        : (exact_grid + 2 < p.in_w ? static_cast<int>(exact_grid) + 2 : p.in_w);
  a.t_rows = 0;
  return a;
}

// Forward: rmin = the smallest ratio (exact mode only); T gets up to row_buffer_bytes.
inline Args forward_args(const AlignParams& p, int64_t C, double rmin, size_t opmath_bytes,
                         size_t row_buffer_bytes) {
  Args a = bounded_args(p, C, std::ceil(static_cast<double>(p.in_w) / (p.out_h * rmin)) + 1);
  const int64_t fit = static_cast<int64_t>(row_buffer_bytes / (opmath_bytes * p.out_w));
  a.t_rows = imax(a.By, static_cast<int>(fit < p.in_h ? fit : p.in_h));
  return a;
}

// Backward: widest = the widest saved box (exact mode only).
inline Args backward_args(const AlignParams& p, int64_t C, float widest) {
  return bounded_args(p, C, std::ceil((widest > 1.0f ? static_cast<double>(widest) : 1.0) / p.out_w) + 1);
}

// Pixels per thread and store in the backward: 16 bytes when the rows allow it (V divides 32, so the V pixels share
// one edge word), else 1.
inline int backward_width(int in_w, size_t elem_bytes, bool aligned16) {
  const int v = static_cast<int>(16 / elem_bytes);
  return aligned16 && in_w % v == 0 ? v : 1;
}

// Output indices o whose band [s[o], s[o] + B) covers input index i, for non-decreasing starts s: [lo, hi]
// (empty when hi < lo).
struct Span {
  int lo, hi;
};

C10_HOST_DEVICE inline Span covering(const int* s, int n_out, int B, int i) {
  Span sp;
  sp.lo = first_true(0, n_out, [&](int o) { return s[o] > i - B; });
  sp.hi = first_true(sp.lo, n_out, [&](int o) { return s[o] > i; }) - 1;
  return sp;
}

// Byte offsets of one block's shared memory, each 16-byte aligned. `big` is the forward's T [t_rows, out_w] or the
// backward's G [out_h, out_w] (opmath); `spans` (backward only) holds a Span per input row, then per input column.
struct Layout {
  size_t wy, wx, sy, sx, big, spans, total;
};

template <typename opmath_t>
C10_HOST_DEVICE inline Layout make_layout(const Args& a, bool backward) {
  const AlignParams& p = a.p;
  Layout l;
  l.wy = 0;
  l.wx = align16(l.wy + sizeof(float) * p.out_h * a.By);
  l.sy = align16(l.wx + sizeof(float) * p.out_w * a.Bx);
  l.sx = align16(l.sy + sizeof(int) * p.out_h);
  l.big = align16(l.sx + sizeof(int) * p.out_w);
  const size_t big_rows = backward ? p.out_h : a.t_rows;
  l.spans = align16(l.big + sizeof(opmath_t) * big_rows * p.out_w);
  l.total = backward ? align16(l.spans + sizeof(Span) * (p.in_h + p.in_w)) : l.spans;
  return l;
}

// One frame's banded tables in shared memory: out[ph, pw] = sum_a sum_b wy[ph, a] wx[pw, b] X[sy + a, sx + b].
struct Tables {
  int* sy;   // [out_h] band starts, non-decreasing
  int* sx;   // [out_w]
  float* wy;  // [out_h, By], zero past the frame's band
  float* wx;  // [out_w, Bx]
  int By, Bx;
  AxisGrid gy, gx;  // this frame's sampling grids (gy.band <= By, gx.band <= Bx)

  C10_HOST_DEVICE Tables(unsigned char* smem, const Layout& l, const Args& a, const float* box) {
    sy = reinterpret_cast<int*>(smem + l.sy);
    sx = reinterpret_cast<int*>(smem + l.sx);
    wy = reinterpret_cast<float*>(smem + l.wy);
    wx = reinterpret_cast<float*>(smem + l.wx);
    By = a.By;
    Bx = a.Bx;
    const AlignParams& p = a.p;
    // every thread derives the same grids from the same box with the same arithmetic
    gy = axis_grid(box[1], box[3], p.in_h, p.out_h, 0, p.mode);
    gx = axis_grid(box[0], box[2], p.in_w, p.out_w, p.pad, p.mode);
    gy.band = imin(gy.band, By);
    gx.band = imin(gx.band, Bx);
  }

  // Phase: the bands, one output index per thread (y indices, then x).
  C10_HOST_DEVICE void fill(int tid, int nt, const AlignParams& p) const {
    for (int o = tid; o < p.out_h + p.out_w; o += nt) {
      const bool is_y = o < p.out_h;
      float* w = is_y ? wy + o * By : wx + (o - p.out_h) * Bx;
      const int B = is_y ? By : Bx;
      for (int b = 0; b < B; ++b) w[b] = 0.0f;
      if (is_y) {
        sy[o] = axis_band(gy, o, p.in_h, 0, p.mode, w);
      } else {
        sx[o - p.out_h] = axis_band(gx, o - p.out_h, p.in_w, p.pad, p.mode, w);
      }
    }
  }
};

// The value of input pixel (row, col) of one plane: the feature map, or Ms for the fused op.
template <typename x_t, typename sil_t, bool kFused>
struct PlanePixels {
  using opmath_t = at::opmath_type<x_t>;  // float64 stays float64 (gradcheck), everything else float32
  const x_t* x;           // [h, w]
  const sil_t* sil;       // [h, w] (fused)
  const uint32_t* edge;   // [h, nw] bit rows (fused)
  const uint32_t* inner;  // [h, nw] (fused)
  int w, nw;
  C10_HOST_DEVICE opmath_t operator()(int row, int col) const {
    const int64_t idx = static_cast<int64_t>(row) * w + col;
    if constexpr (kFused) {
      const opmath_t e = bit_at(edge + static_cast<int64_t>(row) * nw, col) ? 1 : 0;
      const opmath_t in = bit_at(inner + static_cast<int64_t>(row) * nw, col) ? 1 : 0;
      // a product, not a select: 0 * inf/NaN in prob stays NaN, as in gait_synthesis
      return e * static_cast<opmath_t>(x[idx]) + in * Binariser<sil_t>::template value<opmath_t>(sil[idx]);
    } else {
      return static_cast<opmath_t>(x[idx]);
    }
  }
};

// Arguments of the forward kernels. Fused: x = prob [N, 1, h, w], sil [N, 1, h, w], bits [2, N, h, nw].
template <typename x_t, typename sil_t>
struct ForwardArgs {
  const x_t* x;          // [N, C, h, w]
  const sil_t* sil;      // fused only
  const uint32_t* bits;  // fused only: edge plane, then interior plane
  int64_t N;
  int nw;
  const float* boxes;    // [N, 4]
  x_t* out;              // [N, C, out_h, out_w]
};

// Output rows [ph_a, ph_b) whose input rows [r0, r1) fit in T.
struct Chunk {
  int ph_a, ph_b, r0, r1;
};

template <typename x_t, typename sil_t, bool kFused>
struct ForwardFrame {
  using opmath_t = at::opmath_type<x_t>;
  AlignParams p;
  int t_rows;
  Tables t;
  opmath_t* T;  // [t_rows, out_w]: row r of the chunk at T[(r - r0) * out_w]
  PlanePixels<x_t, sil_t, kFused> pix;
  x_t* out;     // [out_h, out_w] of this plane

  C10_HOST_DEVICE ForwardFrame(const Args& a, const ForwardArgs<x_t, sil_t>& f, unsigned char* smem,
                               const Layout& l, int64_t plane)
      : p(a.p), t_rows(a.t_rows), t(smem, l, a, f.boxes + 4 * (plane / a.C)) {
    const int64_t n = plane / a.C;
    const int64_t hw = static_cast<int64_t>(p.in_h) * p.in_w;
    T = reinterpret_cast<opmath_t*>(smem + l.big);
    pix.x = f.x + plane * hw;
    pix.sil = nullptr;
    pix.edge = pix.inner = nullptr;
    pix.w = p.in_w;
    pix.nw = f.nw;
    if constexpr (kFused) {
      const int64_t words = static_cast<int64_t>(p.in_h) * f.nw;  // one frame's bit rows
      pix.sil = f.sil + n * hw;
      pix.edge = f.bits + n * words;
      pix.inner = f.bits + (f.N + n) * words;
    }
    out = f.out + plane * static_cast<int64_t>(p.out_h) * p.out_w;
  }

  // Phase 1.
  C10_HOST_DEVICE void tables(int tid, int nt) const { t.fill(tid, nt, p); }

  // The chunk starting at output row ph_a (reads only the band starts: after phase 1, the same in every thread).
  C10_HOST_DEVICE Chunk chunk(int ph_a) const {
    Chunk c;
    c.ph_a = ph_a;
    c.r0 = t.sy[ph_a];
    c.r1 = imin(p.in_h, t.sy[ph_a] + t.gy.band);  // band <= By <= t_rows
    c.ph_b = ph_a + 1;
    while (c.ph_b < p.out_h) {
      const int r1 = imin(p.in_h, t.sy[c.ph_b] + t.gy.band);
      if (r1 - c.r0 > t_rows) break;
      c.r1 = imax(c.r1, r1);
      ++c.ph_b;
    }
    return c;
  }

  // Phase 2 (per chunk): T over the chunk's input rows, one (row, output column) per thread.
  C10_HOST_DEVICE void rows(int tid, int nt, const Chunk& c) const {
    const int n = (c.r1 - c.r0) * p.out_w;
    for (int k = tid; k < n; k += nt) {
      const int r = k / p.out_w, pw = k - r * p.out_w;
      const int x0 = t.sx[pw];
      const int nbx = imin(t.gx.band, p.in_w - x0);
      const float* wb = t.wx + pw * t.Bx;
      opmath_t acc = 0;
      for (int b = 0; b < nbx; ++b) {
        const opmath_t w = static_cast<opmath_t>(wb[b]);
        if (w == opmath_t(0)) continue;
        acc += w * pix(c.r0 + r, x0 + b);
      }
      T[k] = acc;
    }
  }

  // Phase 3 (per chunk): the chunk's output rows, one output pixel per thread.
  C10_HOST_DEVICE void outputs(int tid, int nt, const Chunk& c) const {
    const int n = (c.ph_b - c.ph_a) * p.out_w;
    for (int k = tid; k < n; k += nt) {
      const int ph = c.ph_a + k / p.out_w, pw = k % p.out_w;
      const int y0 = t.sy[ph];
      const int nby = imin(t.gy.band, p.in_h - y0);
      const float* wa = t.wy + ph * t.By;
      const opmath_t* col = T + static_cast<int64_t>(y0 - c.r0) * p.out_w + pw;
      opmath_t acc = 0;
      for (int i = 0; i < nby; ++i) {
        const opmath_t w = static_cast<opmath_t>(wa[i]);
        if (w == opmath_t(0)) continue;
        acc += w * col[i * p.out_w];
      }
      out[static_cast<int64_t>(ph) * p.out_w + pw] = static_cast<x_t>(acc);
    }
  }
};

// Arguments of the backward kernels. Fused: grad_in is grad_prob [N, 1, h, w], bits the edge plane [N, h, nw].
template <typename x_t>
struct BackwardArgs {
  const x_t* grad;        // [N, C, out_h, out_w]
  const uint32_t* edge;   // fused only
  int nw;
  const float* boxes;     // [N, 4]
  x_t* grad_in;           // [N, C, h, w]
};

template <typename x_t, bool kFused, int V>
struct BackwardFrame {
  using opmath_t = at::opmath_type<x_t>;
  AlignParams p;
  Tables t;
  opmath_t* G;   // [out_h, out_w]
  Span* rspan;   // [in_h]
  Span* cspan;   // [in_w]
  const x_t* g;  // [out_h, out_w] of this plane
  const uint32_t* edge;  // [h, nw] (fused)
  int nw;
  x_t* gin;      // [h, w] of this plane

  C10_HOST_DEVICE BackwardFrame(const Args& a, const BackwardArgs<x_t>& f, unsigned char* smem, const Layout& l,
                                int64_t plane)
      : p(a.p), t(smem, l, a, f.boxes + 4 * (plane / a.C)) {
    const int64_t n = plane / a.C;
    G = reinterpret_cast<opmath_t*>(smem + l.big);
    rspan = reinterpret_cast<Span*>(smem + l.spans);
    cspan = rspan + p.in_h;
    g = f.grad + plane * static_cast<int64_t>(p.out_h) * p.out_w;
    nw = f.nw;
    edge = kFused ? f.edge + n * static_cast<int64_t>(p.in_h) * f.nw : nullptr;
    gin = f.grad_in + plane * static_cast<int64_t>(p.in_h) * p.in_w;
  }

  // Phase 1: the tables, and G into shared memory. Returns whether this thread's share of G is finite.
  C10_HOST_DEVICE bool load(int tid, int nt) const {
    t.fill(tid, nt, p);
    bool ok = true;
    for (int k = tid; k < p.out_h * p.out_w; k += nt) {
      const opmath_t v = static_cast<opmath_t>(g[k]);
      G[k] = v;
      ok = ok && finite(v);
    }
    return ok;
  }

  // Phase 2: covering output ranges of every input row and column.
  C10_HOST_DEVICE void spans(int tid, int nt) const {
    for (int k = tid; k < p.in_h + p.in_w; k += nt) {
      if (k < p.in_h) {
        rspan[k] = covering(t.sy, p.out_h, t.gy.band, k);
      } else {
        cspan[k - p.in_h] = covering(t.sx, p.out_w, t.gx.band, k - p.in_h);
      }
    }
  }

  C10_HOST_DEVICE opmath_t gather(Span r, Span c, int i, int j) const {
    opmath_t acc = 0;
    for (int ph = r.lo; ph <= r.hi; ++ph) {
      const opmath_t wa = static_cast<opmath_t>(t.wy[ph * t.By + (i - t.sy[ph])]);
      if (wa == opmath_t(0)) continue;
      const opmath_t* gr = G + ph * p.out_w;
      opmath_t racc = 0;
      for (int pw = c.lo; pw <= c.hi; ++pw) {
        const opmath_t wb = static_cast<opmath_t>(t.wx[pw * t.Bx + (j - t.sx[pw])]);
        if (wb == opmath_t(0)) continue;
        racc += wb * gr[pw];
      }
      acc += wa * racc;
    }
    return acc;
  }

  // Phase 3: every input pixel, V consecutive ones per thread and store (V divides in_w and 32). `dense`: some
  // thread's share of G was not finite (fused op: gather every pixel, then multiply by its edge bit).
  C10_HOST_DEVICE void pixels(int tid, int nt, bool dense) const {
    const int64_t total = static_cast<int64_t>(p.in_h) * p.in_w;
    for (int64_t k0 = static_cast<int64_t>(tid) * V; k0 < total; k0 += static_cast<int64_t>(nt) * V) {
      const int i = static_cast<int>(k0 / p.in_w), j0 = static_cast<int>(k0 - static_cast<int64_t>(i) * p.in_w);
      const Span r = rspan[i];
      uint32_t e = ~0u;  // V edge bits of columns j0 .. j0 + V - 1 (all ones for the plain op)
      if constexpr (kFused) e = edge[static_cast<int64_t>(i) * nw + (j0 >> 5)] >> (j0 & 31);
      const uint32_t lanes = V == 32 ? ~0u : (1u << V) - 1u;
      cuda::Vec<x_t, V> v;
      if (r.hi < r.lo || (!dense && !(e & lanes))) {  // outside the box's rows, or no edge pixel: zeros, no work
#pragma unroll
        for (int q = 0; q < V; ++q) v.val[q] = x_t(0);
      } else {
        // Not unrolled on purpose: `#pragma unroll` here was tried and made ptxas spill in four instances instead
        // of one (the fused float one keeps a 24-byte stack frame either way; see csrc/README.md).
        for (int q = 0; q < V; ++q) {
          const bool on = (e >> q) & 1u;
          opmath_t acc = 0;
          const Span c = cspan[j0 + q];
          if (c.lo <= c.hi && (on || dense)) acc = gather(r, c, i, j0 + q);
          if constexpr (kFused) acc = static_cast<opmath_t>(on ? 1 : 0) * acc;
          v.val[q] = static_cast<x_t>(acc);
        }
      }
      *reinterpret_cast<cuda::Vec<x_t, V>*>(gin + k0) = v;
    }
  }
};

}  // namespace frame
}  // namespace gaitedge
