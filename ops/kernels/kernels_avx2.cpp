// avx2 kernels: kernels_impl.inc compiled with avx2 flags (see CMakeLists.txt).
#include <omp.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <immintrin.h>
#include <xsimd/xsimd.hpp>

#include "ops/kernels/kernels.h"

namespace dnabert::ops::kernels {
namespace isa_avx2 {

#include "engine/philox_core.inc"

using Arch = xsimd::fma3<xsimd::avx2>;
constexpr const char* kIsaName = "avx2";
#include "ops/kernels/kernels_xsimd.inc"
#include "ops/kernels/kernels_impl.inc"

}  // namespace isa_avx2

const KernelTable& avx2_table() { return isa_avx2::kTable; }
GemmFn avx2_gemm_bf16() { return isa_avx2::gemm_bf16; }

}  // namespace dnabert::ops::kernels
