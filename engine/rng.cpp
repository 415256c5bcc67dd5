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
  uint32_t w[4];
  if ((counter_ & 3) == 0) {
    const uint64_t block = counter_ >> 2;
    const Philox4x32 r = philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                                       static_cast<uint32_t>(stream_), static_cast<uint32_t>(stream_ >> 32),
                                       static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32));
    for (int i = 0; i < 4; ++i) w[i] = r.v[i];
    counter_ += 4;
  } else {
    for (auto& x : w) x = next_u32();
  }
  auto unit = [](uint32_t hi, uint32_t lo) {
    return static_cast<double>(((static_cast<uint64_t>(hi) << 32) | lo) >> 11) * (1.0 / 9007199254740992.0);
  };
  double u1 = unit(w[0], w[1]);
  const double u2 = unit(w[2], w[3]);
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
