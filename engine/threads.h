// The one thread pool: OpenMP's. GEMM and elementwise work both run on it.
//
// parallel_for cuts [0, n) into fixed chunks of `grain` items. The chunks do
// not depend on the thread count, so any per-chunk partial result (see
// reduce_rows_fixed and sum_fixed in ops/common.h) is the same with 1 or 16
// threads.
#pragma once
#include <cstdint>

namespace dnabert::engine {

// Sets the pool size (0 = OMP_NUM_THREADS or all cores). Call once at start-up.
void set_num_threads(int n);
int num_threads();

template <class F>
void parallel_for(int64_t n, int64_t grain, F&& body) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t chunks = (n + grain - 1) / grain;
  if (chunks == 1) {
    body(int64_t{0}, n);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t b = c * grain;
    int64_t e = b + grain < n ? b + grain : n;
    body(b, e);
  }
}

}  // namespace dnabert::engine
