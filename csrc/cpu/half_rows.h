// Rows of 16-bit floats (c10::Half, c10::BFloat16) to float and back, vectorised.
//
// The extension is built for the x86-64 baseline (SSE2). c10::Half then converts in software, about ten
// instructions per value, and that was a third of the CPU gait_edge_align time for fp16 prob; c10::BFloat16 converts
// one value at a time. The kernels therefore route 16-bit rows through float scratch rows converted here:
//   fp16  F16C instructions, in functions compiled for AVX + F16C on their own (a target attribute, not a build
//         flag) and called only after a run-time check, so the build still runs on any x86-64 CPU;
//   bf16  integer arithmetic with c10's rounding: SSE2 (the baseline), and for float -> bf16 the same steps eight
//         lanes wide in a function compiled for AVX2 on its own, called after a run-time check like F16C's.
// Every conversion gives c10's bits: 16-bit -> float is exact, float -> 16-bit rounds to nearest even (NaN: any
// NaN for fp16, c10's 0x7FC0 for bf16). Whether the F16C and AVX2 paths run is decided in cpu/capability.h
// (ATEN_CPU_CAPABILITY=default turns both off).
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "capability.h"

#if defined(GAITEDGE_X86_DISPATCH)
#include <immintrin.h>
#endif

namespace gaitedge {
namespace cpu {

#if defined(GAITEDGE_X86_DISPATCH)
__attribute__((target("avx,f16c"))) inline void half_to_float_f16c(const c10::Half* s, float* d, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
  }
  for (; i < n; ++i) d[i] = static_cast<float>(s[i]);
}

__attribute__((target("avx,f16c"))) inline void float_to_half_f16c(const float* s, c10::Half* d, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  for (; i < n; ++i) d[i] = c10::Half(s[i]);
}
// bf16_bits below, eight lanes at a time: c10's round_to_nearest_even, 0x7FC0 for NaN, as sign-extended 16-bit
// values in 32-bit lanes.
__attribute__((target("avx2"))) inline __m256i bf16_bits_avx2(__m256 v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF))), 16);
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  r = _mm256_or_si256(_mm256_andnot_si256(nan, r), _mm256_and_si256(nan, _mm256_set1_epi32(0x7FC0)));
  return _mm256_srai_epi32(_mm256_slli_epi32(r, 16), 16);
}

// Converts the first n - n % 16 values; returns how many.
__attribute__((target("avx2"))) inline int64_t float_to_bf16_avx2(const float* s, c10::BFloat16* d, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i lo = bf16_bits_avx2(_mm256_loadu_ps(s + i)), hi = bf16_bits_avx2(_mm256_loadu_ps(s + i + 8));
    // packs works within 128-bit lanes (lo 0-3, hi 0-3, lo 4-7, hi 4-7): the permute puts the values in order
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i),
                        _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xD8));
  }
  return i;
}
#else
inline void half_to_float_f16c(const c10::Half*, float*, int64_t) {}
inline void float_to_half_f16c(const float*, c10::Half*, int64_t) {}
inline int64_t float_to_bf16_avx2(const float*, c10::BFloat16*, int64_t) { return 0; }
#endif

inline void bf16_to_float(const c10::BFloat16* s, float* d, int64_t n) {
  int64_t i = 0;
#if GAITEDGE_SSE2
  const __m128i zero = _mm_setzero_si128();
  for (; i + 8 <= n; i += 8) {  // a bf16 is the top half of its float
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), _mm_unpacklo_epi16(zero, v));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i + 4), _mm_unpackhi_epi16(zero, v));
  }
#endif
  for (; i < n; ++i) d[i] = static_cast<float>(s[i]);
}

#if GAITEDGE_SSE2
// c10's round_to_nearest_even for four floats, as sign-extended 16-bit values in 32-bit lanes (ready for packs).
inline __m128i bf16_bits(__m128 v) {
  const __m128i u = _mm_castps_si128(v);
  const __m128i lsb = _mm_and_si128(_mm_srli_epi32(u, 16), _mm_set1_epi32(1));
  __m128i r = _mm_srli_epi32(_mm_add_epi32(u, _mm_add_epi32(lsb, _mm_set1_epi32(0x7FFF))), 16);
  const __m128i nan = _mm_castps_si128(_mm_cmpunord_ps(v, v));
  r = _mm_or_si128(_mm_andnot_si128(nan, r), _mm_and_si128(nan, _mm_set1_epi32(0x7FC0)));
  return _mm_srai_epi32(_mm_slli_epi32(r, 16), 16);
}
#endif

inline void float_to_bf16(const float* s, c10::BFloat16* d, int64_t n) {
  int64_t i = has_avx2() ? float_to_bf16_avx2(s, d, n) : 0;
#if GAITEDGE_SSE2
  for (; i + 8 <= n; i += 8) {
    const __m128i lo = bf16_bits(_mm_loadu_ps(s + i)), hi = bf16_bits(_mm_loadu_ps(s + i + 4));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), _mm_packs_epi32(lo, hi));
  }
#endif
  for (; i < n; ++i) d[i] = c10::BFloat16(s[i]);
}

// Whether the kernels should route rows of T through float scratch rows (a vector conversion exists here).
template <typename T>
inline bool vector_rows() {
  if constexpr (std::is_same_v<T, c10::Half>) {
    return has_f16c();
  } else {
    return std::is_same_v<T, c10::BFloat16>;
  }
}

// d[i] = float(s[i]) for i < n.
template <typename T>
inline void to_float_row(const T* s, float* d, int64_t n) {
  if constexpr (std::is_same_v<T, c10::Half>) {
    if (has_f16c()) return half_to_float_f16c(s, d, n);
  } else if constexpr (std::is_same_v<T, c10::BFloat16>) {
    return bf16_to_float(s, d, n);
  }
  for (int64_t i = 0; i < n; ++i) d[i] = static_cast<float>(s[i]);
}

// d[i] = T(s[i]) for i < n.
template <typename T>
inline void from_float_row(const float* s, T* d, int64_t n) {
  if constexpr (std::is_same_v<T, c10::Half>) {
    if (has_f16c()) return float_to_half_f16c(s, d, n);
  } else if constexpr (std::is_same_v<T, c10::BFloat16>) {
    return float_to_bf16(s, d, n);
  }
  for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(s[i]);
}

}  // namespace cpu
}  // namespace gaitedge
