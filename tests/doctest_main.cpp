// Test entry point. DNABERT_ISA forces a kernel path (DNABERT_BACKEND the GEMM); a path this CPU cannot
// run makes the whole executable exit 77, which ctest reports as skipped.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "ops/kernels/kernels.h"

int main(int argc, char** argv) {
  namespace k = dnabert::ops::kernels;
  if (const char* isa = std::getenv("DNABERT_ISA"); isa && *isa) {
    if (!k::isa_supported(k::parse_isa(isa))) {
      std::printf("skipped: this CPU cannot run the %s kernels\n", isa);
      return 77;
    }
  }
  std::printf("kernel ISA: %s, GEMM backend: %s\n", k::active().isa, k::backend_name(k::selected_backend()));
  doctest::Context context(argc, argv);
  return context.run();
}
