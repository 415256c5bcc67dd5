// The bf16 GEMM through oneDNN's matmul primitive (`--precision bf16` with the
// oneDNN backend). On CPUs with AMX-BF16, oneDNN runs its AMX kernels
// (tdpbf16ps), far faster per cycle than VDPBF16PS; elsewhere its AVX-512
// bf16 or emulated kernels. Inputs are rounded to bf16 (round to nearest
// even, by a oneDNN reorder) into per-thread buffers that are reused, C stays
// fp32, and alpha/beta become an output scale and a sum post-op.
//
// Small products (attention's 64×64 tiles, called from inside parallel
// regions thousands of times per step) stay on our own bf16 GEMM, where a
// primitive's set-up would cost more than the product.
#include <dnnl.hpp>

#include <vector>

#include "engine/error.h"
#include "ops/kernels/kernels.h"

namespace dnabert::ops::kernels {

namespace {

using dnnl::memory;

// Products below this many multiply-adds use our own bf16 GEMM.
constexpr int64_t kMinOneDnnWork = int64_t{1} << 22;

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// A logical [rows, cols] matrix stored row-major with leading dimension ld,
// or, with `trans`, stored as its transpose.
memory::desc strided(int64_t rows, int64_t cols, bool trans, int64_t ld, memory::data_type dt) {
  return memory::desc({rows, cols}, dt, trans ? memory::dims{1, ld} : memory::dims{ld, 1});
}

// `src` rounded to bf16 into `buf`, densely, in the same orientation.
memory to_bf16(dnnl::stream& s, const float* src, int64_t rows, int64_t cols, bool trans, int64_t ld,
               std::vector<uint16_t>& buf) {
  buf.resize(static_cast<size_t>(rows * cols));
  memory in(strided(rows, cols, trans, ld, memory::data_type::f32), cpu_engine(), const_cast<float*>(src));
  memory out(strided(rows, cols, trans, trans ? rows : cols, memory::data_type::bf16), cpu_engine(), buf.data());
  dnnl::reorder(in, out).execute(s, in, out);
  return out;
}

void onednn_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  thread_local std::vector<uint16_t> a_buf, b_buf;
  try {
    dnnl::stream s(cpu_engine());
    memory a = to_bf16(s, A, M, K, ta, lda, a_buf);
    memory b = to_bf16(s, B, K, N, tb, ldb, b_buf);
    memory c(strided(M, N, false, ldc, memory::data_type::f32), cpu_engine(), C);
    dnnl::primitive_attr attr;
    if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
    if (beta != 0.0f) {
      dnnl::post_ops po;
      po.append_sum(beta);
      attr.set_post_ops(po);
    }
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a.get_desc(), b.get_desc(), c.get_desc()), attr,
                                    cpu_engine());
    dnnl::matmul(pd).execute(s, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
    s.wait();
  } catch (const dnnl::error& e) {
    throw Error("gemm: oneDNN bf16 matmul failed (" + std::string(e.what()) + ") for M=" + std::to_string(M) +
                " N=" + std::to_string(N) + " K=" + std::to_string(K));
  }
}

template <Isa isa>
void onednn_bf16_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                      const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0 || K <= 0 || alpha == 0.0f || M * N * K < kMinOneDnnWork)
    bf16_gemm_for(isa)(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    onednn_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace

GemmFn onednn_bf16_gemm_for(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return onednn_bf16_gemm<Isa::Avx512>;
    case Isa::Avx2: return onednn_bf16_gemm<Isa::Avx2>;
    case Isa::Scalar: break;
  }
  return onednn_bf16_gemm<Isa::Scalar>;
}

bool amx_bf16_supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("amx-bf16");
}

}  // namespace dnabert::ops::kernels
