// The running CPU's arithmetic peaks, measured, for the "% of peak" columns of
// `make bench`: fp32 FMA, bf16 dot products and int8 dot products, each on
// `threads` threads (OpenMP), with the widest instructions this CPU runs.
//
// Each thread runs a loop of 12 independent accumulator chains of one
// instruction (enough to cover the latency of two FMA pipes on every x86 core
// we run on), so the loop is bound by issue throughput alone:
//   fp32  VFMADD231PS zmm (AVX-512) or ymm (AVX2+FMA): 2 FLOPs per lane
//   bf16  VDPBF16PS zmm (AVX512_BF16): 2 bf16 products summed into each fp32
//         lane, 4 FLOPs per lane. Without AVX512_BF16 our bf16 path computes
//         with fp32 FMAs, so its peak is the fp32 one.
//   int8  VPDPBUSD zmm (AVX512_VNNI) or ymm (AVX-VNNI): 4 u8 x s8 products
//         summed into each int32 lane, 8 ops per lane; else AVX2's
//         VPMADDUBSW + VPMADDWD + VPADDD (the same 4 products per lane in 3
//         instructions).
// Prints KEY=VALUE lines (GFLOP/s or GOP/s) for bench/run.sh, then a summary.
// Usage: bench_peak [threads=2] [seconds per measurement=0.5]
#include <immintrin.h>
// GCC 12's _mm512_reduce_add_* read an uninitialised vector in their own header.
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <omp.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

constexpr int64_t kIters = 1 << 20;  // per timed block; blocks repeat until the time is up

__attribute__((target("avx512f"))) double fp32_avx512(int64_t iters) {
  __m512 a[12];
  const __m512 x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(0.9999999f);
  for (int j = 0; j < 12; ++j) a[j] = _mm512_set1_ps(static_cast<float>(j));
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 12; ++j) a[j] = _mm512_fmadd_ps(a[j], x, y);
  __m512 s = a[0];
  for (int j = 1; j < 12; ++j) s = _mm512_add_ps(s, a[j]);
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) double fp32_avx2(int64_t iters) {
  __m256 a[12];
  const __m256 x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(0.9999999f);
  for (int j = 0; j < 12; ++j) a[j] = _mm256_set1_ps(static_cast<float>(j));
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 12; ++j) a[j] = _mm256_fmadd_ps(a[j], x, y);
  float out[8];
  __m256 s = a[0];
  for (int j = 1; j < 12; ++j) s = _mm256_add_ps(s, a[j]);
  _mm256_storeu_ps(out, s);
  return out[0];
}

// Baseline x86-64: SSE2 multiply and add (no FMA), 4 lanes.
double fp32_sse2(int64_t iters) {
  __m128 a[12];
  const __m128 x = _mm_set1_ps(1.0000001f), y = _mm_set1_ps(0.9999999f);
  for (int j = 0; j < 12; ++j) a[j] = _mm_set1_ps(static_cast<float>(j));
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 12; ++j) a[j] = _mm_add_ps(_mm_mul_ps(a[j], x), y);
  __m128 s = a[0];
  for (int j = 1; j < 12; ++j) s = _mm_add_ps(s, a[j]);
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx512f,avx512bf16"))) double bf16_avx512(int64_t iters) {
  __m512 a[12];
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3f80);
  for (int j = 0; j < 12; ++j) a[j] = _mm512_set1_ps(static_cast<float>(j));
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 12; ++j) a[j] = _mm512_dpbf16_ps(a[j], x, y);
  __m512 s = a[0];
  for (int j = 1; j < 12; ++j) s = _mm512_add_ps(s, a[j]);
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,avx512vnni"))) double int8_avx512vnni(int64_t iters) {
  __m512i a[12];
  const __m512i x = _mm512_set1_epi8(1), y = _mm512_set1_epi8(1);
  for (int j = 0; j < 12; ++j) a[j] = _mm512_set1_epi32(j);
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 12; ++j) a[j] = _mm512_dpbusd_epi32(a[j], x, y);
  __m512i s = a[0];
  for (int j = 1; j < 12; ++j) s = _mm512_add_epi32(s, a[j]);
  return static_cast<double>(_mm512_reduce_add_epi32(s));
}

__attribute__((target("avx2,avxvnni"))) double int8_avxvnni(int64_t iters) {
  __m256i a[12];
  const __m256i x = _mm256_set1_epi8(1), y = _mm256_set1_epi8(1);
  for (int j = 0; j < 12; ++j) a[j] = _mm256_set1_epi32(j);
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 12; ++j) a[j] = _mm256_dpbusd_avx_epi32(a[j], x, y);
  int32_t out[8];
  __m256i s = a[0];
  for (int j = 1; j < 12; ++j) s = _mm256_add_epi32(s, a[j]);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), s);
  return out[0];
}

__attribute__((target("avx2"))) double int8_avx2(int64_t iters) {
  __m256i a[12];
  const __m256i x = _mm256_set1_epi8(1), y = _mm256_set1_epi8(1), ones = _mm256_set1_epi16(1);
  for (int j = 0; j < 12; ++j) a[j] = _mm256_set1_epi32(j);
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 12; ++j)
      a[j] = _mm256_add_epi32(a[j], _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), ones));
  int32_t out[8];
  __m256i s = a[0];
  for (int j = 1; j < 12; ++j) s = _mm256_add_epi32(s, a[j]);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), s);
  return out[0];
}

struct Kernel {
  const char* name;
  double (*run)(int64_t);
  double ops_per_iter;  // per thread, per loop iteration (12 chains)
};

volatile double g_sink;

// Giga-operations per second of `k` on `threads` threads, timed for about `seconds`.
double measure(const Kernel& k, int threads, double seconds) {
  using clock = std::chrono::steady_clock;
  int64_t blocks = 0;
  double elapsed = 0;
  // Warm-up (clocks settle, pages are touched), then whole blocks until the time is up.
#pragma omp parallel num_threads(threads)
  g_sink = k.run(kIters / 8);
  const auto t1 = clock::now();
  do {
#pragma omp parallel num_threads(threads)
    g_sink = k.run(kIters);
    ++blocks;
    elapsed = std::chrono::duration<double>(clock::now() - t1).count();
  } while (elapsed < seconds);
  return static_cast<double>(blocks) * kIters * k.ops_per_iter * threads / elapsed * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 0.5;
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const Kernel fp32 = avx512 ? Kernel{"vfmadd231ps zmm", fp32_avx512, 12 * 16 * 2}
                      : avx2 ? Kernel{"vfmadd231ps ymm", fp32_avx2, 12 * 8 * 2}
                             : Kernel{"mulps+addps xmm", fp32_sse2, 12 * 4 * 2};
  const double p32 = measure(fp32, threads, seconds);
  std::printf("peak_fp32=%.1f\n", p32);
  double pbf16 = p32;
  std::string bf16_how = "no AVX512_BF16: bf16 runs on fp32 FMAs, so its peak is fp32's";
  if (avx512 && __builtin_cpu_supports("avx512bf16")) {
    const Kernel k{"vdpbf16ps zmm", bf16_avx512, 12 * 16 * 4};
    pbf16 = measure(k, threads, seconds);
    bf16_how = k.name;
  }
  std::printf("peak_bf16=%.1f\n", pbf16);
  const Kernel i8 = avx512 && __builtin_cpu_supports("avx512vnni") ? Kernel{"vpdpbusd zmm", int8_avx512vnni, 12 * 16 * 8}
                    : __builtin_cpu_supports("avxvnni")              ? Kernel{"vpdpbusd ymm (AVX-VNNI)", int8_avxvnni, 12 * 8 * 8}
                    : avx2 ? Kernel{"vpmaddubsw+vpmaddwd+vpaddd ymm", int8_avx2, 12 * 8 * 8}
                           : Kernel{"", nullptr, 0};
  const double pi8 = i8.run ? measure(i8, threads, seconds) : 0.0;
  if (i8.run) std::printf("peak_int8=%.1f\n", pi8);
  std::fprintf(stderr, "measured peaks, %d thread%s: fp32 %.1f GFLOP/s (%s); bf16 %.1f GFLOP/s (%s); int8 %s\n",
               threads, threads == 1 ? "" : "s", p32, fp32.name, pbf16, bf16_how.c_str(),
               i8.run ? (std::to_string(static_cast<int>(pi8 + 0.5)) + " GOP/s (" + i8.name + ")").c_str()
                      : "none (no AVX2)");
  return 0;
}
