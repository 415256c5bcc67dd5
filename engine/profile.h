// Per-op wall-time profile, for bench/ (bench_train prints it).
//
// DNABERT_PROFILE_SCOPE("linear.fwd") at the top of an op's forward function or
// backward closure adds the scope's wall time and one call to the region
// "linear.fwd". Enabled by DNABERT_PROFILE=1 in the environment, read once at
// start-up; when off, a scope costs one predictable branch and no clock read.
// Regions are inclusive (a region timed inside another counts in both) and
// times are wall time of the calling thread: the ops call their kernels'
// parallel regions from inside the scope, so a region's time covers all threads.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace dnabert::engine::profile {

// Set from DNABERT_PROFILE at static initialisation; set_enabled overrides it.
extern bool g_enabled;
inline bool enabled() { return g_enabled; }
void set_enabled(bool on);

struct Region {
  std::string name;
  uint64_t calls = 0;
  double seconds = 0;
};

// Adds one call of `seconds` to region `name` (thread-safe).
void add(const char* name, double seconds);
// Every region so far, most time first.
std::vector<Region> regions();
void reset();

class Scope {
 public:
  explicit Scope(const char* name) : name_(name) {
    if (g_enabled) start_ = std::chrono::steady_clock::now();
  }
  ~Scope() {
    if (g_enabled) add(name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const char* name_;
  std::chrono::steady_clock::time_point start_{};
};

}  // namespace dnabert::engine::profile

#define DNABERT_PROFILE_CONCAT_(a, b) a##b
#define DNABERT_PROFILE_CONCAT(a, b) DNABERT_PROFILE_CONCAT_(a, b)
#define DNABERT_PROFILE_SCOPE(name) \
  ::dnabert::engine::profile::Scope DNABERT_PROFILE_CONCAT(dnabert_profile_scope_, __LINE__)(name)
