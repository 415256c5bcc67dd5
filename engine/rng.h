// Counter-based random numbers: value i of stream s under seed k is a pure
// function of (k, s, i), so results never depend on threading or call order.
#pragma once
#include <cstdint>

namespace dnabert::engine {

#include "engine/philox_core.inc"

// A (seed, stream) pair names an independent random sequence. The counter is
// the position in it. Rng keeps a cursor for sequential use (sampling, init).
class Rng {
 public:
  Rng(uint64_t seed = 0, uint64_t stream = 0, uint64_t counter = 0)
      : seed_(seed), stream_(stream), counter_(counter) {}

  uint64_t seed() const { return seed_; }
  uint64_t stream() const { return stream_; }
  uint64_t counter() const { return counter_; }
  void set_counter(uint64_t c) { counter_ = c; }

  uint32_t next_u32() { return philox_word(seed_, stream_, counter_++); }
  uint64_t next_u64() {
    uint64_t hi = next_u32();
    return (hi << 32) | next_u32();
  }
  // Uniform in [0, 1).
  float uniform() { return static_cast<float>(next_u32() >> 8) * (1.0f / 16777216.0f); }
  double uniform_double() { return unit_double(next_u64()); }
  // Uniform integer in [0, n), without modulo bias.
  uint64_t below(uint64_t n);
  // Standard normal (Box-Muller on two uniform_double()s): it takes words
  // counter .. counter + 3, so normal j of a run from counter c uses c + 4j.
  double normal();

 private:
  // The top 53 bits of x as a double in [0, 1).
  static double unit_double(uint64_t x) { return static_cast<double>(x >> 11) * (1.0 / 9007199254740992.0); }

  uint64_t seed_, stream_, counter_;
};

// Derives a stream id from a few integers (e.g. step, layer, site) by mixing.
uint64_t mix_stream(uint64_t a, uint64_t b = 0, uint64_t c = 0);

}  // namespace dnabert::engine
