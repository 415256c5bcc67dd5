// Arena: a caching allocator for tensor storage.
//
// A training step allocates the same sizes every step. Returning a block to the
// arena keeps it (and its already-faulted pages) for the next request of the
// same size class, so a step never faults its working set in twice. Blocks of
// 2 MiB and more are mmap'ed 2 MiB-aligned and advised MADV_HUGEPAGE.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace dnabert::engine {

struct ArenaStats {
  size_t in_use_bytes = 0;    // handed out now
  size_t peak_bytes = 0;      // the most ever handed out at once
  size_t reserved_bytes = 0;  // obtained from the OS (in use + cached)
  uint64_t allocations = 0;   // requests served
  uint64_t cache_hits = 0;    // requests served from the cache
};

class Arena;

// The arena's state lives behind a shared_ptr held by every live block, so a
// tensor that outlives its Arena object still frees its memory correctly.
struct ArenaState {
  std::mutex mutex;
  std::map<size_t, std::vector<void*>> cache;  // size class -> free blocks
  ArenaStats stats;
  bool closed = false;  // the Arena object is gone: free blocks instead of caching them
};

class Arena {
 public:
  static constexpr size_t kHugePageBytes = size_t{2} << 20;
  static constexpr size_t kAlignment = 64;

  Arena() : state_(std::make_shared<ArenaState>()) {}
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // A block of at least `bytes` bytes, 64-byte aligned (2 MiB-aligned when big).
  void* allocate(size_t bytes);
  // Gives a block back to the cache. `bytes` is what allocate() was asked for.
  void release(void* ptr, size_t bytes) { release(*state_, ptr, bytes); }
  static void release(ArenaState& state, void* ptr, size_t bytes);
  const std::shared_ptr<ArenaState>& state() const { return state_; }
  // Returns every cached block to the OS.
  void trim();

  ArenaStats stats() const;
  void reset_peak();

  // The size class a request is rounded up to (exposed for tests).
  static size_t size_class(size_t bytes);

 private:
  friend class Storage;  // heap blocks of 2 MiB and more come from os_allocate too
  static void* os_allocate(size_t class_bytes);
  static void os_release(void* ptr, size_t class_bytes);

  std::shared_ptr<ArenaState> state_;
};

// Storage: one arena block (or a heap block when no arena is given).
// Tensors share it through shared_ptr; the last owner returns the block.
// Heap blocks of 2 MiB and more are mmap'ed and advised MADV_HUGEPAGE like
// the arena's: the parameters, gradients and Adam moments live there. On
// 4 KiB pages (aligned_alloc) the first touch of each page faults, and every
// pass over them (the optimizer step reads all three) misses the TLB 512
// times as often as on 2 MiB pages.
class Storage {
 public:
  Storage(size_t bytes, Arena* arena);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  std::shared_ptr<ArenaState> arena_;
};

}  // namespace dnabert::engine
