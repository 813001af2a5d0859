// Small helpers shared by the CUDA kernels (plain C++ without nvcc: align_frame.cuh runs on the host in tests).
#pragma once

#include <c10/macros/Macros.h>

#include <cstdint>

namespace gaitedge {
namespace cuda {

constexpr int kThreads = 256;

template <typename T>
C10_HOST_DEVICE constexpr T ceil_div(T a, T b) {
  return (a + b - 1) / b;
}

// V consecutive elements moved with one 16-byte (or narrower) load/store.
template <typename T, int V>
struct alignas(sizeof(T) * V) Vec {
  T val[V];
};

inline bool is_aligned(const void* p, int bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

}  // namespace cuda
}  // namespace gaitedge
