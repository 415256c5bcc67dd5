// dnabert: the command-line front end. Subcommands live in cli/<name>.cpp and
// register themselves through cli/commands.h.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "engine/error.h"
#include "engine/threads.h"
#include "ops/kernels/kernels.h"

namespace {

std::string version_string() {
  namespace k = dnabert::ops::kernels;
  return std::string("dnabert ") + DNABERT_VERSION + " (" + DNABERT_BUILD_TYPE + " build, isa " + k::active().isa +
         ", gemm backend " + k::backend_name(k::selected_backend()) + ", " +
         std::to_string(dnabert::engine::num_threads()) + " threads)";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dnabert: pretrain, fine-tune and run DNABERT-style models on CPUs"};
  app.require_subcommand(0, 1);
  app.fallthrough();  // global options (--threads, --isa) may follow the subcommand
  bool show_version = false;
  int threads = 0;
  std::string isa, backend;
  app.add_flag("--version", show_version, "Print the version, build type, selected ISA and GEMM backend, then exit");
  app.add_option("--threads", threads, "Worker threads (default: OMP_NUM_THREADS or all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--isa", isa, "Force a kernel path: avx512, avx2 or scalar (default: the best this CPU runs; "
                               "also DNABERT_ISA)");
  app.add_option("--backend", backend, "GEMM backend: native (default; bit-identical for any thread count) or "
                                       "onednn (dnnl_sgemm; also DNABERT_BACKEND)");
  dnabert::cli::register_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    dnabert::engine::set_num_threads(threads);
    if (!backend.empty()) dnabert::ops::kernels::select_backend(dnabert::ops::kernels::parse_backend(backend));
    if (!isa.empty()) dnabert::ops::kernels::select_isa(dnabert::ops::kernels::parse_isa(isa));
    if (show_version) {
      std::printf("%s\n", version_string().c_str());
      return 0;
    }
    if (app.get_subcommands().empty()) {
      std::printf("%s", app.help().c_str());
      return 0;
    }
    return dnabert::cli::run_selected(app);
  } catch (const dnabert::UsageError& e) {
    std::fprintf(stderr, "dnabert: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dnabert: error: %s\n", e.what());
    return 1;
  }
}
