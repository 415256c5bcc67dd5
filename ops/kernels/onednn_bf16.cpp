// The bf16 GEMM through oneDNN's matmul primitive (`--precision bf16` with the
// oneDNN backend). On CPUs with AMX-BF16, oneDNN runs its AMX kernels
// (tdpbf16ps), far faster per cycle than VDPBF16PS; elsewhere its AVX-512
// bf16 or emulated kernels. Inputs are rounded to bf16 (round to nearest
// even, by a oneDNN reorder) into per-thread buffers that are reused, C stays
// fp32, and alpha/beta become an output scale and a sum post-op.
//
// Small products (attention's 64×64 tiles, called from inside parallel
// regions thousands of times per step) stay on our own bf16 GEMM, where a
// primitive's set-up would cost more than the product. gemm_bf16in takes
// operands already in bf16 (ops/linear.cpp converts each once) and runs the
// same matmul without the reorders.
#include <dnnl.hpp>

#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "ops/kernels/kernels.h"

namespace dnabert::ops::kernels {

namespace {

using dnnl::memory;

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// Products below this many multiply-adds use our own bf16 GEMM.
constexpr int64_t kMinOneDnnWork = int64_t{1} << 22;

// oneDNN 2.6 has no bf16 matmul on CPUs without AVX-512 (it cannot create
// the primitive). There every product takes our own bf16 GEMM, the same
// arithmetic (inputs rounded to bf16, fp32 sums), said once on stderr.
bool onednn_has_bf16_matmul() {
  static const bool ok = [] {
    try {
      const memory::desc a({16, 16}, memory::data_type::bf16, memory::dims{16, 1});
      const memory::desc c({16, 16}, memory::data_type::f32, memory::dims{16, 1});
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, a, c), cpu_engine());
      return true;
    } catch (const dnnl::error&) {
      std::fprintf(stderr, "note: oneDNN has no bf16 matmul on this CPU; the bf16 products run on dnabert's own "
                           "bf16 GEMM\n");
      return false;
    }
  }();
  return ok;
}

// Whether a product goes to our own bf16 GEMM: small ones, empty ones, and
// all of them where oneDNN has no bf16 matmul.
bool ours_instead(int64_t M, int64_t N, int64_t K, float alpha) {
  return M <= 0 || N <= 0 || K <= 0 || alpha == 0.0f || M * N * K < kMinOneDnnWork || !onednn_has_bf16_matmul();
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

// C = alpha·a·b + beta·C (+ bias[None, :], alpha 1 and beta 0 then) by the
// matmul primitive, a and b bf16 memories.
void matmul_bf16(dnnl::stream& s, const memory& a, const memory& b, int64_t M, int64_t N, float alpha, float beta,
                 float* C, int64_t ldc, const float* bias = nullptr) {
  memory c(strided(M, N, false, ldc, memory::data_type::f32), cpu_engine(), C);
  dnnl::primitive_attr attr;
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops po;
    po.append_sum(beta);
    attr.set_post_ops(po);
  }
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}};
  memory::desc bias_md;
  if (bias) {
    bias_md = strided(1, N, false, N, memory::data_type::f32);
    args.emplace(DNNL_ARG_BIAS, memory(bias_md, cpu_engine(), const_cast<float*>(bias)));
  }
  const dnnl::matmul::desc desc = bias ? dnnl::matmul::desc(a.get_desc(), b.get_desc(), bias_md, c.get_desc())
                                       : dnnl::matmul::desc(a.get_desc(), b.get_desc(), c.get_desc());
  dnnl::matmul(dnnl::matmul::primitive_desc(desc, attr, cpu_engine())).execute(s, args);
  s.wait();
}

[[noreturn]] void matmul_failed(const dnnl::error& e, int64_t M, int64_t N, int64_t K) {
  throw Error("gemm: oneDNN bf16 matmul failed (" + std::string(e.what()) + ") for M=" + std::to_string(M) +
              " N=" + std::to_string(N) + " K=" + std::to_string(K));
}

void onednn_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  thread_local std::vector<uint16_t> a_buf, b_buf;
  try {
    dnnl::stream s(cpu_engine());
    memory a = to_bf16(s, A, M, K, ta, lda, a_buf);
    memory b = to_bf16(s, B, K, N, tb, ldb, b_buf);
    matmul_bf16(s, a, b, M, N, alpha, beta, C, ldc);
  } catch (const dnnl::error& e) {
    matmul_failed(e, M, N, K);
  }
}

template <Isa isa>
void onednn_bf16_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                      const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (ours_instead(M, N, K, alpha))
    bf16_gemm_for(isa)(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    onednn_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// The stored [rows, cols] (or, with trans, [cols, rows]) bf16 matrix widened
// to fp32 (exact), densely in the same orientation.
const float* widened(const uint16_t* src, int64_t rows, int64_t cols, bool trans, int64_t ld,
                     std::vector<float>& buf) {
  const int64_t outer = trans ? cols : rows, inner = trans ? rows : cols;
  buf.resize(static_cast<size_t>(outer * inner));
  for (int64_t i = 0; i < outer; ++i)
    for (int64_t j = 0; j < inner; ++j) {
      const uint32_t u = static_cast<uint32_t>(src[i * ld + j]) << 16;
      std::memcpy(&buf[static_cast<size_t>(i * inner + j)], &u, 4);
    }
  return buf.data();
}

// gemm_bf16in: the matmul straight on the bf16 operands (no reorder), the
// same primitive and layouts onednn_bf16 builds after its reorders, so the
// same bits. Small products take onednn_bf16_gemm's fallback on the widened
// values, which round to themselves, then add_bias.
template <Isa isa>
void onednn_bf16in_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A,
                        int64_t lda, const uint16_t* B, int64_t ldb, float beta, float* C, int64_t ldc,
                        const float* bias) {
  if (ours_instead(M, N, K, alpha)) {
    thread_local std::vector<float> a_buf, b_buf;
    const float* a = M > 0 && K > 0 ? widened(A, M, K, ta, lda, a_buf) : nullptr;
    const float* b = K > 0 && N > 0 ? widened(B, K, N, tb, ldb, b_buf) : nullptr;
    bf16_gemm_for(isa)(ta, tb, M, N, K, alpha, a, ta ? M : K, b, tb ? K : N, beta, C, ldc);
    if (bias)
      for (int64_t i = 0; i < M; ++i) isa_table(isa).add_bias(C + i * ldc, bias, 1, N);
    return;
  }
  try {
    dnnl::stream s(cpu_engine());
    const memory a(strided(M, K, ta, lda, memory::data_type::bf16), cpu_engine(), const_cast<uint16_t*>(A));
    const memory b(strided(K, N, tb, ldb, memory::data_type::bf16), cpu_engine(), const_cast<uint16_t*>(B));
    matmul_bf16(s, a, b, M, N, alpha, beta, C, ldc, bias);
  } catch (const dnnl::error& e) {
    matmul_failed(e, M, N, K);
  }
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

GemmBf16InFn onednn_bf16in_gemm_for(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return onednn_bf16in_gemm<Isa::Avx512>;
    case Isa::Avx2: return onednn_bf16in_gemm<Isa::Avx2>;
    case Isa::Scalar: break;
  }
  return onednn_bf16in_gemm<Isa::Scalar>;
}

bool amx_bf16_supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("amx-bf16");
}

}  // namespace dnabert::ops::kernels
