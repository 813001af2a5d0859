// CPU kernels of align_boxes, gait_align (+ backward) and the fused gait_edge_align (+ backward).
//
// One task per frame (at::parallel_for over N). Per frame: row/column sums of the mask -> box (align_geometry.h)
// -> the two banded 1-D weight tables, then per channel the separable resampling
//   forward   T = X . Ax^T over the rows the box touches, out = Ay . T
//   backward  U = G . Ax, grad = Ay^T . U, gathered row by row straight into the output in a fixed order:
//             deterministic and free of atomics, every input pixel written once.
// The fused op forms Ms = edge * prob + interior * sil row by row from the morphology planes and never writes it;
// its forward and backward touch only the columns the silhouette spans (exact; inf/NaN fall back to dense rows).
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "../align_geometry.h"
#include "../binarise.h"
#include "../checks.h"
#include "../dispatch.h"
#include "../opengait_stats.h"
#include "half_rows.h"
#include "large_output.h"
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
  std::vector<uint16_t> col16;
};

// Row and column sums of a raw uint8/bool frame. SSE2: psadbw gives the row sums, the column sums are kept in
// 16-bit lanes (8 columns per add) and flushed to int32 every 256 rows, before they could overflow (256 * 255).
template <typename mask_t>
void integral_frame_sums(const mask_t* __restrict__ m, int h, int w, double* __restrict__ row_sum,
                         int32_t* __restrict__ icol, SumScratch& sc) {
  sc.col16.assign(w, 0);
  uint16_t* __restrict__ c16 = sc.col16.data();
  const auto* __restrict__ bytes = reinterpret_cast<const uint8_t*>(m);
  for (int y0 = 0; y0 < h; y0 += 256) {
    const int y1 = std::min(h, y0 + 256);
    for (int y = y0; y < y1; ++y) {
      const uint8_t* __restrict__ row = bytes + static_cast<int64_t>(y) * w;
      int64_t rs = 0;
      int x = 0;
#if defined(__SSE2__)
      const __m128i zero = _mm_setzero_si128();
      __m128i acc = zero;
      for (; x + 16 <= w; x += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + x));
        acc = _mm_add_epi64(acc, _mm_sad_epu8(v, zero));
        __m128i* c = reinterpret_cast<__m128i*>(c16 + x);
        _mm_storeu_si128(c, _mm_add_epi16(_mm_loadu_si128(c), _mm_unpacklo_epi8(v, zero)));
        _mm_storeu_si128(c + 1, _mm_add_epi16(_mm_loadu_si128(c + 1), _mm_unpackhi_epi8(v, zero)));
      }
      rs = _mm_cvtsi128_si64(acc) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc));
#endif
      for (; x < w; ++x) {
        rs += row[x];
        c16[x] = static_cast<uint16_t>(c16[x] + row[x]);
      }
      row_sum[y] = static_cast<double>(rs);
    }
    for (int x = 0; x < w; ++x) {
      icol[x] += c16[x];
      c16[x] = 0;
    }
  }
}

// [x0, x1) covering every value of the row that is not ±0 (NaN and inf included); x0 == x1 for a zero row. SSE for
// float32 masks, the whole row for the other floating types.
template <typename mask_t>
std::pair<int, int> nonzero_span(const mask_t* __restrict__ row, int w) {
#if defined(__SSE2__)
  if constexpr (std::is_same_v<mask_t, float>) {
    const __m128 zero = _mm_setzero_ps();
    const auto nz = [&](int x) { return _mm_movemask_ps(_mm_cmpneq_ps(_mm_loadu_ps(row + x), zero)); };
    const auto nz1 = [&](int x) { return !(row[x] == 0.0f); };  // NaN != 0
    int x0 = 0;
    for (; x0 + 4 <= w && !nz(x0); x0 += 4) {
    }
    for (; x0 < w && !nz1(x0); ++x0) {
    }
    if (x0 == w) return {0, 0};
    int x1 = w;
    for (; x1 - 4 >= x0 && !nz(x1 - 4); x1 -= 4) {
    }
    for (; x1 > x0 && !nz1(x1 - 1); --x1) {
    }
    return {x0, x1};
  }
#endif
  return {0, w};
}

// Returns false when a raw floating mask (OpenGait mode) holds a value other than 0 and 1 (NaN included): its box
// must then come from OpenGait's float32 reductions, which these exact sums do not reproduce (opengait_stats.h).
template <typename mask_t>
bool frame_sums(const mask_t* __restrict__ m, const AlignParams& p, double* __restrict__ row_sum,
                double* __restrict__ col_sum, SumScratch& sc) {
  const int h = p.in_h, w = p.in_w;
  constexpr bool kIntegral = std::is_same_v<mask_t, uint8_t> || std::is_same_v<mask_t, bool>;
  if constexpr (kIntegral) {
    if (p.mode == AlignMode::kOpenGait) {  // raw values
      sc.icol.assign(w, 0);
      integral_frame_sums(m, h, w, row_sum, sc.icol.data(), sc);
      for (int x = 0; x < w; ++x) col_sum[x] = sc.icol[x];
      return true;
    }
  }
  if (p.mode == AlignMode::kExact) {  // the mask binarised at 0.5
    sc.icol.assign(w, 0);
    int32_t* __restrict__ icol = sc.icol.data();
    const Binariser<mask_t> half(0.5);
    for (int y = 0; y < h; ++y) {
      const mask_t* __restrict__ row = m + static_cast<int64_t>(y) * w;
      int32_t rs = 0;
      for (int x = 0; x < w; ++x) {
        const int32_t v = half(row[x]);
        rs += v;
        icol[x] += v;
      }
      row_sum[y] = rs;
    }
    for (int x = 0; x < w; ++x) col_sum[x] = icol[x];
    return true;
  }
  std::fill(col_sum, col_sum + w, 0.0);
  int soft = 0;  // a value other than 0 and 1 was seen (the skipped ones are all +-0)
  const int w4 = w - w % 4;  // pixels x < w4 go to partial x % 4, the ragged tail to partial 0
  for (int y = 0; y < h; ++y) {
    const mask_t* __restrict__ row = m + static_cast<int64_t>(y) * w;
    // Only [x0, x1) holds non-zero values (a person is a fifth of the width). A skipped ±0 would add nothing:
    // no partial or column sum can be -0 (they start at +0), so the sums are the same bit for bit.
    const auto [x0, x1] = nonzero_span(row, w);
    double part[4] = {0.0, 0.0, 0.0, 0.0};
    const auto one = [&](int x) {
      const double v = to_double(row[x]);
      col_sum[x] += v;
      part[x < w4 ? (x & 3) : 0] += v;
      soft |= (v != 0.0) & (v != 1.0);
    };
    int x = x0;
    for (; x < x1 && (x & 3); ++x) one(x);
    const int body_end = std::min(x1, w4);
#if defined(__SSE2__)
    if constexpr (std::is_same_v<mask_t, float>) {
      // The loop below, two doubles per instruction: lane q of p01/p23 is part[q], each column gets its own value
      // added once; the same additions in the same order, so the sums are bitwise those of the scalar loop.
      __m128d p01 = _mm_loadu_pd(part), p23 = _mm_loadu_pd(part + 2);
      const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1.0f);
      __m128 bad = zero;
      for (; x + 4 <= body_end; x += 4) {
        const __m128 v = _mm_loadu_ps(row + x);
        bad = _mm_or_ps(bad, _mm_and_ps(_mm_cmpneq_ps(v, zero), _mm_cmpneq_ps(v, one)));
        const __m128d v01 = _mm_cvtps_pd(v), v23 = _mm_cvtps_pd(_mm_movehl_ps(v, v));
        p01 = _mm_add_pd(p01, v01);
        p23 = _mm_add_pd(p23, v23);
        _mm_storeu_pd(col_sum + x, _mm_add_pd(_mm_loadu_pd(col_sum + x), v01));
        _mm_storeu_pd(col_sum + x + 2, _mm_add_pd(_mm_loadu_pd(col_sum + x + 2), v23));
      }
      _mm_storeu_pd(part, p01);
      _mm_storeu_pd(part + 2, p23);
      soft |= _mm_movemask_ps(bad) != 0;
    }
#endif
    // one pass: each value converted once, added to its column and to its partial (same order as ever)
    for (; x + 4 <= body_end; x += 4) {
      const double v0 = to_double(row[x]), v1 = to_double(row[x + 1]);
      const double v2 = to_double(row[x + 2]), v3 = to_double(row[x + 3]);
      col_sum[x] += v0;
      col_sum[x + 1] += v1;
      col_sum[x + 2] += v2;
      col_sum[x + 3] += v3;
      part[0] += v0;
      part[1] += v1;
      part[2] += v2;
      part[3] += v3;
      soft |= ((v0 != 0.0) & (v0 != 1.0)) | ((v1 != 0.0) & (v1 != 1.0)) | ((v2 != 0.0) & (v2 != 1.0)) |
              ((v3 != 0.0) & (v3 != 1.0));
    }
    for (; x < x1; ++x) one(x);
    row_sum[y] = (part[0] + part[1]) + (part[2] + part[3]);
  }
  return !soft;
}

// One frame's box, with its scratch (one per thread). Returns false when the box must come from OpenGait's float32
// reductions instead (a floating mask in OpenGait mode holding a value other than 0 and 1: see opengait_stats.h);
// bool/uint8 and 0/1 masks have exact sums, which every summation order reproduces.
struct FrameBox {
  std::vector<double> rs, cs;
  SumScratch sc;
  explicit FrameBox(const AlignParams& p) : rs(p.in_h), cs(p.in_w) {}
  template <typename mask_t>
  bool operator()(const mask_t* m, float ratio, const AlignParams& p, float* box) {
    const bool exact = frame_sums(m, p, rs.data(), cs.data(), sc);
    box_from_sums(rs.data(), cs.data(), ratio, p, box);
    return exact;
  }
};

// The boxes of the frames FrameBox flagged (soft[n] != 0), from OpenGait's reductions of the whole mask as the caller
// passed it. Returns the frames whose box changed: only those need recomputing (a float32 rounding moved a tie).
std::vector<int64_t> opengait_soft_boxes(const at::Tensor& mask_in, const std::vector<uint8_t>& soft,
                                         const float* ratio, const AlignParams& p, float* boxes) {
  std::vector<int64_t> changed;
  if (std::none_of(soft.begin(), soft.end(), [](uint8_t f) { return f != 0; })) return changed;
  const at::Tensor stats = opengait_frame_stats(mask_in, p.eps);  // [N, 3] (h_top, h_bot, w_center)
  const int32_t* st = stats.data_ptr<int32_t>();
  for (int64_t n = 0; n < static_cast<int64_t>(soft.size()); ++n) {
    if (!soft[n]) continue;
    float box[4];
    opengait_box(st[3 * n], st[3 * n + 1], st[3 * n + 2], ratio[n], p, box);
    if (std::memcmp(box, boxes + 4 * n, sizeof(box)) != 0) {
      std::memcpy(boxes + 4 * n, box, sizeof(box));
      changed.push_back(n);
    }
  }
  return changed;
}

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
#if defined(__SSE2__)
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
// it (V[ph, :] += Ay[ph, a] * row, a contiguous axpy the compiler vectorises), then each output row is resampled
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
      opmath_t* __restrict__ dst = V.data() + static_cast<int64_t>(ph) * stride;
      for (int j = ja; j < jb; ++j) dst[j] += wa * src[j];
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
        const opmath_t* __restrict__ v = VT.data() + static_cast<int64_t>(col + b) * H;
        for (int ph = 0; ph < H; ++ph) o[ph] += wb * v[ph];
      }
    }
    if constexpr (std::is_same_v<out_t, opmath_t>) {
      transpose(OT.data(), p.out_w, H, H, out, p.out_w);
    } else {
      if constexpr (std::is_same_v<opmath_t, float>) {
        if (cpu::vector_rows<out_t>()) {  // 16-bit output: transpose in float, then one vector conversion
          VT.resize(std::max(VT.size(), static_cast<size_t>(p.out_w) * H));  // VT is free again: reused
          transpose(OT.data(), p.out_w, H, H, VT.data(), p.out_w);
          cpu::from_float_row(VT.data(), out, static_cast<int64_t>(p.out_w) * H);
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
        opmath_t* __restrict__ u = UT.data() + static_cast<int64_t>(col + b) * H;
        for (int ph = 0; ph < H; ++ph) u[ph] += wb * g[ph];
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
      const opmath_t* __restrict__ u = U.data() + static_cast<int64_t>(ph) * ncols;
      for (int j = ja; j < jb; ++j) a[j] += wa * u[j];
    }
  }
};

// o[j - j0] = edge_j * a[j - j0] for j in [j0, j1), edge_j the bit of column j: whole nibbles of the bit row
// become four 0/1 factors (vectorised), the ragged ends go one pixel at a time. A product, not a select, so that
// inf/NaN gradients keep IEEE semantics.
template <typename opmath_t, typename x_t>
void edge_product(const uint64_t* __restrict__ ebits, const opmath_t* __restrict__ a, int j0, int j1,
                  x_t* __restrict__ o) {
  const auto& nib = cpu::kNibbleValues<opmath_t>.v;
  int j = j0;
  for (; j < j1 && (j & 3); ++j) o[j - j0] = static_cast<x_t>(static_cast<opmath_t>(cpu::bit_at(ebits, j)) * a[j - j0]);
#if defined(__SSE2__)
  if constexpr (std::is_same_v<opmath_t, float> && std::is_same_v<x_t, float>) {
    while (j + 4 <= j1) {
      const int wend = std::min(j1, (j | 63) + 1);
      uint64_t ew = ebits[j >> 6] >> (j & 63);
      for (; j + 4 <= wend; j += 4, ew >>= 4) {
        _mm_storeu_ps(o + (j - j0), _mm_mul_ps(_mm_loadu_ps(nib[ew & 15]), _mm_loadu_ps(a + (j - j0))));
      }
    }
  }
#endif
  for (; j + 4 <= j1; j += 4) {
    const opmath_t* __restrict__ e = nib[cpu::nibble_at(ebits, j)];
    for (int k = 0; k < 4; ++k) o[j - j0 + k] = static_cast<x_t>(e[k] * a[j - j0 + k]);
  }
  for (; j < j1; ++j) o[j - j0] = static_cast<x_t>(static_cast<opmath_t>(cpu::bit_at(ebits, j)) * a[j - j0]);
}

// out[j - j0] = Ms at column j in [j0, j1) = edge_j * prob[j] + interior_j * value(sil[j]), from the bit rows;
// edge and interior are disjoint, so the sum is exact. Nibble-wise as in edge_product.
template <typename opmath_t, typename x_t, typename sil_t>
void synthesis_row(const uint64_t* __restrict__ ebits, const uint64_t* __restrict__ ibits,
                   const x_t* __restrict__ prob, const sil_t* __restrict__ sil, int j0, int j1,
                   opmath_t* __restrict__ out) {
  const auto& nib = cpu::kNibbleValues<opmath_t>.v;
  const auto one = [&](int j) {
    out[j - j0] = static_cast<opmath_t>(cpu::bit_at(ebits, j)) * static_cast<opmath_t>(prob[j]) +
                  static_cast<opmath_t>(cpu::bit_at(ibits, j)) * Binariser<sil_t>::template value<opmath_t>(sil[j]);
  };
  int j = j0;
  for (; j < j1 && (j & 3); ++j) one(j);
#if defined(__SSE2__)
  // float Ms from float prob (GCC does not vectorise the generic nibble loop below). The bit words are shifted a
  // nibble at a time rather than indexed per group.
  if constexpr (std::is_same_v<opmath_t, float> && std::is_same_v<x_t, float>) {
    while (j + 4 <= j1) {
      const int wend = std::min(j1, (j | 63) + 1);  // end of this 64-column word, or of the row
      uint64_t ew = ebits[j >> 6] >> (j & 63), iw = ibits[j >> 6] >> (j & 63);
      for (; j + 4 <= wend; j += 4, ew >>= 4, iw >>= 4) {
        const __m128 e = _mm_loadu_ps(nib[ew & 15]);
        const __m128 i = _mm_loadu_ps(nib[iw & 15]);
        __m128 v;
        if constexpr (std::is_same_v<sil_t, float>) {
          v = _mm_loadu_ps(sil + j);
        } else if constexpr (std::is_same_v<sil_t, uint8_t> || std::is_same_v<sil_t, bool>) {
          v = _mm_set1_ps(1.0f);  // Binariser::value of a mask
        } else {
          v = _mm_setr_ps(static_cast<float>(sil[j]), static_cast<float>(sil[j + 1]),
                          static_cast<float>(sil[j + 2]), static_cast<float>(sil[j + 3]));
        }
        _mm_storeu_ps(out + (j - j0), _mm_add_ps(_mm_mul_ps(e, _mm_loadu_ps(prob + j)), _mm_mul_ps(i, v)));
      }
    }
  }
#endif
  for (; j + 4 <= j1; j += 4) {
    const opmath_t* __restrict__ e = nib[cpu::nibble_at(ebits, j)];
    const opmath_t* __restrict__ i = nib[cpu::nibble_at(ibits, j)];
    for (int k = 0; k < 4; ++k) {
      out[j - j0 + k] = e[k] * static_cast<opmath_t>(prob[j + k]) +
                        i[k] * Binariser<sil_t>::template value<opmath_t>(sil[j + k]);
    }
  }
  for (; j < j1; ++j) one(j);
}

template <typename opmath_t, typename x_t>
void store_row(const opmath_t* __restrict__ a, int n, x_t* __restrict__ o) {
  if constexpr (std::is_same_v<opmath_t, float>) {
    if (cpu::vector_rows<x_t>()) return cpu::from_float_row(a, o, n);
  }
  for (int j = 0; j < n; ++j) o[j] = static_cast<x_t>(a[j]);
}

template <typename x_t, typename opmath_t>
void load_row(const x_t* __restrict__ x, int n, opmath_t* __restrict__ a) {
  if constexpr (std::is_same_v<opmath_t, float>) {
    if (cpu::vector_rows<x_t>()) return cpu::to_float_row(x, a, n);
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

// The exponent field of each floating type: all ones means inf or NaN.
template <typename T>
struct ExponentBits;
template <>
struct ExponentBits<float> {
  using U = uint32_t;
  static constexpr U kMask = 0x7f800000u;
};
template <>
struct ExponentBits<double> {
  using U = uint64_t;
  static constexpr U kMask = 0x7ff0000000000000ull;
};
template <>
struct ExponentBits<c10::Half> {
  using U = uint16_t;
  static constexpr U kMask = 0x7c00u;
};
template <>
struct ExponentBits<c10::BFloat16> {
  using U = uint16_t;
  static constexpr U kMask = 0x7f80u;
};

// Whether x[0, n) holds no inf/NaN: an OR of integer tests over the bit patterns, which the compiler vectorises.
template <typename T>
bool all_finite(const T* __restrict__ x, int64_t n) {
  using U = typename ExponentBits<T>::U;
  constexpr U kMask = ExponentBits<T>::kMask;
  U bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    U b;
    std::memcpy(&b, x + i, sizeof(U));
    bad |= static_cast<U>((b & kMask) == kMask);
  }
  return bad == 0;
}

// The columns [a, b) of a bit row that hold every set bit of (x | y), clipped to [lo, hi) and widened to multiples
// of 4 where that stays inside [lo, hi) (so the vector loops start aligned); a == b when none is set.
inline std::pair<int, int> bit_span(const uint64_t* __restrict__ x, const uint64_t* __restrict__ y, int64_t nw,
                                    int lo, int hi) {
  int a = -1, b = -1;
  for (int64_t i = 0; i < nw; ++i) {
    const uint64_t v = x[i] | y[i];
    if (v) {
      a = static_cast<int>(64 * i + __builtin_ctzll(v));
      break;
    }
  }
  if (a < 0) return {lo, lo};
  for (int64_t i = nw - 1; i >= 0; --i) {
    const uint64_t v = x[i] | y[i];
    if (v) {
      b = static_cast<int>(64 * i + 64 - __builtin_clzll(v));
      break;
    }
  }
  a = std::max(lo, a & ~3);
  b = std::min(hi, (b + 3) & ~3);
  return a < b ? std::pair<int, int>{a, b} : std::pair<int, int>{lo, lo};
}

template <typename T>
inline void zero_fill(T* __restrict__ dst, int64_t n) {
  std::memset(static_cast<void*>(dst), 0, sizeof(T) * n);  // +0 is all-zero bits for every float type here
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
  std::vector<uint8_t> soft(N, 0);
  GAITEDGE_DISPATCH_MASK_TYPES(mask.scalar_type(), "align_boxes_cpu", [&] {
    const scalar_t* m = mask.data_ptr<scalar_t>();
    at::parallel_for(0, N, 16, [&](int64_t begin, int64_t end) {
      FrameBox fb(p);
      for (int64_t n = begin; n < end; ++n) soft[n] = !fb(m + n * p.in_h * p.in_w, r[n], p, bx + 4 * n);
    });
  });
  opengait_soft_boxes(mask_in, soft, r, p, bx);  // OpenGait reduces the mask as it was passed
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
  auto out = cpu::empty_output({N, C, out_h, out_w}, x.options());  // [N, C, H, W]
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
            fa.add_row(t, p, i, opmath_row(src, fa.ncols, fa.row.data()), 0, fa.ncols);
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
      Tables t;
      BackwardScratch<opmath_t> sc;
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
              zero_fill(drow, p.in_w);
              continue;
            }
            zero_fill(drow, c0);
            sc.gather_row(t, p, y, accumulation_row(drow + c0, sc.acc.data()), 0, sc.ncols);
            flush_row(sc.acc.data(), sc.ncols, drow + c0);
            zero_fill(drow + c1, p.in_w - c1);
          }
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
  const AlignMode amode = parse_align_mode(mode);
  check_align_common(sil_in, "sil", ratio, out_h, out_w, eps);
  require_cpu(sil_in, "sil");
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
  GAITEDGE_DISPATCH_FLOAT_TYPES(prob.scalar_type(), "gait_edge_align_cpu", [&] {
    using x_t = scalar_t;
    using opmath_t = at::opmath_type<x_t>;
    GAITEDGE_DISPATCH_MASK_TYPES(sil.scalar_type(), "gait_edge_align_cpu_sil", [&] {
      using sil_t = scalar_t;
      const x_t* P = prob.data_ptr<x_t>();
      const sil_t* S = sil.data_ptr<sil_t>();
      x_t* O = out.data_ptr<x_t>();
      const Binariser<sil_t> bin(kSynthesisThreshold);
      const int64_t nw = cpu::words_per_row(W);
      // Frames frames[k] for k in [0, count) (every frame when `frames` is null); with `boxes_known` the boxes are
      // not computed again.
      const auto run = [&](const int64_t* frames, int64_t count, bool boxes_known) {
        at::parallel_for(0, count, 1, [&](int64_t begin, int64_t end) {
          Tables t;
          cpu::FrameMorphology fm(H, W);
          cpu::MorphScratch& ms = fm.ms;
          ForwardAccumulator<opmath_t> fa;
          FrameBox fb(p);
          const bool rows16 = cpu::vector_rows<x_t>();  // fp16/bf16 prob: rows through float (half_rows.h)
          std::vector<float> prow(rows16 ? W : 0);  // [W]: one prob row as float
          for (int64_t k = begin; k < end; ++k) {
            const int64_t n = frames ? frames[k] : k;
            const sil_t* s = S + n * H * W;
            // the box in the same pass: the frame's sil is read from memory once
            if (!boxes_known) soft[n] = !fb(s, rt[n], p, bx + 4 * n);
            t.build(bx + 4 * n, p);
            const x_t* pr = P + n * H * W;
            const int r0 = t.row_lo(), r1 = t.row_hi(p.in_h);
            cpu::horizontal_planes(s, H, W, r, bin, ms.m, ms.hd, ms.he, std::max<int64_t>(0, r0 - r),
                                   std::min<int64_t>(H, r1 + r + 1));  // the rows the box's rows' windows read
            fa.begin(t, p);
            const int c0 = fa.c0, c1 = fa.c0 + fa.ncols;
            for (int i = r0; i <= r1; ++i) {
              // one row of Ms = edge * prob + interior * sil, kept in L1 only. Ms is zero outside the dilated
              // silhouette (edge | interior), so only the columns [a, b) that span it are formed and accumulated:
              // a person is a fifth of the box's width. That is exact unless prob, or a floating sil, holds an
              // inf/NaN outside the span (0 * NaN is NaN in the composite); then the whole row is formed.
              cpu::edge_interior_bits(ms, H, W, r, i);
              const int64_t off = static_cast<int64_t>(i) * W;
              auto [a, b] = bit_span(ms.d, ms.e, nw, c0, c1);
              bool finite = all_finite(pr + off + c0, a - c0) && all_finite(pr + off + b, c1 - b);
              if constexpr (!std::is_same_v<sil_t, uint8_t> && !std::is_same_v<sil_t, bool>) {
                finite = finite && all_finite(s + off + c0, a - c0) && all_finite(s + off + b, c1 - b);
              }
              if (!finite) {
                a = c0;
                b = c1;
              }
              if (rows16) {  // the row's prob as float, indexed by column like pr + off, then the float path
                cpu::to_float_row(pr + off + a, prow.data() + a, b - a);
                synthesis_row(ms.d, ms.e, prow.data(), s + off, a, b, fa.row.data() + (a - c0));
              } else {
                synthesis_row(ms.d, ms.e, pr + off, s + off, a, b, fa.row.data() + (a - c0));
              }
              fa.add_row(t, p, i, fa.row.data(), a - c0, b - c0);
            }
            fa.finish(t, p, O + n * p.out_h * p.out_w);
          }
        });
      };
      run(nullptr, N, false);
      // soft frames whose box OpenGait's float32 reductions move (a tie at half the mass) are done again
      const std::vector<int64_t> redo = opengait_soft_boxes(sil_in, soft, rt, p, bx);
      if (!redo.empty()) run(redo.data(), static_cast<int64_t>(redo.size()), true);
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
  auto gp = cpu::empty_output({N, 1, H, W}, grad.options());  // [N, 1, H, W]
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
      const int64_t nw = cpu::words_per_row(W);
      at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
        Tables t;
        cpu::FrameMorphology fm(H, W);
        cpu::MorphScratch& ms = fm.ms;
        BackwardScratch<opmath_t> sc;
        const bool rows16 = cpu::vector_rows<x_t>();  // fp16/bf16 grad: rows through float (half_rows.h)
        std::vector<float> grow(rows16 ? W : 0);  // [W]: one gradient row before its conversion
        for (int64_t n = begin; n < end; ++n) {
          t.build(bx + 4 * n, p);
          const x_t* g = G + n * p.out_h * p.out_w;
          const bool dense = !all_finite(g, p.out_h * p.out_w);
          const int r0 = t.row_lo(), r1 = t.row_hi(p.in_h);
          const int64_t h0 = std::max<int64_t>(0, r0 - r), h1 = std::min<int64_t>(H, r1 + r + 1);
          cpu::horizontal_planes(S + n * H * W, H, W, r, bin, ms.m, ms.hd, ms.he, h0, h1);
          // every row's edge lies inside the columns of the frame's horizontal dilation: U is needed there only
          std::fill(ms.m, ms.m + nw, uint64_t(0));
          for (int64_t yy = h0; yy < h1; ++yy) {
            for (int64_t i = 0; i < nw; ++i) ms.m[i] |= ms.hd[yy * nw + i];
          }
          const int c0 = t.col_lo(), c1 = std::max(c0, t.col_hi(p.in_w) + 1);
          const auto [ua, ub] = dense ? std::pair<int, int>{c0, c1} : bit_span(ms.m, ms.m, nw, c0, c1);
          sc.columns(t, p, g, ua - c0, ub - c0);
          x_t* dst = D + n * H * W;
          for (int y = 0; y < H; ++y) {
            x_t* __restrict__ row = dst + static_cast<int64_t>(y) * W;
            if (y < r0 || y > r1) {  // the box never samples this row: its gradient is zero
              zero_fill(row, W);
            } else {
              // grad_prob = edge * grad_Ms is zero outside the edge band: only the columns [a, b) spanning the
              // row's edge pixels are gathered (all of them when the upstream gradient holds inf/NaN, which
              // 0 * grad would turn into NaN in the composite)
              cpu::edge_interior_bits(ms, H, W, r, y);
              const auto [a, b] = dense ? std::pair<int, int>{c0, c1} : bit_span(ms.d, ms.d, nw, c0, c1);
              sc.gather_row(t, p, y, sc.acc.data(), a - c0, b - c0);
              zero_fill(row, a);
              if (rows16) {  // the float product, then one vector conversion of the row
                edge_product(ms.d, sc.acc.data() + (a - c0), a, b, grow.data());
                cpu::from_float_row(grow.data(), row + a, b - a);
              } else {
                edge_product(ms.d, sc.acc.data() + (a - c0), a, b, row + a);
              }
              zero_fill(row + b, W - b);
            }
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
