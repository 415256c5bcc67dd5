#include <oneapi/dnnl/dnnl.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "engine/error.h"
#include "ops/kernels/kernels.h"

namespace dnabert::ops::kernels {

namespace {
std::atomic<const KernelTable*> g_table{nullptr};
std::atomic<int> g_isa{-1};
std::atomic<int> g_backend{-1};

// Copies of the ISA tables whose gemm is oneDNN's.
KernelTable with_onednn(const KernelTable& t) {
  KernelTable r = t;
  r.gemm = onednn_gemm;
  return r;
}

const KernelTable& table_for(Isa isa, Backend backend) {
  static const KernelTable onednn_avx512 = with_onednn(avx512_table()), onednn_avx2 = with_onednn(avx2_table()),
                           onednn_scalar = with_onednn(scalar_table());
  const bool dnnl = backend == Backend::OneDnn;
  switch (isa) {
    case Isa::Avx512: return dnnl ? onednn_avx512 : avx512_table();
    case Isa::Avx2: return dnnl ? onednn_avx2 : avx2_table();
    case Isa::Scalar: break;
  }
  return dnnl ? onednn_scalar : scalar_table();
}

Backend backend_from_env() {
  const char* env = std::getenv("DNABERT_BACKEND");
  return env && *env ? parse_backend(env) : Backend::Native;
}
}  // namespace

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
  throw UsageError("unknown backend '" + name + "' (choose native or onednn)");
}

const char* backend_name(Backend b) { return b == Backend::OneDnn ? "onednn" : "native"; }

void select_backend(Backend b) {
  g_backend.store(static_cast<int>(b));
  if (g_isa.load() >= 0) g_table.store(&table_for(static_cast<Isa>(g_isa.load()), b));
}

Backend selected_backend() {
  active();
  return static_cast<Backend>(g_backend.load());
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
  g_table.store(&table_for(isa, static_cast<Backend>(g_backend.load())));
  g_isa.store(static_cast<int>(isa));
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
