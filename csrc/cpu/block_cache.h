// A CPU allocator that keeps freed large blocks and hands them out again, so large tensors reuse warm pages.
//
// glibc serves every block above its mmap threshold (at most 32 MiB) with fresh pages and unmaps it on free; the
// kernel then zeroes each page on first touch, which costs as much as the kernel that writes the tensor. A
// training step or a batched forward allocates the same large shapes call after call, so keeping those blocks
// removes the faults without changing any value computed. Installed with c10::SetCPUAllocator while enabled
// (enable/disable nest); blocks of at least `min_block` bytes are cached by size (rounded up to 64 KiB) up to
// `max_cached` bytes; smaller ones go straight to c10::alloc_cpu / free_cpu. Live + cached bytes stay within the
// larger of the peak of live bytes and `min_budget`: before a fresh block is allocated, the blocks cached longest
// ago are freed until they fit. A training step holds its activations for the backward, so its peak covers the
// blocks the next step reuses; a forward pass frees each activation soon after, and its blocks need the budget.
// An allocation that fails frees the
// cached blocks and tries once more. Every allocation is reported to the torch profiler as the default CPU
// allocator's are, so memory measurements keep working.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gaitedge::cpu {

struct BlockCacheStats {
  bool enabled = false;
  std::size_t min_block = 0, max_cached = 0, min_budget = 0;
  std::size_t live_bytes = 0, peak_live_bytes = 0, cached_bytes = 0, cached_blocks = 0, peak_cached_bytes = 0;
  std::uint64_t hits = 0, misses = 0, released_bytes = 0, evicted_bytes = 0;
};

// Installs the cache as the CPU allocator (or, when already enabled, only counts one more user). Throws
// c10::Error when another CPU allocator with a higher priority is installed.
void block_cache_enable(std::size_t min_block, std::size_t max_cached, std::size_t min_budget);
// One user fewer; the last one restores the allocator that was installed before and, with `release`, frees the
// cached blocks (else they wait for the next enable). Blocks still in use are freed, not cached, when their
// tensors die while the cache is off.
void block_cache_disable(bool release);
// Frees every cached block now; returns the bytes freed.
std::size_t block_cache_release();
BlockCacheStats block_cache_stats();

}  // namespace gaitedge::cpu
