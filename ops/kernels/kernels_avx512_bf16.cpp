// The native bf16 GEMM: A and B rounded to bf16 (VCVTNE2PS2BF16, round to
// nearest even) while packing, products summed in fp32 by VDPBF16PS, on the
// driver of gemm_driver.inc. Compiled with AVX-512 + AVX512_BF16 flags (see
// CMakeLists.txt); dispatch.cpp calls it only where the CPU has AVX512_BF16.
//
// Packed panels hold bf16 pairs: one 32-bit element = op(X)[., k] in its low
// half and op(X)[., k + 1] in its high half, k even; a slice of odd depth
// ends with a pair whose high half is 0. VDPBF16PS multiplies a broadcast A
// pair by 16 B pairs and adds both products to the 16 fp32 accumulators.
#include <immintrin.h>
#include <omp.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <xsimd/xsimd.hpp>

#include "ops/kernels/kernels.h"

namespace dnabert::ops::kernels {
namespace isa_avx512_bf16 {

using Arch = xsimd::avx512f;
#include "ops/kernels/kernels_xsimd.inc"

constexpr int64_t W = static_cast<int64_t>(F::size);
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

#include "ops/kernels/gemm_driver.inc"

// bf16 panels are half the bytes of fp32 ones: twice the K depth per slice
// keeps the same L2 footprint (docs/bf16.md has bench_gemm's bf16 figures).
constexpr int64_t kKCMaxBf16 = 1536;

inline __mmask16 first_n(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// 16 pairs (r0[c], r1[c]) for the columns c set in m, zero elsewhere; r1 may
// be null (an odd slice's last k: high halves 0).
inline __m512i pairs_of_rows(const float* r0, const float* r1, __mmask16 m) {
  const __m512 x0 = _mm512_maskz_loadu_ps(m, r0);
  const __m512 x1 = r1 ? _mm512_maskz_loadu_ps(m, r1) : _mm512_setzero_ps();
  // cvtne2ps gives words 0-15 = x0 and 16-31 = x1; interleave them.
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                                              6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(interleave, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(x1, x0)));
}

// The first n ≤ 32 floats of a contiguous run as ⌈n / 2⌉ pairs (s[2i], s[2i+1]), zero-padded.
inline __m512i pairs_of_run(const float* s, int64_t n) {
  const __m512 lo = _mm512_maskz_loadu_ps(first_n(n), s);
  const __m512 hi = _mm512_maskz_loadu_ps(first_n(n - 16), s + 16);
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));
}

// Pairs of a run of kc floats (a row of A, or a column of op(B) = Bᵀ) written
// `stride` elements apart: dst[p · stride] = pair p.
inline void scatter_run(const float* s, int64_t kc, uint32_t* dst, int64_t stride) {
  const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                         _mm512_set1_epi32(static_cast<int>(stride)));
  for (int64_t q = 0; q < kc; q += 32)
    _mm512_mask_i32scatter_epi32(dst + q / 2 * stride, first_n((kc - q + 1) / 2), idx, pairs_of_run(s + q, kc - q),
                                 4);
}

struct Bf16Panels {
  using T = uint32_t;
  static constexpr int64_t kStep = 2;
  static constexpr bool kEpilogue = false;  // gemm_bias is fp32 only
  static constexpr bool kTileSmall = false;  // gemm_tile is fp32
  static int64_t k_block(int64_t K) { return k_block_of(K, kKCMaxBf16, 2); }

  // dst[p · kNR + c] = pair (op(B)[k0 + 2p, j0 + c], op(B)[k0 + 2p + 1, j0 + c]), zero for c ≥ nr.
  // `stream`: non-temporal stores (dst is 64-byte aligned), for a B from memory.
  static void pack_b(bool tb, const float* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t nr,
                     uint32_t* dst, bool stream) {
    const int64_t kp = (kc + 1) / 2;
    if (!tb) {
      for (int64_t p = 0; p < kp; ++p) {
        const float* r0 = B + (k0 + 2 * p) * ldb + j0;
        const float* r1 = 2 * p + 1 < kc ? r0 + ldb : nullptr;
#pragma GCC unroll 2
        for (int64_t v = 0; v < kNV; ++v) {
          const __m512i x = pairs_of_rows(r0 + v * W, r1 ? r1 + v * W : nullptr, first_n(nr - v * W));
          if (stream)
            _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + p * kNR + v * W), x);
          else
            _mm512_storeu_si512(dst + p * kNR + v * W, x);
        }
      }
      return;
    }
    for (int64_t c = 0; c < nr; ++c) scatter_run(B + (j0 + c) * ldb + k0, kc, dst + c, kNR);
    for (int64_t p = 0; p < kp; ++p)
      for (int64_t c = nr; c < kNR; ++c) dst[p * kNR + c] = 0;
  }

  // Panel i / kMR at dst + i · kp (kp = ⌈kc / 2⌉), pair (r, p) at [p · kMR + r], zero rows past mc.
  static void pack_a(bool ta, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t k0, int64_t kc,
                     uint32_t* dst) {
    const int64_t kp = (kc + 1) / 2;
    for (int64_t i = 0; i < mc; i += kMR) {
      uint32_t* d = dst + i * kp;
      const int64_t mr = imin(kMR, mc - i);
      if (ta) {  // A is [K, M]: rows k and k + 1 hold the pair halves of kMR consecutive i
        for (int64_t p = 0; p < kp; ++p) {
          const float* r0 = A + (k0 + 2 * p) * lda + i0 + i;
          _mm512_mask_storeu_epi32(d + p * kMR, first_n(kMR),
                                   pairs_of_rows(r0, 2 * p + 1 < kc ? r0 + lda : nullptr, first_n(mr)));
        }
        continue;
      }
      for (int64_t r = 0; r < mr; ++r) scatter_run(A + (i0 + i + r) * lda + k0, kc, d + r, kMR);
      for (int64_t r = mr; r < kMR; ++r)
        for (int64_t p = 0; p < kp; ++p) d[p * kMR + r] = 0;
    }
  }

  // acc += Ap·Bp over kp pairs for the first R rows: per pair, 2 B vectors and
  // one VDPBF16PS per (row, vector), the A pair broadcast from memory.
  template <int64_t R>
  __attribute__((always_inline)) static void accumulate(int64_t kp, const uint32_t* __restrict Ap,
                                                        const uint32_t* __restrict Bp, F (&acc)[kMR][kNV],
                                                        L2Feed& feed) {
    __m512 c[kMR][kNV];
#pragma GCC unroll 16
    for (int64_t r = 0; r < R; ++r)
#pragma GCC unroll 2
      for (int64_t v = 0; v < kNV; ++v) c[r][v] = acc[r][v];
    for (int64_t p = 0; p < kp; ++p) {
#pragma GCC unroll 2
      for (int64_t v = 0; v < kNV; ++v) __builtin_prefetch(Bp + (p + kPrefetchB) * kNR + v * W, 0, 3);
      feed.tick();
      __m512bh b[kNV];
#pragma GCC unroll 2
      for (int64_t v = 0; v < kNV; ++v) b[v] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(Bp + p * kNR + v * W));
      const uint32_t* a = Ap + p * kMR;
#pragma GCC unroll 16
      for (int64_t r = 0; r < R; ++r) {
        const __m512bh ar = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(a[r])));
#pragma GCC unroll 2
        for (int64_t v = 0; v < kNV; ++v) c[r][v] = _mm512_dpbf16_ps(c[r][v], ar, b[v]);
      }
    }
#pragma GCC unroll 16
    for (int64_t r = 0; r < R; ++r)
#pragma GCC unroll 2
      for (int64_t v = 0; v < kNV; ++v) acc[r][v] = F(c[r][v]);
  }
};

}  // namespace isa_avx512_bf16

GemmFn avx512bf16_gemm_bf16() { return isa_avx512_bf16::gemm_run<isa_avx512_bf16::Bf16Panels>; }

}  // namespace dnabert::ops::kernels
