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
#include "morphology.h"
#include "simd.h"

namespace gaitedge {
namespace cpu {

// o[j - j0] = edge_j * a[j - j0] for j in [j0, j1), edge_j the bit of column j: whole nibbles of the bit row
// become four 0/1 factors (vectorised), the ragged ends go one pixel at a time. A product, not a select, so that
// inf/NaN gradients keep IEEE semantics.
template <typename opmath_t, typename x_t>
void edge_product(const uint64_t* __restrict__ ebits, const opmath_t* __restrict__ a, int j0, int j1,
                  x_t* __restrict__ o) {
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
