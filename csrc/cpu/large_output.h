// Allocation of the large outputs the CPU kernels write once, front to back (synthesised frames, input gradients).
//
// glibc serves allocations above 32 MiB with a fresh mmap, so every call of an op that returns, say, a 64 MiB
// gradient takes 16384 page faults (each zeroes 4 KiB, charges the cgroup and updates the LRU) before the kernel
// writes a byte. That was half the time of the CPU gait_edge_align backward. Asking for transparent huge pages on
// the output's 2 MiB-aligned interior replaces them by 32 faults; it is the same hint PyTorch itself gives every
// allocation when THP_MEM_ALLOC_ENABLE=1, given here only to outputs the kernel fills completely (no memory is held
// back that would not be touched). It is a hint: where THP is off ("never") or madvise fails, nothing changes.
// The kernels write these outputs with ordinary stores: non-temporal ones were measured slower, because the fault
// that precedes the first write has just zeroed the destination, so its lines are already in cache.
// It has no switch: measured again at the CPU target point (N = 1024, 128 x 128), it still halves the backward
// (docs/performance-log.md). With THP_MEM_ALLOC_ENABLE=1 PyTorch gives every allocation the hint and this one adds
// nothing.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace gaitedge {
namespace cpu {

// at::empty, plus MADV_HUGEPAGE on the 2 MiB pages that lie wholly inside the new tensor's storage. Only for
// outputs of at least 4 MiB, which the caller writes completely.
inline at::Tensor empty_output(at::IntArrayRef sizes, const at::TensorOptions& options) {
  at::Tensor t = at::empty(sizes, options);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  const uintptr_t bytes = static_cast<uintptr_t>(t.nbytes());
  if (bytes >= 2 * kHuge) {
    const uintptr_t p = reinterpret_cast<uintptr_t>(t.data_ptr());
    const uintptr_t lo = (p + kHuge - 1) & ~(kHuge - 1), hi = (p + bytes) & ~(kHuge - 1);
    if (hi > lo) (void)madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
  }
#endif
  return t;
}

}  // namespace cpu
}  // namespace gaitedge
