// Which optional instruction-set routes the CPU kernels take in this process.
//
// The build targets the x86-64 baseline (SSE2). Two routes go beyond it, each in functions compiled for their own
// target (cpu/half_rows.h): F16C conversion of fp16 rows and AVX2 rounding of bf16 rows. PyTorch's CPU capability
// decides whether they run, so one switch governs ATen's vectorised kernels and these: ATEN_CPU_CAPABILITY=default
// keeps both to the baseline, and an unset variable lets ATen pick from the CPU (AVX2 or AVX512 here means both run
// where the CPU has the instructions). Either route gives the baseline's bits.
#pragma once

#include "simd.h"

#if !defined(GAITEDGE_NO_SIMD) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GAITEDGE_X86_DISPATCH 1
#include <ATen/Version.h>
#endif

#include <string>
#include <vector>

namespace gaitedge {
namespace cpu {

#if defined(GAITEDGE_X86_DISPATCH)
// ATen's capability, after ATEN_CPU_CAPABILITY and its own CPU check: "DEFAULT", "NO AVX", "AVX2" or "AVX512".
inline bool aten_allows_avx2() {
  static const bool yes = [] {
    const std::string c = at::get_cpu_capability();
    return c == "AVX2" || c == "AVX512";
  }();
  return yes;
}

inline bool has_f16c() {
  static const bool yes = aten_allows_avx2() && __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
  return yes;
}

inline bool has_avx2() {
  static const bool yes = aten_allows_avx2() && __builtin_cpu_supports("avx2");
  return yes;
}
#else
inline bool has_f16c() { return false; }
inline bool has_avx2() { return false; }
#endif

// The routes beyond the baseline this process takes, for tests and benchmark records.
inline std::vector<std::string> vector_routes() {
  std::vector<std::string> r;
  if (has_f16c()) r.emplace_back("f16c");
  if (has_avx2()) r.emplace_back("avx2");
  return r;
}

}  // namespace cpu
}  // namespace gaitedge
