// `sil > threshold` evaluated the way PyTorch evaluates it, so kernels and the reference agree bit for bit:
// a floating silhouette is compared against the threshold cast to the silhouette's own dtype; a bool/uint8
// silhouette is compared as an integer against floor(threshold) (the same result as the float comparison).
// Also the value the interior contributes to Ms: the silhouette value itself for floating sils (OpenGait's
// eroded * sils), 1 for bool/uint8 sils, which are masks.
#pragma once

#include <c10/macros/Macros.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

namespace gaitedge {

template <typename sil_t, typename Enable = void>
struct Binariser;

// bool and uint8 silhouettes.
template <typename sil_t>
struct Binariser<sil_t, std::enable_if_t<std::is_same_v<sil_t, uint8_t> || std::is_same_v<sil_t, bool>>> {
  int32_t t;  // floor(threshold) clamped to [-1, 255]: -1 keeps every pixel, 255 none
  explicit Binariser(double threshold)
      : t(static_cast<int32_t>(std::min(255.0, std::max(-1.0, std::floor(threshold))))) {}
  C10_HOST_DEVICE C10_ALWAYS_INLINE bool operator()(sil_t s) const { return static_cast<int32_t>(s) > t; }
  template <typename opmath_t>
  C10_HOST_DEVICE C10_ALWAYS_INLINE static opmath_t value(sil_t) { return opmath_t(1); }
};

// Floating silhouettes.
template <typename sil_t>
struct Binariser<sil_t, std::enable_if_t<std::is_floating_point_v<sil_t> || std::is_same_v<sil_t, c10::Half> ||
                                         std::is_same_v<sil_t, c10::BFloat16>>> {
  using cmp_t = std::conditional_t<std::is_same_v<sil_t, double>, double, float>;
  cmp_t t;
  explicit Binariser(double threshold) : t(static_cast<cmp_t>(static_cast<sil_t>(threshold))) {}
  C10_HOST_DEVICE C10_ALWAYS_INLINE bool operator()(sil_t s) const { return static_cast<cmp_t>(s) > t; }
  template <typename opmath_t>
  C10_HOST_DEVICE C10_ALWAYS_INLINE static opmath_t value(sil_t s) { return static_cast<opmath_t>(s); }
};

}  // namespace gaitedge
