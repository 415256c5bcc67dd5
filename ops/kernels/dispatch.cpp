#include <oneapi/dnnl/dnnl.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "base/error.h"
#include "ops/kernels/kernels.h"

namespace dnabert::ops::kernels {

namespace {
std::atomic<const KernelTable*> g_table{nullptr};
std::atomic<int> g_isa{-1};
std::atomic<int> g_backend{-1};
std::atomic<int> g_precision{-1};

KernelTable with_gemm(const KernelTable& t, GemmFn gemm) {
  KernelTable r = t;
  r.gemm = gemm;
  r.gemm_bias = nullptr;  // the fused epilogue belongs to the native fp32 gemm
  return r;
}

// The ISA's table, or a copy whose gemm is oneDNN's or a bf16 one.
const KernelTable& table_for(Isa isa, Backend backend, Precision precision) {
  struct Variants {
    KernelTable onednn, bf16, onednn_bf16;
  };
  auto variants_of = [](Isa i) {
    Variants v{with_gemm(isa_table(i), onednn_gemm), with_gemm(isa_table(i), bf16_gemm_for(i)),
               with_gemm(isa_table(i), onednn_bf16_gemm_for(i))};
    v.onednn_bf16.gemm_bf16in = onednn_bf16in_gemm_for(i);
    return v;
  };
  static const Variants variants[3] = {variants_of(Isa::Scalar), variants_of(Isa::Avx2), variants_of(Isa::Avx512)};
  const Variants& v = variants[static_cast<int>(isa)];
  if (precision == Precision::BF16) return backend == Backend::OneDnn ? v.onednn_bf16 : v.bf16;
  return backend == Backend::OneDnn ? v.onednn : isa_table(isa);
}

// The backend when none was chosen: for f32 our GEMM (as fast as dnnl_sgemm on
// BERT's shapes and bit-identical for any thread count); for bf16 oneDNN's
// matmul on CPUs with AMX-BF16, whose tile unit outruns any AVX-512 kernel
// ("Default GEMM backend" in bench/RESULTS.md), else ours. A forced narrower
// ISA (--isa avx2) keeps ours.
Backend default_backend(Isa isa, Precision precision) {
  return precision == Precision::BF16 && isa == Isa::Avx512 && amx_bf16_supported() ? Backend::OneDnn
                                                                                      : Backend::Native;
}

Backend backend_from_env() {
  const char* env = std::getenv("DNABERT_BACKEND");
  return env && *env ? parse_backend(env) : Backend::Auto;
}

Precision precision_from_env() {
  const char* env = std::getenv("DNABERT_PRECISION");
  return env && *env ? parse_precision(env) : Precision::F32;
}

// Re-points the active table after a backend or precision change, once an ISA is chosen.
void refresh_table() {
  if (g_isa.load() < 0) return;
  const auto precision = static_cast<Precision>(g_precision.load());
  auto backend = static_cast<Backend>(g_backend.load());
  if (backend == Backend::Auto) backend = default_backend(static_cast<Isa>(g_isa.load()), precision);
  g_table.store(&table_for(static_cast<Isa>(g_isa.load()), backend, precision));
}
}  // namespace

const KernelTable& isa_table(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return avx512_table();
    case Isa::Avx2: return avx2_table();
    case Isa::Scalar: break;
  }
  return scalar_table();
}

bool bf16_native_supported() {
  __builtin_cpu_init();
  return isa_supported(Isa::Avx512) && __builtin_cpu_supports("avx512bf16");
}

GemmFn bf16_gemm_for(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return bf16_native_supported() ? avx512bf16_gemm_bf16() : avx512_gemm_bf16();
    case Isa::Avx2: return avx2_gemm_bf16();
    case Isa::Scalar: break;
  }
  return scalar_gemm_bf16();
}

const char* bf16_gemm_kind(Isa isa) {
  return isa == Isa::Avx512 && bf16_native_supported() ? "vdpbf16ps" : "emulated";
}

Precision parse_precision(const std::string& name) {
  if (name == "f32" || name == "fp32") return Precision::F32;
  if (name == "bf16") return Precision::BF16;
  throw UsageError("unknown precision '" + name + "' (choose f32 or bf16)");
}

const char* precision_name(Precision p) { return p == Precision::BF16 ? "bf16" : "f32"; }

void select_precision(Precision p) {
  g_precision.store(static_cast<int>(p));
  refresh_table();
}

Precision selected_precision() {
  active();
  return static_cast<Precision>(g_precision.load());
}

void onednn_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {  // as the native gemm; oneDNN would check lda/ldb here
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta != 0.0f ? beta * C[i * ldc + j] : 0.0f;
    return;
  }
  const dnnl_status_t st =
      dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (st != dnnl_success)
    throw Error("gemm: dnnl_sgemm failed (status " + std::to_string(static_cast<int>(st)) + ") for M=" +
                std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K));
}

Backend parse_backend(const std::string& name) {
  if (name == "native") return Backend::Native;
  if (name == "onednn") return Backend::OneDnn;
  if (name == "auto") return Backend::Auto;
  throw UsageError("unknown backend '" + name + "' (choose native, onednn or auto)");
}

const char* backend_name(Backend b) {
  switch (b) {
    case Backend::OneDnn: return "onednn";
    case Backend::Auto: return "auto";
    case Backend::Native: break;
  }
  return "native";
}

void select_backend(Backend b) {
  g_backend.store(static_cast<int>(b));
  refresh_table();
}

Backend selected_backend() {
  active();
  const auto backend = static_cast<Backend>(g_backend.load());
  return backend == Backend::Auto
             ? default_backend(static_cast<Isa>(g_isa.load()), static_cast<Precision>(g_precision.load()))
             : backend;
}

bool isa_supported(Isa isa) {
  __builtin_cpu_init();
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::Avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return false;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> r;
  for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512})
    if (isa_supported(i)) r.push_back(i);
  return r;
}

Isa parse_isa(const std::string& name) {
  if (name == "avx512") return Isa::Avx512;
  if (name == "avx2") return Isa::Avx2;
  if (name == "scalar") return Isa::Scalar;
  throw UsageError("unknown ISA '" + name + "' (choose avx512, avx2 or scalar)");
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    case Isa::Scalar: return "scalar";
  }
  return "?";
}

void select_isa(Isa isa) {
  if (!isa_supported(isa)) throw UsageError(std::string("ISA ") + isa_name(isa) + " is not supported by this CPU");
  if (g_backend.load() < 0) g_backend.store(static_cast<int>(backend_from_env()));
  if (g_precision.load() < 0) g_precision.store(static_cast<int>(precision_from_env()));
  g_isa.store(static_cast<int>(isa));
  refresh_table();
}

Isa selected_isa() {
  active();
  return static_cast<Isa>(g_isa.load());
}

const KernelTable& active() {
  const KernelTable* t = g_table.load();
  if (t) return *t;
  const char* env = std::getenv("DNABERT_ISA");
  if (env && *env)
    select_isa(parse_isa(env));
  else
    select_isa(supported_isas().back());
  return *g_table.load();
}

}  // namespace dnabert::ops::kernels
