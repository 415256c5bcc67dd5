// avx2 kernels: kernels_impl.inc compiled with avx2 flags (see CMakeLists.txt).
#include <omp.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <xsimd/xsimd.hpp>

#include "ops/kernels/kernels.h"

namespace dnabert::ops::kernels {
namespace isa_avx2 {

#include "engine/philox_core.inc"

using F = xsimd::batch<float, xsimd::fma3<xsimd::avx2>>;
constexpr const char* kIsaName = "avx2";
inline F vfma(const F& a, const F& b, const F& c) { return xsimd::fma(a, b, c); }
inline F vexp(const F& x) { return xsimd::exp(x); }
inline F verf(const F& x) { return xsimd::erf(x); }
inline F vtanh(const F& x) { return xsimd::tanh(x); }
inline F vlog1p(const F& x) { return xsimd::log1p(x); }
inline F vmax(const F& a, const F& b) { return xsimd::max(a, b); }
inline F vabs(const F& x) { return xsimd::abs(x); }
inline float vhadd(const F& x) { return xsimd::hadd(x); }
// In-place 4×4 transpose inside every 128-bit lane: afterwards lane l of
// r[j] holds element 4l + j of the old r[0..3] (the GEMM's transposing pack).
constexpr bool kHasLaneTranspose = true;
inline void lane_transpose4(F r[4]) {
  using D = xsimd::batch<double, xsimd::fma3<xsimd::avx2>>;
  const F t0 = xsimd::zip_lo(r[0], r[1]), t1 = xsimd::zip_hi(r[0], r[1]);
  const F t2 = xsimd::zip_lo(r[2], r[3]), t3 = xsimd::zip_hi(r[2], r[3]);
  const D d0 = xsimd::bitwise_cast<D>(t0), d1 = xsimd::bitwise_cast<D>(t1);
  const D d2 = xsimd::bitwise_cast<D>(t2), d3 = xsimd::bitwise_cast<D>(t3);
  r[0] = xsimd::bitwise_cast<F>(xsimd::zip_lo(d0, d2));
  r[1] = xsimd::bitwise_cast<F>(xsimd::zip_hi(d0, d2));
  r[2] = xsimd::bitwise_cast<F>(xsimd::zip_lo(d1, d3));
  r[3] = xsimd::bitwise_cast<F>(xsimd::zip_hi(d1, d3));
}

#include "ops/kernels/kernels_impl.inc"

}  // namespace isa_avx2

const KernelTable& avx2_table() { return isa_avx2::kTable; }

}  // namespace dnabert::ops::kernels
