// avx512 kernels: kernels_impl.inc compiled with avx512 flags (see CMakeLists.txt).
#include <omp.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <immintrin.h>
#include <xsimd/xsimd.hpp>

#include "ops/kernels/kernels.h"

namespace dnabert::ops::kernels {
namespace isa_avx512 {

#include "engine/philox_core.inc"

using Arch = xsimd::avx512f;
constexpr const char* kIsaName = "avx512";
#include "ops/kernels/kernels_xsimd.inc"
#include "ops/kernels/kernels_impl.inc"

}  // namespace isa_avx512

const KernelTable& avx512_table() { return isa_avx512::kTable; }
GemmFn avx512_gemm_bf16() { return isa_avx512::gemm_bf16; }

}  // namespace dnabert::ops::kernels
