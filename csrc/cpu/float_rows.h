// The resampling's row loop d[j] += w * s[j] over float rows, widened at run time: 16 lanes with AVX-512, 8 with
// AVX2, else the baseline loop, which GCC vectorises with SSE2 (4 lanes) or leaves scalar (GAITEDGE_NO_SIMD).
//
// Every route computes each element as one rounded product w * s[j] and one rounded sum d[j] + product, as the
// baseline does (the build passes -ffp-contract=off, and no route's target enables FMA), so all give the same bits
// for every finite or infinite value; a NaN stays a NaN (which of two NaN payloads survives is unspecified, as it
// is between the SSE2 and scalar builds). The route follows ATen's CPU capability (cpu/capability.h).
#pragma once

#include <cstdint>
#include <type_traits>

#include "capability.h"

#if defined(GAITEDGE_X86_DISPATCH)
#include <immintrin.h>
#endif

namespace gaitedge {
namespace cpu {

#if defined(GAITEDGE_X86_DISPATCH)
__attribute__((target("avx2"))) inline void axpy_avx2(float* __restrict__ d, const float* __restrict__ s, float w,
                                                       int64_t n) {
  const __m256 vw = _mm256_set1_ps(w);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    _mm256_storeu_ps(d + j, _mm256_add_ps(_mm256_loadu_ps(d + j), _mm256_mul_ps(vw, _mm256_loadu_ps(s + j))));
  }
  for (; j < n; ++j) d[j] += w * s[j];
}

// The ragged end is one masked iteration: masked-off lanes are neither loaded from memory nor stored.
__attribute__((target("avx512f"))) inline void axpy_avx512(float* __restrict__ d, const float* __restrict__ s,
                                                           float w, int64_t n) {
  const __m512 vw = _mm512_set1_ps(w);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    _mm512_storeu_ps(d + j, _mm512_add_ps(_mm512_loadu_ps(d + j), _mm512_mul_ps(vw, _mm512_loadu_ps(s + j))));
  }
  if (j < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - j)) - 1u);
    const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, d + j), _mm512_mul_ps(vw, _mm512_maskz_loadu_ps(m, s + j)));
    _mm512_mask_storeu_ps(d + j, m, v);
  }
}
#endif

// d[j] += w * s[j] for j < n (d and s do not overlap).
template <typename T>
inline void axpy(T* __restrict__ d, const T* __restrict__ s, T w, int64_t n) {
#if defined(GAITEDGE_X86_DISPATCH)
  if constexpr (std::is_same_v<T, float>) {
    switch (row_width()) {
      case RowWidth::kAvx512:
        return axpy_avx512(d, s, w, n);
      case RowWidth::kAvx2:
        return axpy_avx2(d, s, w, n);
      case RowWidth::kBaseline:
        break;
    }
  }
#endif
  for (int64_t j = 0; j < n; ++j) d[j] += w * s[j];
}

}  // namespace cpu
}  // namespace gaitedge
