#include "block_cache.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <c10/util/Exception.h>
#include <pthread.h>

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace gaitedge::cpu {
namespace {

constexpr std::size_t kGranule = std::size_t{64} << 10;  // cached sizes are rounded up to this
constexpr std::uint8_t kPriority = 0;                      // the default CPU allocator's

class BlockCache final : public c10::Allocator {
 public:
  // Never destroyed: tensors may outlive everything else and still call deallocate.
  static BlockCache& get() {
    static BlockCache* cache = new BlockCache();
    return *cache;
  }

  c10::DataPtr allocate(std::size_t n) override {
    void* p = nullptr;
    std::size_t size = n;
    bool hit = false;
    std::vector<void*> evicted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (n >= min_block_ && n > 0) {
        size = (n + kGranule - 1) / kGranule * kGranule;
        auto it = free_.find(size);
        if (it != free_.end() && !it->second.empty()) {
          p = it->second.back().second;  // the most recently freed block of this size: the warmest
          age_.erase(it->second.back().first);
          it->second.pop_back();
          cached_bytes_ -= size;
          --cached_blocks_;
          hit = true;
          ++hits_;
        } else {
          ++misses_;
        }
      }
      if (!hit && size > 0) {
        // live + cached stays within the peak of live bytes alone (or the minimum budget): free the blocks cached
        // longest ago first
        const std::size_t live = live_bytes_ + size;
        const std::size_t bound = std::max({peak_live_bytes_, live, min_budget_});
        while (cached_bytes_ > 0 && live + cached_bytes_ > bound) evicted.push_back(evict_oldest());
      }
    }
    for (void* q : evicted) c10::free_cpu(q);
    if (!hit && size > 0) {
      try {
        p = c10::alloc_cpu(size);
      } catch (const c10::Error&) {
        if (release() == 0) throw;  // out of memory with nothing cached: the allocator's own error, with the size
        p = c10::alloc_cpu(size);   // the cached blocks were in the way
      }
    }
    if (p != nullptr) {
      std::lock_guard<std::mutex> lock(mu_);
      live_.emplace(p, size);
      live_bytes_ += size;
      peak_live_bytes_ = std::max(peak_live_bytes_, live_bytes_);
      report(p, static_cast<std::int64_t>(size));
    }
    return {p, p, &deallocate, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &deallocate; }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

  void enable(std::size_t min_block, std::size_t max_cached, std::size_t min_budget) {
    std::lock_guard<std::mutex> lock(mu_);
    if (users_ == 0) {
      c10::Allocator* current = c10::GetCPUAllocator();
      c10::SetCPUAllocator(this, kPriority);
      TORCH_CHECK(c10::GetCPUAllocator() == this,
                  "the CPU block cache cannot be installed: another CPU allocator with a higher priority is in use");
      previous_ = current == this ? c10::GetDefaultCPUAllocator() : current;
      min_block_ = min_block;
      max_cached_ = max_cached;
      min_budget_ = min_budget;
      peak_live_bytes_ = live_bytes_ + cached_bytes_;  // a new session's peak; blocks kept from the last count
    }
    ++users_;
  }

  void disable(bool release) {
    std::vector<void*> drop;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (users_ == 0) return;
      if (--users_ > 0) return;
      c10::SetCPUAllocator(previous_, kPriority);
      if (release) take_all(drop);  // else the cached blocks wait for the next enable (or block_cache_release)
    }
    for (void* p : drop) c10::free_cpu(p);
  }

  std::size_t release() {
    std::vector<void*> drop;
    std::size_t bytes;
    {
      std::lock_guard<std::mutex> lock(mu_);
      bytes = take_all(drop);
    }
    for (void* p : drop) c10::free_cpu(p);
    return bytes;
  }

  BlockCacheStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    BlockCacheStats s;
    s.enabled = users_ > 0;
    s.min_block = min_block_;
    s.max_cached = max_cached_;
    s.min_budget = min_budget_;
    s.live_bytes = live_bytes_;
    s.peak_live_bytes = peak_live_bytes_;
    s.evicted_bytes = evicted_bytes_;
    s.cached_bytes = cached_bytes_;
    s.cached_blocks = cached_blocks_;
    s.peak_cached_bytes = peak_cached_bytes_;
    s.hits = hits_;
    s.misses = misses_;
    s.released_bytes = released_bytes_;
    return s;
  }

  // fork() while another thread holds the lock would leave the child's copy locked forever
  static void before_fork() { get().mu_.lock(); }
  static void after_fork() { get().mu_.unlock(); }

 private:
  BlockCache() { pthread_atfork(&before_fork, &after_fork, &after_fork); }

  static void deallocate(void* p) {
    if (p == nullptr) return;
    BlockCache& c = get();
    bool keep = false;
    {
      std::lock_guard<std::mutex> lock(c.mu_);
      auto it = c.live_.find(p);
      if (it != c.live_.end()) {
        const std::size_t size = it->second;
        c.live_.erase(it);
        c.live_bytes_ -= size;
        c.report(p, -static_cast<std::int64_t>(size));
        if (c.users_ > 0 && size >= c.min_block_ && c.cached_bytes_ + size <= c.max_cached_) {
          const std::uint64_t seq = c.next_seq_++;
          c.free_[size].emplace_back(seq, p);
          c.age_.emplace(seq, size);
          c.cached_bytes_ += size;
          ++c.cached_blocks_;
          if (c.cached_bytes_ > c.peak_cached_bytes_) c.peak_cached_bytes_ = c.cached_bytes_;
          keep = true;
        }
      }
    }
    if (!keep) c10::free_cpu(p);
  }

  // under mu_: the profiler sees the cache as the default CPU allocator's reporter would show it
  void report(void* p, std::int64_t delta) const {
    if (c10::memoryProfilingEnabled()) {
      c10::reportMemoryUsageToProfiler(p, delta, live_bytes_, live_bytes_ + cached_bytes_,
                                       c10::Device(c10::DeviceType::CPU));
    }
  }

  // under mu_: takes the block cached longest ago out of the cache; the caller frees it
  void* evict_oldest() {
    const auto oldest = age_.begin();
    auto& blocks = free_[oldest->second];  // in the order they were freed, so this one is at the front
    void* p = blocks.front().second;
    blocks.pop_front();
    cached_bytes_ -= oldest->second;
    --cached_blocks_;
    evicted_bytes_ += oldest->second;
    age_.erase(oldest);
    return p;
  }

  // under mu_: empties the free lists into `out`; returns their bytes
  std::size_t take_all(std::vector<void*>& out) {
    for (auto& kv : free_) {
      for (auto& block : kv.second) out.push_back(block.second);
    }
    free_.clear();
    age_.clear();
    const std::size_t bytes = cached_bytes_;
    released_bytes_ += bytes;
    cached_bytes_ = 0;
    cached_blocks_ = 0;
    return bytes;
  }

  std::mutex mu_;
  std::unordered_map<void*, std::size_t> live_;                // every block handed out: its (rounded) size
  // cached blocks by size, each list in the order they were freed (a sequence number each), and every cached
  // block's sequence number -> size, oldest first
  std::unordered_map<std::size_t, std::deque<std::pair<std::uint64_t, void*>>> free_;
  std::map<std::uint64_t, std::size_t> age_;
  std::uint64_t next_seq_ = 0;
  c10::Allocator* previous_ = nullptr;
  int users_ = 0;
  std::size_t min_block_ = 0, max_cached_ = 0, min_budget_ = 0;
  std::size_t live_bytes_ = 0, peak_live_bytes_ = 0, cached_bytes_ = 0, cached_blocks_ = 0, peak_cached_bytes_ = 0;
  std::uint64_t hits_ = 0, misses_ = 0, released_bytes_ = 0, evicted_bytes_ = 0;
};

}  // namespace

void block_cache_enable(std::size_t min_block, std::size_t max_cached, std::size_t min_budget) {
  BlockCache::get().enable(min_block, max_cached, min_budget);
}
void block_cache_disable(bool release) { BlockCache::get().disable(release); }
std::size_t block_cache_release() { return BlockCache::get().release(); }
BlockCacheStats block_cache_stats() { return BlockCache::get().stats(); }

}  // namespace gaitedge::cpu
