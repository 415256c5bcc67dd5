// dnabert: the command-line front end. The subcommands are listed here; each
// lives in cli/<name>.cpp.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <map>
#include <new>
#include <string>

#include "cli/commands.h"
#include "base/error.h"
#include "engine/threads.h"
#include "ops/kernels/kernels.h"

namespace {

using dnabert::cli::Runner;

// Every subcommand, in the order --help lists them.
Runner (*const kCommands[])(CLI::App&) = {
    dnabert::cli::pretrain_command, dnabert::cli::finetune_command,  dnabert::cli::evaluate_mlm_command,
    dnabert::cli::predict_command,  dnabert::cli::embed_command,     dnabert::cli::scan_command,
    dnabert::cli::attention_command, dnabert::cli::motifs_command,   dnabert::cli::variants_command,
    dnabert::cli::tokenize_command, dnabert::cli::fasta_stats_command, dnabert::cli::split_command,
    dnabert::cli::convert_command,
};

// "precision f32", or "precision bf16 (vdpbf16ps)" / "(emulated)": what the gemm entry computes with.
std::string precision_string() {
  namespace k = dnabert::ops::kernels;
  const k::Precision p = k::selected_precision();
  std::string s = std::string("precision ") + k::precision_name(p);
  if (p == k::Precision::BF16)
    s += k::selected_backend() == k::Backend::OneDnn
             ? std::string(k::amx_bf16_supported() ? " (oneDNN matmul, AMX)" : " (oneDNN matmul)")
             : std::string(" (") + k::bf16_gemm_kind(k::selected_isa()) + ")";
  return s;
}

std::string version_string() {
  namespace k = dnabert::ops::kernels;
  return std::string("dnabert ") + DNABERT_VERSION + " (" + DNABERT_BUILD_TYPE + " build, isa " + k::active().isa +
         ", gemm backend " + k::backend_name(k::selected_backend()) + ", " + precision_string() + ", " +
         std::to_string(dnabert::engine::num_threads()) + " threads)";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dnabert: pretrain, fine-tune and run DNABERT-style models on CPUs"};
  app.require_subcommand(0, 1);
  app.fallthrough();  // global options (--threads, --isa) may follow the subcommand
  bool show_version = false;
  int threads = 0;
  std::string isa, backend, precision;
  app.add_flag("--version", show_version,
               "Print the version, build type, selected ISA, GEMM backend and precision, then exit");
  app.add_option("--threads", threads, "Worker threads (default: OMP_NUM_THREADS or all cores)")
      ->check(dnabert::cli::integer_in<int>(0, 65536));
  app.add_option("--isa", isa, "Force a kernel path: avx512, avx2 or scalar (default: the best this CPU runs; "
                               "also DNABERT_ISA)");
  app.add_option("--backend", backend,
                 "GEMM backend: native (ours; bit-identical for any thread count), onednn (dnnl_sgemm for f32, "
                 "oneDNN's bf16 matmul for bf16) or auto (default: native for f32; for bf16 onednn on CPUs with "
                 "AMX-BF16, else native; also DNABERT_BACKEND)");
  app.add_option("--precision", precision,
                 "GEMM arithmetic: f32 (default) or bf16 (inputs rounded to bf16, fp32 accumulation and fp32 "
                 "weights; native backend: AVX512_BF16 where the CPU has it, emulated elsewhere; also "
                 "DNABERT_PRECISION)");
  std::map<const CLI::App*, Runner> runners;
  for (auto add : kCommands) {
    Runner run = add(app);
    runners[app.get_subcommands({}).back()] = std::move(run);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e) == 0 ? 0 : 2;
    std::fflush(stdout);
    return status;
  }
  std::string doing = "starting";
  try {
    dnabert::engine::set_num_threads(threads);
    if (!backend.empty()) dnabert::ops::kernels::select_backend(dnabert::ops::kernels::parse_backend(backend));
    if (!isa.empty()) dnabert::ops::kernels::select_isa(dnabert::ops::kernels::parse_isa(isa));
    if (!precision.empty())
      dnabert::ops::kernels::select_precision(dnabert::ops::kernels::parse_precision(precision));
    if (show_version) {
      std::printf("%s\n", version_string().c_str());
      dnabert::cli::flush_stdout();
      return 0;
    }
    if (app.get_subcommands().empty()) {  // nothing to do is a usage error, so scripts notice it
      std::fprintf(stderr, "%s\ndnabert: error: no command given\n", app.help().c_str());
      return 2;
    }
    doing = "running " + app.get_subcommands().front()->get_name();
    const int status = runners.at(app.get_subcommands().front())();
    dnabert::cli::flush_stdout();  // output lost to a full disk or a closed pipe is a failure
    return status;
  } catch (const dnabert::UsageError& e) {
    std::fprintf(stderr, "dnabert: error: %s\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "dnabert: error: out of memory while %s (a smaller --batch or --max-len needs less)\n",
                 doing.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dnabert: error: %s\n", e.what());
    return 1;
  }
}
