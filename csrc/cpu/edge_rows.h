// The fused edge-align op's rows, read straight from the morphology's bit rows (morphology.h): a row of
// Ms = edge * prob + interior * sil (forward) and of edge * grad (backward), the columns a row's bits span (the
// kernels work only there), and the inf/NaN test that sends a row or frame back to the dense loop.
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "../binarise.h"
#include "capability.h"
#include "morphology.h"
#include "simd.h"

#if defined(GAITEDGE_X86_DISPATCH)
#include <immintrin.h>
#endif

namespace gaitedge {
namespace cpu {

// The float rows' wide routes (cpu/capability.h): the whole of [j0, j1), 16 columns at a time with AVX-512 or 8 with
// AVX2, a bit word at a time, the ragged ends as masked iterations (masked-off lanes are neither loaded nor
// stored). A column's factor is +0.0f or 1.0f, the nibble table's values, and each lane computes the same products
// and sum in the same order as the SSE2 and scalar paths: the same bits.
#if defined(GAITEDGE_X86_DISPATCH)
// The 0/1 factors of the low 8 bits of `bits`; the mask of the lanes below `cnt`.
__attribute__((target("avx2"))) inline __m256 bit_factors_avx2(uint64_t bits) {
  const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i b = _mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits & 255u)), sel);
  return _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(b, sel)), _mm256_set1_ps(1.0f));
}
__attribute__((target("avx2"))) inline __m256i lanes_below_avx2(int cnt) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(cnt), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

template <typename sil_t>
__attribute__((target("avx512f"))) void synthesis_row_avx512(const uint64_t* __restrict__ ebits,
                                                             const uint64_t* __restrict__ ibits,
                                                             const float* __restrict__ prob,
                                                             const sil_t* __restrict__ sil, int j0, int j1,
                                                             float* __restrict__ out) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int j = j0; j < j1;) {
    const int wend = std::min(j1, (j | 63) + 1);  // end of this 64-column word, or of the row
    uint64_t ew = ebits[j >> 6] >> (j & 63), iw = ibits[j >> 6] >> (j & 63);
    for (; j < wend; j += 16, ew >>= 16, iw >>= 16) {
      const __mmask16 m = static_cast<__mmask16>((1u << std::min(16, wend - j)) - 1u);
      const __m512 e = _mm512_maskz_mov_ps(static_cast<__mmask16>(ew), one);
      const __m512 i = _mm512_maskz_mov_ps(static_cast<__mmask16>(iw), one);
      __m512 v = one;  // Binariser::value of a mask
      if constexpr (std::is_same_v<sil_t, float>) v = _mm512_maskz_loadu_ps(m, sil + j);
      const __m512 p = _mm512_maskz_loadu_ps(m, prob + j);
      _mm512_mask_storeu_ps(out + (j - j0), m, _mm512_add_ps(_mm512_mul_ps(e, p), _mm512_mul_ps(i, v)));
    }
    j = wend;
  }
}

template <typename sil_t>
__attribute__((target("avx2"))) void synthesis_row_avx2(const uint64_t* __restrict__ ebits,
                                                        const uint64_t* __restrict__ ibits,
                                                        const float* __restrict__ prob,
                                                        const sil_t* __restrict__ sil, int j0, int j1,
                                                        float* __restrict__ out) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int j = j0; j < j1;) {
    const int wend = std::min(j1, (j | 63) + 1);
    uint64_t ew = ebits[j >> 6] >> (j & 63), iw = ibits[j >> 6] >> (j & 63);
    for (; j < wend; j += 8, ew >>= 8, iw >>= 8) {
      const __m256 e = bit_factors_avx2(ew), i = bit_factors_avx2(iw);
      __m256 v = one;  // Binariser::value of a mask
      if (j + 8 <= wend) {
        if constexpr (std::is_same_v<sil_t, float>) v = _mm256_loadu_ps(sil + j);
        _mm256_storeu_ps(out + (j - j0),
                         _mm256_add_ps(_mm256_mul_ps(e, _mm256_loadu_ps(prob + j)), _mm256_mul_ps(i, v)));
      } else {
        const __m256i m = lanes_below_avx2(wend - j);
        if constexpr (std::is_same_v<sil_t, float>) v = _mm256_maskload_ps(sil + j, m);
        _mm256_maskstore_ps(out + (j - j0), m,
                            _mm256_add_ps(_mm256_mul_ps(e, _mm256_maskload_ps(prob + j, m)), _mm256_mul_ps(i, v)));
      }
    }
    j = wend;
  }
}

__attribute__((target("avx512f"))) inline void edge_product_avx512(const uint64_t* __restrict__ ebits,
                                                                   const float* __restrict__ a, int j0, int j1,
                                                                   float* __restrict__ o) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int j = j0; j < j1;) {
    const int wend = std::min(j1, (j | 63) + 1);
    uint64_t ew = ebits[j >> 6] >> (j & 63);
    for (; j < wend; j += 16, ew >>= 16) {
      const __mmask16 m = static_cast<__mmask16>((1u << std::min(16, wend - j)) - 1u);
      const __m512 e = _mm512_maskz_mov_ps(static_cast<__mmask16>(ew), one);
      _mm512_mask_storeu_ps(o + (j - j0), m, _mm512_mul_ps(e, _mm512_maskz_loadu_ps(m, a + (j - j0))));
    }
    j = wend;
  }
}

__attribute__((target("avx2"))) inline void edge_product_avx2(const uint64_t* __restrict__ ebits,
                                                              const float* __restrict__ a, int j0, int j1,
                                                              float* __restrict__ o) {
  for (int j = j0; j < j1;) {
    const int wend = std::min(j1, (j | 63) + 1);
    uint64_t ew = ebits[j >> 6] >> (j & 63);
    for (; j < wend; j += 8, ew >>= 8) {
      const __m256 e = bit_factors_avx2(ew);
      if (j + 8 <= wend) {
        _mm256_storeu_ps(o + (j - j0), _mm256_mul_ps(e, _mm256_loadu_ps(a + (j - j0))));
      } else {
        const __m256i m = lanes_below_avx2(wend - j);
        _mm256_maskstore_ps(o + (j - j0), m, _mm256_mul_ps(e, _mm256_maskload_ps(a + (j - j0), m)));
      }
    }
    j = wend;
  }
}
#endif

// o[j - j0] = edge_j * a[j - j0] for j in [j0, j1), edge_j the bit of column j: whole nibbles of the bit row
// become four 0/1 factors (vectorised), the ragged ends go one pixel at a time. A product, not a select, so that
// inf/NaN gradients keep IEEE semantics.
template <typename opmath_t, typename x_t>
void edge_product(const uint64_t* __restrict__ ebits, const opmath_t* __restrict__ a, int j0, int j1,
                  x_t* __restrict__ o) {
#if defined(GAITEDGE_X86_DISPATCH)
  if constexpr (std::is_same_v<opmath_t, float> && std::is_same_v<x_t, float>) {
    switch (row_width()) {
      case RowWidth::kAvx512:
        return edge_product_avx512(ebits, a, j0, j1, o);
      case RowWidth::kAvx2:
        return edge_product_avx2(ebits, a, j0, j1, o);
      case RowWidth::kBaseline:
        break;
    }
  }
#endif
  const auto& nib = kNibbleValues<opmath_t>.v;
  int j = j0;
  for (; j < j1 && (j & 3); ++j) o[j - j0] = static_cast<x_t>(static_cast<opmath_t>(bit_at(ebits, j)) * a[j - j0]);
#if GAITEDGE_SSE2
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
    const opmath_t* __restrict__ e = nib[nibble_at(ebits, j)];
    for (int k = 0; k < 4; ++k) o[j - j0 + k] = static_cast<x_t>(e[k] * a[j - j0 + k]);
  }
  for (; j < j1; ++j) o[j - j0] = static_cast<x_t>(static_cast<opmath_t>(bit_at(ebits, j)) * a[j - j0]);
}

// out[j - j0] = Ms at column j in [j0, j1) = edge_j * prob[j] + interior_j * value(sil[j]), from the bit rows;
// edge and interior are disjoint, so the sum is exact. Nibble-wise as in edge_product.
template <typename opmath_t, typename x_t, typename sil_t>
void synthesis_row(const uint64_t* __restrict__ ebits, const uint64_t* __restrict__ ibits,
                   const x_t* __restrict__ prob, const sil_t* __restrict__ sil, int j0, int j1,
                   opmath_t* __restrict__ out) {
  const auto& nib = kNibbleValues<opmath_t>.v;
  const auto one = [&](int j) {
    out[j - j0] = static_cast<opmath_t>(bit_at(ebits, j)) * static_cast<opmath_t>(prob[j]) +
                  static_cast<opmath_t>(bit_at(ibits, j)) * Binariser<sil_t>::template value<opmath_t>(sil[j]);
  };
#if defined(GAITEDGE_X86_DISPATCH)
  if constexpr (std::is_same_v<opmath_t, float> && std::is_same_v<x_t, float> &&
                (std::is_same_v<sil_t, float> || std::is_same_v<sil_t, uint8_t> || std::is_same_v<sil_t, bool>)) {
    switch (row_width()) {
      case RowWidth::kAvx512:
        return synthesis_row_avx512(ebits, ibits, prob, sil, j0, j1, out);
      case RowWidth::kAvx2:
        return synthesis_row_avx2(ebits, ibits, prob, sil, j0, j1, out);
      case RowWidth::kBaseline:
        break;
    }
  }
#endif
  int j = j0;
  for (; j < j1 && (j & 3); ++j) one(j);
#if GAITEDGE_SSE2
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
    const opmath_t* __restrict__ e = nib[nibble_at(ebits, j)];
    const opmath_t* __restrict__ i = nib[nibble_at(ibits, j)];
    for (int k = 0; k < 4; ++k) {
      out[j - j0 + k] = e[k] * static_cast<opmath_t>(prob[j + k]) +
                        i[k] * Binariser<sil_t>::template value<opmath_t>(sil[j + k]);
    }
  }
  for (; j < j1; ++j) one(j);
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

}  // namespace cpu
}  // namespace gaitedge
