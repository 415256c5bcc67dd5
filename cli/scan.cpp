// dnabert scan: a fine-tuned classifier slid along whole chromosomes, written
// as a bedGraph track (models/analysis/scan.h does the scanning).
#include <cstdio>
#include <memory>

#include "base/error.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "io/formats/atomic_file.h"
#include "io/formats/fasta.h"
#include "models/analysis/scan.h"
#include "models/analysis/variants.h"

namespace dnabert::cli {
namespace {

struct ScanArgs {
  std::string model, fasta, out, positive;
  models::ScanOptions options;
};

int run(const ScanArgs& a) {
  require_regular_file("--fasta", a.fasta, "scan reads it twice (lengths first, then windows)");
  const models::LoadedModel lm = models::load_model(a.model, models::Heads::Classification);
  models::ScanOptions o = a.options;
  // The scored class: --positive, else the label "1", else the last class.
  o.positive = models::positive_class(a.model, lm.model->config().num_labels, a.positive);
  models::check_scan_options(lm, o);
  const uint64_t total = io::count_bases(a.fasta);  // for the progress bar's ETA
  ProgressBar bar("scan", static_cast<int64_t>(total), "bp");
  io::AtomicFile out(a.out);
  out.write("track type=bedGraph name=\"dnabert scan\" description=\"P(class " + std::to_string(o.positive) +
            ") in " + std::to_string(o.window) + " bp windows, step " + std::to_string(o.stride) + "\"\n");
  const models::ScanSummary sum = models::scan_genome(
      lm, a.fasta, o,
      [&](const models::ScanInterval& w) {
        char line[256];
        std::snprintf(line, sizeof line, "%s\t%lld\t%lld\t%.5f\n", w.chrom->c_str(), static_cast<long long>(w.start),
                      static_cast<long long>(w.end), w.score);
        out.write(line);
      },
      [&](uint64_t bases, uint64_t windows) {
        bar.update(static_cast<int64_t>(bases), std::to_string(windows) + " windows");
      });
  if (sum.short_records > 0)
    std::fprintf(stderr, "scan: warning: %llu record%s shorter than --window %lld bp skipped (no window fits)\n",
                 static_cast<unsigned long long>(sum.short_records), sum.short_records == 1 ? "" : "s",
                 static_cast<long long>(o.window));
  if (sum.windows == 0)
    throw Error(a.fasta + ": no record is at least --window " + std::to_string(o.window) + " bp long; nothing to score");
  out.commit();
  bar.finish(std::to_string(sum.windows) + " windows");
  std::printf("wrote %s: %llu windows over %llu bp\n", a.out.c_str(), static_cast<unsigned long long>(sum.windows),
              static_cast<unsigned long long>(total));
  return 0;
}

}  // namespace

Runner scan_command(CLI::App& app) {
  auto a = std::make_shared<ScanArgs>();
  auto* s = app.add_subcommand("scan", "Slide a fine-tuned classifier along genomes; write a bedGraph track");
  s->add_option("--model", a->model, "Fine-tuned model directory")->required()->check(CLI::ExistingDirectory);
  s->add_option("--fasta", a->fasta, "Genome FASTA (.gz)")->required()->check(CLI::ExistingFile);
  s->add_option("--window", a->options.window, "Window length in bp")->required()->check(integer_in<int64_t>(1));
  s->add_option("--stride", a->options.stride, "Step between windows in bp")->required()->check(integer_in<int64_t>(1));
  s->add_flag("--both-strands", a->options.both_strands, "Average the score of each window and its reverse complement");
  s->add_option("--positive", a->positive, "Label whose probability is written (default: \"1\", else the last class)");
  s->add_option("--batch", a->options.batch, "Windows per forward pass")->check(integer_in<int>(1))->capture_default_str();
  s->add_option("--out", a->out, "Output bedGraph")->required();
  return [a] { return run(*a); };
}

}  // namespace dnabert::cli
