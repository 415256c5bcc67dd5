// Scalar kernels: kernels_impl.inc on a one-lane stand-in for a SIMD vector,
// compiled for baseline x86-64. This path runs on any CPU.
#include <omp.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>

#include "ops/kernels/kernels.h"

namespace dnabert::ops::kernels {
namespace isa_scalar {

#include "engine/philox_core.inc"

struct F {
  static constexpr size_t size = 1;
  float v;
  F() = default;
  F(float x) : v(x) {}
  static F load_unaligned(const float* p) { return F(*p); }
  void store_unaligned(float* p) const { *p = v; }
  friend F operator+(F a, F b) { return F(a.v + b.v); }
  friend F operator-(F a, F b) { return F(a.v - b.v); }
  friend F operator*(F a, F b) { return F(a.v * b.v); }
  friend F operator/(F a, F b) { return F(a.v / b.v); }
};
constexpr const char* kIsaName = "scalar";
inline F vfma(F a, F b, F c) { return F(a.v * b.v + c.v); }  // no FMA unit on baseline x86-64
inline void vstream(float* p, F x) { *p = x.v; }
inline F vsqrt(F x) { return F(__builtin_sqrtf(x.v)); }
inline F vexp(F x) { return F(__builtin_expf(x.v)); }
inline F vtanh(F x) { return F(__builtin_tanhf(x.v)); }
inline F vlog1p(F x) { return F(__builtin_log1pf(x.v)); }
inline F vmax(F a, F b) { return F(a.v > b.v ? a.v : b.v); }
inline F vabs(F x) { return F(__builtin_fabsf(x.v)); }
inline float vhadd(F x) { return x.v; }
inline float vhmax(F x) { return x.v; }
inline F vselect_neg(F x, F a, F b) { return x.v < 0.0f ? a : b; }
constexpr bool kHasLaneTranspose = false;  // one lane: the GEMM packs element by element
inline void lane_transpose4(F*) {}

#include "ops/kernels/kernels_impl.inc"

}  // namespace isa_scalar

const KernelTable& scalar_table() { return isa_scalar::kTable; }
GemmFn scalar_gemm_bf16() { return isa_scalar::gemm_bf16; }

float round_to_bf16(float x) {
  isa_scalar::round_bf16(&x, 1);
  return x;
}

}  // namespace dnabert::ops::kernels
