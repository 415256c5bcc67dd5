#include "engine/arena.h"

#include <sys/mman.h>

#include <cstdlib>
#include <new>
#include <string>

#include "base/error.h"

namespace dnabert::engine {

size_t Arena::size_class(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= 4096) return (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (bytes >= kHugePageBytes) return (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  // Four classes per doubling between 4 KiB and 2 MiB: at most 25% slack.
  size_t pow = size_t{1} << (63 - __builtin_clzll(bytes - 1));  // largest power of two < bytes
  size_t step = pow / 4;
  return (bytes + step - 1) / step * step;
}

void* Arena::os_allocate(size_t class_bytes) {
  if (class_bytes >= kHugePageBytes) {
    // Over-map by one huge page, then trim so the block starts on a 2 MiB boundary.
    size_t span = class_bytes + kHugePageBytes;
    void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    auto base = reinterpret_cast<uintptr_t>(raw);
    uintptr_t aligned = (base + kHugePageBytes - 1) & ~(uintptr_t{kHugePageBytes} - 1);
    if (aligned > base) munmap(raw, aligned - base);
    uintptr_t end = aligned + class_bytes;
    if (base + span > end) munmap(reinterpret_cast<void*>(end), base + span - end);
    madvise(reinterpret_cast<void*>(aligned), class_bytes, MADV_HUGEPAGE);
    return reinterpret_cast<void*>(aligned);
  }
  void* p = nullptr;
  if (posix_memalign(&p, kAlignment, class_bytes) != 0) throw std::bad_alloc();
  return p;
}

void Arena::os_release(void* ptr, size_t class_bytes) {
  if (class_bytes >= kHugePageBytes)
    munmap(ptr, class_bytes);
  else
    std::free(ptr);
}

Arena::~Arena() {
  trim();
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->closed = true;
}

void* Arena::allocate(size_t bytes) {
  size_t cls = size_class(bytes);
  ArenaState& st = *state_;
  std::lock_guard<std::mutex> lock(st.mutex);
  ++st.stats.allocations;
  void* p = nullptr;
  auto it = st.cache.find(cls);
  if (it != st.cache.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    ++st.stats.cache_hits;
  } else {
    p = os_allocate(cls);
    st.stats.reserved_bytes += cls;
  }
  st.stats.in_use_bytes += cls;
  if (st.stats.in_use_bytes > st.stats.peak_bytes) st.stats.peak_bytes = st.stats.in_use_bytes;
  return p;
}

void Arena::release(ArenaState& st, void* ptr, size_t bytes) {
  if (!ptr) return;
  size_t cls = size_class(bytes);
  std::lock_guard<std::mutex> lock(st.mutex);
  st.stats.in_use_bytes -= cls;
  if (st.closed) {
    os_release(ptr, cls);
    st.stats.reserved_bytes -= cls;
  } else {
    st.cache[cls].push_back(ptr);
  }
}

void Arena::trim() {
  ArenaState& st = *state_;
  std::lock_guard<std::mutex> lock(st.mutex);
  for (auto& [cls, blocks] : st.cache) {
    for (void* p : blocks) os_release(p, cls);
    st.stats.reserved_bytes -= cls * blocks.size();
  }
  st.cache.clear();
}

ArenaStats Arena::stats() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->stats;
}

void Arena::reset_peak() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->stats.peak_bytes = state_->stats.in_use_bytes;
}

Storage::Storage(size_t bytes, Arena* arena) : bytes_(bytes) {
  if (arena) {
    arena_ = arena->state();
    data_ = arena->allocate(bytes);
  } else if (bytes >= Arena::kHugePageBytes) {
    data_ = Arena::os_allocate(Arena::size_class(bytes));
  } else {
    size_t rounded = (bytes + Arena::kAlignment - 1) / Arena::kAlignment * Arena::kAlignment;
    if (rounded == 0) rounded = Arena::kAlignment;
    data_ = std::aligned_alloc(Arena::kAlignment, rounded);
    if (!data_) throw std::bad_alloc();
  }
}

Storage::~Storage() {
  if (arena_)
    Arena::release(*arena_, data_, bytes_);
  else if (bytes_ >= Arena::kHugePageBytes)
    Arena::os_release(data_, Arena::size_class(bytes_));
  else
    std::free(data_);
}

}  // namespace dnabert::engine
