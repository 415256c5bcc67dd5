#include <atomic>
#include <cstdlib>

#include "engine/error.h"
#include "ops/kernels/kernels.h"

namespace dnabert::ops::kernels {

namespace {
std::atomic<const KernelTable*> g_table{nullptr};
std::atomic<int> g_isa{-1};

const KernelTable& table_for(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return avx512_table();
    case Isa::Avx2: return avx2_table();
    case Isa::Scalar: break;
  }
  return scalar_table();
}
}  // namespace

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
  g_table.store(&table_for(isa));
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
