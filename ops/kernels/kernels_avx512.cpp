// avx512 kernels: kernels_impl.inc compiled with avx512 flags (see CMakeLists.txt).
#include <omp.h>

#include <cstdint>
#include <cstdlib>
#include <xsimd/xsimd.hpp>

#include "ops/kernels/kernels.h"

namespace dnabert::ops::kernels {
namespace isa_avx512 {

#include "engine/philox_core.inc"

using F = xsimd::batch<float, xsimd::avx512f>;
constexpr const char* kIsaName = "avx512";
inline F vfma(const F& a, const F& b, const F& c) { return xsimd::fma(a, b, c); }
inline F vexp(const F& x) { return xsimd::exp(x); }
inline F verf(const F& x) { return xsimd::erf(x); }
inline F vtanh(const F& x) { return xsimd::tanh(x); }
inline F vlog1p(const F& x) { return xsimd::log1p(x); }
inline F vmax(const F& a, const F& b) { return xsimd::max(a, b); }
inline F vabs(const F& x) { return xsimd::abs(x); }
inline float vhadd(const F& x) { return xsimd::hadd(x); }

#include "ops/kernels/kernels_impl.inc"

}  // namespace isa_avx512

const KernelTable& avx512_table() { return isa_avx512::kTable; }

}  // namespace dnabert::ops::kernels
