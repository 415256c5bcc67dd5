// Attention alone (ops::attention, flash-style), forward in inference mode and
// forward + backward in training mode (dropout 0.1 on the probabilities), on
// [B, T, H] inputs with NH heads and no padding: median wall time of `reps`
// calls after one warm-up. bench/RESULTS.md ("Attention") has its figures;
// to judge a change, run the old and new builds alternately.
// Usage: bench_attention B T H NH [reps=9] [threads=2] [infer: the inference
// forward only, for profiling it alone]
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/arena.h"
#include "engine/rng.h"
#include "engine/tape.h"
#include "engine/threads.h"
#include "ops/ops.h"

namespace {

using dnabert::engine::Arena;
using dnabert::engine::Tape;
using dnabert::engine::Tensor;

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: bench_attention B T H NH [reps=9] [threads=2] [infer]\n");
    return 2;
  }
  const int64_t B = std::atol(argv[1]), T = std::atol(argv[2]), H = std::atol(argv[3]);
  const int NH = std::atoi(argv[4]), reps = argc > 5 ? std::atoi(argv[5]) : 9;
  const int threads = argc > 6 ? std::atoi(argv[6]) : 2;
  const bool infer_only = argc > 7 && std::strcmp(argv[7], "infer") == 0;
  if (B <= 0 || T <= 0 || H <= 0 || NH <= 0 || H % NH != 0 || reps <= 0 || threads <= 0) {
    std::fprintf(stderr, "bench_attention: need positive B, T, H, NH, reps, threads and H divisible by NH\n");
    return 2;
  }
  dnabert::engine::set_num_threads(threads);
  Arena arena;
  std::vector<float> values(static_cast<size_t>(B * T * H));
  auto make = [&](uint32_t seed) {
    for (size_t i = 0; i < values.size(); ++i)
      values[i] = static_cast<float>(((i + seed) * 2654435761u) % 2000) / 1000.0f - 1.0f;
    return Tensor::from_vector({B, T, H}, values, &arena);
  };
  Tensor q = make(1), k = make(7), v = make(13), dout = make(21);
  const dnabert::engine::Rng rng(1, 2);
  std::vector<double> infer, fwd, bwd;
  for (int r = -1; r < reps; ++r) {
    Tape tape(arena, Tape::Mode::Inference);
    const double t0 = now();
    Tensor o = dnabert::ops::attention(tape, q, k, v, NH, Tensor(), 0.1f, rng);
    if (r >= 0) infer.push_back(now() - t0);
  }
  for (Tensor* t : {&q, &k, &v}) t->set_requires_grad(true);
  for (int r = -1; !infer_only && r < reps; ++r) {
    for (Tensor* t : {&q, &k, &v}) t->meta()->grad = Tensor();
    Tape tape(arena);
    const double t0 = now();
    Tensor o = dnabert::ops::attention(tape, q, k, v, NH, Tensor(), 0.1f, rng);
    const double t1 = now();
    tape.backward(o, dout);
    const double t2 = now();
    if (r >= 0) fwd.push_back(t1 - t0), bwd.push_back(t2 - t1);
  }
  const double flop = 4.0 * static_cast<double>(B * T) * static_cast<double>(T * H);  // q·kᵀ and P·v
  std::printf("attention B %lld T %lld H %lld heads %d, %d threads, medians of %d: inference forward %.2f ms "
              "(%.1f GFLOP/s)",
              static_cast<long long>(B), static_cast<long long>(T), static_cast<long long>(H), NH, threads, reps,
              1e3 * median(infer), flop / median(infer) / 1e9);
  if (!infer_only) std::printf("; training forward %.2f ms, backward %.2f ms", 1e3 * median(fwd), 1e3 * median(bwd));
  std::printf("\n");
  return 0;
}
