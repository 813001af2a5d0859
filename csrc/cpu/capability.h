// Which optional instruction-set routes the CPU kernels take in this process.
//
// The build targets the x86-64 baseline (SSE2). The routes beyond it live in functions compiled for their own
// target: F16C conversion of fp16 rows and AVX2 rounding of bf16 rows (cpu/half_rows.h), and the float row loops
// 8 lanes wide with AVX2 or 16 lanes wide with AVX-512 (cpu/float_rows.h, cpu/edge_rows.h). PyTorch's CPU
// capability decides which run, so one switch governs ATen's vectorised kernels and these:
// ATEN_CPU_CAPABILITY=default keeps both to the baseline, avx2 allows the F16C and AVX2 routes, and an unset
// variable lets ATen pick from the CPU (AVX512 then adds the AVX-512 route where the CPU has AVX-512 F, BW and VL).
// Every route gives the baseline's bits.
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

inline bool has_avx512() {
  static const bool yes = at::get_cpu_capability() == "AVX512" && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  return yes;
}
#else
inline bool has_f16c() { return false; }
inline bool has_avx2() { return false; }
inline bool has_avx512() { return false; }
#endif

// The widest route the float row loops take: 16 lanes (AVX-512), 8 (AVX2) or the baseline's 4 (SSE2) / scalar.
// Decided once, when the extension is loaded (ATen is loaded and initialised before it), into a plain constant: the
// row loops test it once per row, and a function-local static would add its initialisation guard to every test.
enum class RowWidth { kBaseline, kAvx2, kAvx512 };
inline const RowWidth kRowWidth =
    has_avx512() ? RowWidth::kAvx512 : has_avx2() ? RowWidth::kAvx2 : RowWidth::kBaseline;
inline RowWidth row_width() { return kRowWidth; }

// The routes beyond the baseline this process takes, for tests and benchmark records.
inline std::vector<std::string> vector_routes() {
  std::vector<std::string> r;
  if (has_f16c()) r.emplace_back("f16c");
  if (has_avx2()) r.emplace_back("avx2");
  if (has_avx512()) r.emplace_back("avx512");
  return r;
}

}  // namespace cpu
}  // namespace gaitedge
