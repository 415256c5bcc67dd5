#include "engine/rng.h"

#include <cmath>

namespace dnabert::engine {

uint64_t Rng::below(uint64_t n) {
  if (n <= 1) return 0;
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = next_u64();
  } while (x >= limit);
  return x % n;
}

double Rng::normal() {
  // Two uniform_double()s: words counter .. counter + 3. When those are one
  // Philox block (the counter on a multiple of 4, as in a run of normals from
  // 0), the block is computed once instead of once per word: the same words.
  double u1, u2;
  if ((counter_ & 3) == 0) {
    const Philox4x32 r = philox_block(seed_, stream_, counter_ >> 2);
    counter_ += 4;
    u1 = unit_double((static_cast<uint64_t>(r.v[0]) << 32) | r.v[1]);
    u2 = unit_double((static_cast<uint64_t>(r.v[2]) << 32) | r.v[3]);
  } else {
    u1 = uniform_double();
    u2 = uniform_double();
  }
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

static uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t mix_stream(uint64_t a, uint64_t b, uint64_t c) { return splitmix64(splitmix64(splitmix64(a) ^ b) ^ c); }

}  // namespace dnabert::engine
