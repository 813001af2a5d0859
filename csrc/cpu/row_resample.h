// Separable RoIAlign of one frame and channel over its box's banded 1-D weight tables:
//   forward   T = X . Ax^T over the rows the box touches, out = Ay . T (ForwardAccumulator)
//   backward  U = G . Ax, grad = Ay^T . U, gathered row by row straight into the output in a fixed order:
//             deterministic and free of atomics, every input pixel written once (BackwardScratch)
// and the row conversions between the stored dtype and opmath_t that the kernels wrap around them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../align_geometry.h"
#include "float_rows.h"
#include "half_rows.h"
#include "simd.h"

namespace gaitedge {
namespace cpu {

// The banded weight tables of one frame's box.
struct Tables {
  AxisGrid gy, gx;
  std::vector<int> sy, sx;    // band starts [out_h], [out_w]
  std::vector<float> wy, wx;  // [out_h, By], [out_w, Bx]
  std::vector<float> steps;   // sample offsets inside a bin, [grid] of the axis being built (grids <= kSearchGrid)

  void build(const float* box, const AlignParams& p) {
    gy = axis_grid(box[1], box[3], p.in_h, p.out_h, 0, p.mode);
    gx = axis_grid(box[0], box[2], p.in_w, p.out_w, p.pad, p.mode);
    sy.resize(p.out_h);
    sx.resize(p.out_w);
    wy.resize(static_cast<size_t>(p.out_h) * gy.band);
    wx.resize(static_cast<size_t>(p.out_w) * gx.band);
    const float* st = axis_steps(gy);
    for (int o = 0; o < p.out_h; ++o) sy[o] = axis_band(gy, o, p.in_h, 0, p.mode, &wy[o * gy.band], st);
    st = axis_steps(gx);
    for (int o = 0; o < p.out_w; ++o) sx[o] = axis_band(gx, o, p.in_w, p.pad, p.mode, &wx[o * gx.band], st);
  }
  // The axis's sample offsets, computed once; nullptr (computed per use, the same values) for a box so much wider
  // than the frame that only a few of its samples are ever visited.
  const float* axis_steps(const AxisGrid& g) {
    if (g.grid > kSearchGrid) return nullptr;
    steps.resize(g.grid);
    for (int i = 0; i < g.grid; ++i) steps[i] = sample_step(g, i);
    return steps.data();
  }
  int row_lo() const { return sy.front(); }
  int row_hi(int h) const { return std::min(h - 1, sy.back() + gy.band - 1); }
  int col_lo() const { return sx.front(); }
  int col_hi(int w) const { return std::min(w - 1, sx.back() + gx.band - 1); }
};

// dst[c * dst_stride + r] = src[r * src_stride + c] for r < rows, c < cols: 4 x 4 SSE blocks for float (every store
// a 16-byte run instead of a strided scalar), 16 x 16 scalar blocks otherwise and for the edges.
template <typename T>
void transpose(const T* __restrict__ src, int rows, int cols, int src_stride, T* __restrict__ dst, int dst_stride) {
  int r4 = 0;
#if GAITEDGE_SSE2
  if constexpr (std::is_same_v<T, float>) {
    const int64_t ss = src_stride, ds = dst_stride;
    for (; r4 + 4 <= rows; r4 += 4) {
      const float* s0 = src + r4 * ss;
      int c = 0;
      for (; c + 4 <= cols; c += 4) {
        __m128 a = _mm_loadu_ps(s0 + c), b = _mm_loadu_ps(s0 + ss + c);
        __m128 e = _mm_loadu_ps(s0 + 2 * ss + c), f = _mm_loadu_ps(s0 + 3 * ss + c);
        _MM_TRANSPOSE4_PS(a, b, e, f);
        _mm_storeu_ps(dst + c * ds + r4, a);
        _mm_storeu_ps(dst + (c + 1) * ds + r4, b);
        _mm_storeu_ps(dst + (c + 2) * ds + r4, e);
        _mm_storeu_ps(dst + (c + 3) * ds + r4, f);
      }
      for (; c < cols; ++c) {
        for (int r = r4; r < r4 + 4; ++r) dst[c * ds + r] = src[r * ss + c];
      }
    }
  }
#endif
  constexpr int kB = 16;
  for (int r0 = r4; r0 < rows; r0 += kB) {
    for (int c0 = 0; c0 < cols; c0 += kB) {
      const int r1 = std::min(rows, r0 + kB), c1 = std::min(cols, c0 + kB);
      for (int r = r0; r < r1; ++r) {
        for (int c = c0; c < c1; ++c) dst[static_cast<int64_t>(c) * dst_stride + r] = src[static_cast<int64_t>(r) * src_stride + c];
      }
    }
  }
}

// The forward runs vertical-first: each input row the box touches is added into the output rows whose bands cover
// it (V[ph, :] += Ay[ph, a] * row, a contiguous axpy: cpu/float_rows.h), then each output row is resampled
// horizontally: out[ph, pw] = sum_b Ax[pw, b] * V[ph, sx[pw] + b].
template <typename opmath_t>
struct ForwardAccumulator {
  std::vector<opmath_t> V, row, VT, OT;  // [out_h, stride], [ncols], [stride, out_h], [out_w, out_h]
  int c0 = 0, ncols = 0, stride = 0, ph_lo = 0;
  int va = 0, vb = 0;  // V's columns outside [va, vb) are still zero

  void begin(const Tables& t, const AlignParams& p) {
    c0 = t.col_lo();
    ncols = std::max(0, t.col_hi(p.in_w) - c0 + 1);
    stride = ncols + t.gx.band;  // zero tail: a band may reach past the last column (with zero weights)
    V.assign(static_cast<size_t>(p.out_h) * stride, opmath_t(0));
    row.resize(ncols);
    ph_lo = 0;
    va = ncols;
    vb = 0;
  }
  // Adds input row i (its columns c0 .. c0 + ncols - 1 are src[0, ncols): `row`, or the input itself when it needs
  // no conversion) to the output rows that sample it. Only src[ja, jb) is read: the caller knows the rest of the row
  // is zero, and adding zeros would change nothing.
  void add_row(const Tables& t, const AlignParams& p, int i, const opmath_t* __restrict__ src, int ja, int jb) {
    const int By = t.gy.band;
    while (ph_lo < p.out_h && t.sy[ph_lo] + By <= i) ++ph_lo;
    if (ja < jb) {
      va = std::min(va, ja);
      vb = std::max(vb, jb);
    }
    for (int ph = ph_lo; ph < p.out_h && t.sy[ph] <= i; ++ph) {
      const opmath_t wa = t.wy[ph * By + (i - t.sy[ph])];
      if (wa == opmath_t(0)) continue;
      axpy(V.data() + static_cast<int64_t>(ph) * stride + ja, src + ja, wa, jb - ja);
    }
  }
  // Horizontal resample in transposed layout: VT [col][ph] so that out^T[pw, :] = sum_b Ax[pw, b] * VT[sx + b, :]
  // is a contiguous axpy over the out_h output rows (vectorised), then out = (out^T)^T. Only V's columns
  // [va, vb) are transposed and read: the others are zero, and a zero tap adds nothing.
  template <typename out_t>
  void finish(const Tables& t, const AlignParams& p, out_t* __restrict__ out) {
    const int Bx = t.gx.band, H = p.out_h;
    VT.resize(static_cast<size_t>(stride) * H);
    if (va < vb) transpose(V.data() + va, H, vb - va, stride, VT.data() + static_cast<int64_t>(va) * H, H);
    OT.assign(static_cast<size_t>(p.out_w) * H, opmath_t(0));
    for (int pw = 0; pw < p.out_w; ++pw) {
      opmath_t* __restrict__ o = OT.data() + static_cast<int64_t>(pw) * H;
      const int col = t.sx[pw] - c0;
      for (int b = std::max(0, va - col); b < std::min(Bx, vb - col); ++b) {
        const opmath_t wb = t.wx[pw * Bx + b];
        if (wb == opmath_t(0)) continue;
        axpy(o, VT.data() + static_cast<int64_t>(col + b) * H, wb, H);
      }
    }
    if constexpr (std::is_same_v<out_t, opmath_t>) {
      transpose(OT.data(), p.out_w, H, H, out, p.out_w);
    } else {
      if constexpr (std::is_same_v<opmath_t, float>) {
        if (vector_rows<out_t>()) {  // 16-bit output: transpose in float, then one vector conversion
          VT.resize(std::max(VT.size(), static_cast<size_t>(p.out_w) * H));  // VT is free again: reused
          transpose(OT.data(), p.out_w, H, H, VT.data(), p.out_w);
          from_float_row(VT.data(), out, static_cast<int64_t>(p.out_w) * H);
          return;
        }
      }
      for (int ph = 0; ph < H; ++ph) {
        for (int pw = 0; pw < p.out_w; ++pw) out[ph * p.out_w + pw] = static_cast<out_t>(OT[pw * H + ph]);
      }
    }
  }
};

// The backward, grad_X = Ay^T . (G . Ax), one frame and channel at a time:
//   columns  U = G . Ax over the columns the box reaches, formed transposed (UT[col, :] += Ax[pw, b] * G^T[pw, :],
//            contiguous over the out_h rows, vectorised), then U = (UT)^T [out_h, ncols];
//   rows     input row y gathers the output rows whose bands cover it, in increasing ph (a fixed order: the result
//            is deterministic, no atomics), straight into a row buffer the caller writes out once. Rows and
//            columns the box does not reach are zeros, written without computing anything.
template <typename opmath_t>
struct BackwardScratch {
  std::vector<opmath_t> GT, UT, U, acc;  // [out_w, out_h], [cols, out_h], [out_h, ncols], [ncols]
  int c0 = 0, ncols = 0, ph_lo = 0;

  // U's columns [ua, ub) (relative to c0; all of them by default): the caller reads no others.
  template <typename grad_t>
  void columns(const Tables& t, const AlignParams& p, const grad_t* __restrict__ G, int ua = 0, int ub = -1) {
    const int Bx = t.gx.band, H = p.out_h;
    c0 = t.col_lo();
    ncols = std::max(0, t.col_hi(p.in_w) - c0 + 1);
    if (ub < 0) ub = ncols;
    const int cols = ncols + Bx;  // zero tail: a band may reach past the last column (with zero weights)
    GT.resize(static_cast<size_t>(p.out_w) * H);
    if constexpr (std::is_same_v<grad_t, opmath_t>) {
      transpose(G, H, p.out_w, p.out_w, GT.data(), H);
    } else {
      for (int ph = 0; ph < H; ++ph) {
        for (int pw = 0; pw < p.out_w; ++pw) GT[pw * H + ph] = static_cast<opmath_t>(G[ph * p.out_w + pw]);
      }
    }
    UT.resize(static_cast<size_t>(cols) * H);
    std::fill(UT.begin() + static_cast<int64_t>(ua) * H, UT.begin() + static_cast<int64_t>(std::max(ua, ub)) * H,
              opmath_t(0));
    for (int pw = 0; pw < p.out_w; ++pw) {
      const opmath_t* __restrict__ g = GT.data() + static_cast<int64_t>(pw) * H;
      const int col = t.sx[pw] - c0;
      for (int b = std::max(0, ua - col); b < std::min(Bx, ub - col); ++b) {
        const opmath_t wb = t.wx[pw * Bx + b];
        if (wb == opmath_t(0)) continue;
        axpy(UT.data() + static_cast<int64_t>(col + b) * H, g, wb, H);
      }
    }
    U.resize(static_cast<size_t>(H) * ncols);
    if (ua < ub) transpose(UT.data() + static_cast<int64_t>(ua) * H, ub - ua, H, H, U.data() + ua, ncols);
    acc.resize(ncols);
    ph_lo = 0;
  }

  // a[ja, jb) = row y of grad_X over columns [c0 + ja, c0 + jb) (0 <= ja <= jb <= ncols); a is `acc`, or the
  // output row itself when it needs no conversion. Call for increasing y within [row_lo, row_hi].
  void gather_row(const Tables& t, const AlignParams& p, int y, opmath_t* __restrict__ a, int ja, int jb) {
    const int By = t.gy.band;
    std::fill(a + ja, a + jb, opmath_t(0));
    while (ph_lo < p.out_h && t.sy[ph_lo] + By <= y) ++ph_lo;
    for (int ph = ph_lo; ph < p.out_h && t.sy[ph] <= y; ++ph) {
      const opmath_t wa = t.wy[ph * By + (y - t.sy[ph])];
      if (wa == opmath_t(0)) continue;
      axpy(a + ja, U.data() + static_cast<int64_t>(ph) * ncols + ja, wa, jb - ja);
    }
  }
};

template <typename opmath_t, typename x_t>
void store_row(const opmath_t* __restrict__ a, int n, x_t* __restrict__ o) {
  if constexpr (std::is_same_v<opmath_t, float>) {
    if (vector_rows<x_t>()) return from_float_row(a, o, n);
  }
  for (int j = 0; j < n; ++j) o[j] = static_cast<x_t>(a[j]);
}

template <typename x_t, typename opmath_t>
void load_row(const x_t* __restrict__ x, int n, opmath_t* __restrict__ a) {
  if constexpr (std::is_same_v<opmath_t, float>) {
    if (vector_rows<x_t>()) return to_float_row(x, a, n);
  }
  for (int j = 0; j < n; ++j) a[j] = static_cast<opmath_t>(x[j]);
}

// A row as opmath_t values: the input itself when it is stored as opmath_t (read in place: copying it was 17 % of
// the gait_align forward), else converted into buf.
template <typename opmath_t, typename x_t>
const opmath_t* opmath_row(const x_t* __restrict__ x, int n, opmath_t* __restrict__ buf) {
  if constexpr (std::is_same_v<x_t, opmath_t>) {
    return x;
  } else {
    load_row(x, n, buf);
    return buf;
  }
}

// Where to accumulate an output row: the output itself when it is stored as opmath_t, else buf, which
// flush_row then converts into the output.
template <typename opmath_t, typename x_t>
opmath_t* accumulation_row(x_t* __restrict__ o, opmath_t* __restrict__ buf) {
  if constexpr (std::is_same_v<x_t, opmath_t>) {
    return o;
  } else {
    return buf;
  }
}

template <typename opmath_t, typename x_t>
void flush_row(const opmath_t* __restrict__ buf, int n, x_t* __restrict__ o) {
  if constexpr (!std::is_same_v<x_t, opmath_t>) store_row(buf, n, o);
}

template <typename T>
inline void zero_fill(T* __restrict__ dst, int64_t n) {
  std::memset(static_cast<void*>(dst), 0, sizeof(T) * n);  // +0 is all-zero bits for every float type here
}

}  // namespace cpu
}  // namespace gaitedge
