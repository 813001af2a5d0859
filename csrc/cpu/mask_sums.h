// One mask frame's row and column sums, and the GaitAlign box they give (box_from_sums, align_geometry.h).
//
// Integer masks, and masks binarised at 0.5 (exact mode), are summed in int32: exact, so every summation order gives
// the same box. Raw floating masks (OpenGait mode) are summed in float64 in a fixed order, which is exact for 0/1
// values only; a frame holding any other value takes its box from OpenGait's own float32 reductions instead
// (opengait_soft_boxes).
#pragma once

#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "../align_geometry.h"
#include "../binarise.h"
#include "../opengait_stats.h"
#include "simd.h"

namespace gaitedge {
namespace cpu {

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
#if GAITEDGE_SSE2
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
#if GAITEDGE_SSE2
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
#if GAITEDGE_SSE2
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
inline std::vector<int64_t> opengait_soft_boxes(const at::Tensor& mask_in, const std::vector<uint8_t>& soft,
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

}  // namespace cpu
}  // namespace gaitedge
