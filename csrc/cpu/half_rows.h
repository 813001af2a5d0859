// Rows of c10::Half to float and back with the F16C instructions, when the CPU has them.
//
// The extension is built for the x86-64 baseline (SSE2), which cannot convert half precision: c10::Half then
// converts in software, about ten instructions per value, and that was a third of the CPU gait_edge_align time for
// fp16 prob. These functions are compiled for AVX + F16C on their own (a target attribute, not a build flag) and
// are called only after a run-time check, so the build still runs on any x86-64 CPU. The conversions are exact
// where c10's are: half -> float is exact, and float -> half rounds to nearest even, as c10::Half(float) does (NaN
// payloads aside).
#pragma once

#include <c10/util/Half.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define GAITEDGE_F16C_DISPATCH 1
#endif

namespace gaitedge {
namespace cpu {

#if defined(GAITEDGE_F16C_DISPATCH)
// GAITEDGE_CPU_F16C=0 turns the F16C path off (to compare the two paths, which must agree bit for bit).
inline bool has_f16c() {
  static const bool yes = [] {
    const char* v = std::getenv("GAITEDGE_CPU_F16C");
    return (v == nullptr || std::strcmp(v, "0") != 0) && __builtin_cpu_supports("avx") &&
           __builtin_cpu_supports("f16c");
  }();
  return yes;
}

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
#else
inline bool has_f16c() { return false; }
inline void half_to_float_f16c(const c10::Half*, float*, int64_t) {}
inline void float_to_half_f16c(const float*, c10::Half*, int64_t) {}
#endif

}  // namespace cpu
}  // namespace gaitedge
