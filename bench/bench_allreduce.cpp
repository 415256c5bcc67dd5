// How long does the fixed-order gradient allreduce take for a model of P
// parameters? Run under mpirun: `mpirun -np 2 build/bench_allreduce [P] [repeats]`.
// Prints, on rank 0, the median wall time per call and the bus bandwidth
// 2(N-1)/N · 4P bytes / time (what a ring or our halving/doubling sends per rank).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "engine/distributed.h"
#include "engine/tensor.h"

using namespace dnabert;

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 89196560;  // the base preset's parameters
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 5;
  engine::dist::start_job();
  return [&] {
    const int N = engine::dist::size(), r = engine::dist::rank();
    engine::Tensor g = engine::Tensor::empty({n});
    std::vector<double> seconds;
    for (int rep = 0; rep <= repeats; ++rep) {  // the first call is a warm-up
      std::fill(g.f32(), g.f32() + n, static_cast<float>(r + 1));
      engine::dist::barrier();
      const auto t0 = std::chrono::steady_clock::now();
      engine::dist::allreduce_pairwise(g.f32(), n);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (rep > 0) seconds.push_back(s);
      const float want = static_cast<float>(N * (N + 1) / 2);
      if (g.f32()[0] != want || g.f32()[n - 1] != want || g.f32()[n / 2] != want) {
        std::fprintf(stderr, "bench_allreduce: rank %d: wrong sum %g, expected %g\n", r, g.f32()[0], want);
        return 1;
      }
    }
    std::sort(seconds.begin(), seconds.end());
    const double t = seconds[seconds.size() / 2];
    const double bus = 2.0 * (N - 1) / N * 4.0 * static_cast<double>(n);
    if (engine::dist::is_lead())
      std::printf("allreduce of %lld floats (%.1f MB) on %d ranks: median %.3f s over %d calls, bus bandwidth %.2f GB/s\n",
                  static_cast<long long>(n), 4e-6 * static_cast<double>(n), N, t, repeats, bus / t * 1e-9);
    return 0;
  }();
}
