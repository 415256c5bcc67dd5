// The instruction-level peak of one core: 24 independent accumulator chains
// of VFMADD231PS zmm (16 fp32 multiply-adds) against VDPBF16PS zmm (32 bf16
// multiply-adds into 16 fp32 sums), operands in registers, process CPU time.
// What bench_gemm's "% of peak" columns should be read against: on some CPUs
// VDPBF16PS issues at half the rate of FMA, so bf16 does not double the peak.
// Usage: bench_bf16_peak [iterations=20000000]
#include <immintrin.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>

namespace {

double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

constexpr int kChains = 24;

// Both loops keep kChains accumulators in zmm registers; the empty asm stops
// the compiler from hoisting the loop-invariant products.
__attribute__((target("avx512f,avx512bf16"), noinline)) float dpbf16_loop(long n, float seed) {
  __m512 acc[kChains];
  for (auto& a : acc) a = _mm512_setzero_ps();
  __m512i b = _mm512_castps_si512(_mm512_set1_ps(seed)), c = _mm512_castps_si512(_mm512_set1_ps(2 * seed));
  for (long k = 0; k < n; ++k) {
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i)
      acc[i] = _mm512_dpbf16_ps(acc[i], reinterpret_cast<__m512bh>(b), reinterpret_cast<__m512bh>(c));
    __asm__ volatile("" : "+v"(b));
  }
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,fma"), noinline)) float fma_loop(long n, float seed) {
  __m512 acc[kChains];
  for (auto& a : acc) a = _mm512_setzero_ps();
  __m512 b = _mm512_set1_ps(seed), c = _mm512_set1_ps(2 * seed);
  for (long k = 0; k < n; ++k) {
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(b, c, acc[i]);
    __asm__ volatile("" : "+v"(b));
  }
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}

}  // namespace

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 20000000;
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bf16")) {
    std::printf("this CPU has no AVX-512 with AVX512_BF16\n");
    return 0;
  }
  double t0 = cpu_seconds();
  float sink = fma_loop(n, 1e-3f);
  const double fma = 2.0 * 16 * kChains * n / (cpu_seconds() - t0) / 1e9;
  t0 = cpu_seconds();
  sink += dpbf16_loop(n, 1e-3f);
  const double dp = 2.0 * 32 * kChains * n / (cpu_seconds() - t0) / 1e9;
  std::printf("one core: VFMADD231PS zmm %.1f GFLOP/s, VDPBF16PS zmm %.1f GFLOP/s (bf16/fp32 = %.2f) [%g]\n", fma, dp,
              dp / fma, sink);
  return 0;
}
