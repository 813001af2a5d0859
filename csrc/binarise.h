// `sil > threshold` evaluated the way PyTorch evaluates it, so kernels and the reference agree bit for bit:
// a floating silhouette is compared against the threshold cast to the silhouette's own dtype; a bool/uint8
// silhouette is compared in PyTorch's default dtype (float32 unless changed), so the threshold is first rounded
// to it (0.99999999999 is 1.0f, and 1 > 1.0f is false), then compared as an integer against the floor of that.
// Also the value the interior contributes to Ms: the silhouette value itself for floating sils (OpenGait's
// eroded * sils), 1 for bool/uint8 sils, which are masks.
#pragma once

#include <c10/core/DefaultDtype.h>
#include <c10/core/ScalarType.h>
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

// The threshold as PyTorch's comparison of an integer tensor with a Python float sees it: rounded to the default
// dtype, then floored (v > t <=> v > floor(t) for an integer v), clamped to [-1, 255]: -1 keeps every pixel, 255 none.
inline int32_t integer_threshold(double threshold) {
  double t = threshold;
  switch (c10::get_default_dtype_as_scalartype()) {
    case c10::ScalarType::Float:
      t = static_cast<float>(threshold);
      break;
    case c10::ScalarType::Half:
      t = static_cast<float>(c10::Half(static_cast<float>(threshold)));
      break;
    case c10::ScalarType::BFloat16:
      t = static_cast<float>(c10::BFloat16(static_cast<float>(threshold)));
      break;
    default:  // float64
      break;
  }
  return static_cast<int32_t>(std::min(255.0, std::max(-1.0, std::floor(t))));
}

// bool and uint8 silhouettes.
template <typename sil_t>
struct Binariser<sil_t, std::enable_if_t<std::is_same_v<sil_t, uint8_t> || std::is_same_v<sil_t, bool>>> {
  int32_t t;  // integer_threshold(threshold)
  explicit Binariser(double threshold) : t(integer_threshold(threshold)) {}
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
