// dnabert motifs: DNABERT-viz motif discovery from attention scores
// (models/analysis/motifs.h has the algorithm), with offline logos and a MEME file.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "base/error.h"
#include "io/formats/atomic_file.h"
#include "io/data/dataset.h"
#include "io/report/logo.h"
#include "io/formats/npy.h"
#include "io/formats/output_dir.h"
#include "models/analysis/motifs.h"

namespace dnabert::cli {
namespace {

struct MotifsArgs {
  std::string input, atten, out, positive = "1";
  bool overwrite = false;
  models::MotifOptions options;
};

std::string format_p(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", p);
  return buf;
}

int run(const MotifsArgs& a) {
  io::OutputDir out_dir(a.out, "motifs", a.overwrite, {a.input, a.atten});
  const io::LabelledDataset data = io::read_table(a.input);
  const auto positive = data.label_map.find(a.positive);
  if (!positive) throw UsageError("--positive '" + a.positive + "' is not a label of " + a.input);
  const engine::Tensor atten = io::read_npy(a.atten);
  const models::MotifInputs in = models::motif_inputs(data, *positive, atten, a.atten, a.input);
  std::fprintf(stderr, "motifs: %zu positive and %zu other sequences\n", in.positive.size(), in.negative.size());

  const models::MotifReport r = models::find_motifs(in.positive, in.negative, in.scores, a.options);
  out_dir.create();
  const std::string dir = a.out + "/";
  std::string summary = "motif\tinstances\tpositive_seqs\tall_seqs\tp\tp_adjusted\n";
  for (const models::Motif& m : r.motifs) {
    const std::string name = "motif_" + m.key.motif + "_" + std::to_string(m.sites.size());
    std::string lines;
    for (const auto& s : m.sites) lines += s + "\n";
    io::write_file_atomic(dir + name + ".txt", lines);
    io::write_logo_svg(dir + name + "_logo.svg", models::position_frequencies(m.sites),
                       m.key.motif + ": " + std::to_string(m.sites.size()) + " instances, adjusted p " +
                           format_p(m.key.p_adjusted));
    summary += m.key.motif + "\t" + std::to_string(m.sites.size()) + "\t" + std::to_string(m.key.positives) + "\t" +
               std::to_string(m.key.all) + "\t" + format_p(m.key.p) + "\t" + format_p(m.key.p_adjusted) + "\n";
  }
  io::write_file_atomic(dir + "motifs.tsv", summary);
  io::write_file_atomic(dir + "motifs.meme", models::meme_text(r.motifs, in.background));
  std::string tested = "candidate\tregions\tpositive_seqs\tall_seqs\tp\tp_adjusted\n";
  for (const auto& c : r.tested)
    tested += c.motif + "\t" + std::to_string(c.instances.size()) + "\t" + std::to_string(c.positives) + "\t" +
              std::to_string(c.all) + "\t" + format_p(c.p) + "\t" + format_p(c.p_adjusted) + "\n";
  io::write_file_atomic(dir + "candidates.tsv", tested);
  std::printf("%zu distinct high-attention sequences (candidates), %zu with adjusted p < %g, %zu after merging, "
              "%zu motifs with >= %d instances\n",
              r.candidates, r.significant, a.options.pval_cutoff, r.merged, r.motifs.size(), a.options.min_instances);
  std::printf("%s", summary.c_str());
  std::printf("wrote %smotifs.tsv, motifs.meme, candidates.tsv and motif_<SEQ>_<n>.txt / _logo.svg\n", dir.c_str());
  return 0;
}

}  // namespace

Runner motifs_command(CLI::App& app) {
  auto a = std::make_shared<MotifsArgs>();
  auto* s = app.add_subcommand("motifs", "DNABERT-viz motif discovery from attention scores");
  s->add_option("--input", a->input, "Labelled sequences (DNABERT dev.tsv or GUE CSV), the file given to attention")
      ->required();
  s->add_option("--atten", a->atten, "Scores from `dnabert attention` on the same file: float32 [N, L] .npy")
      ->required()->check(CLI::ExistingFile);
  add_output_dir_options(s, a->out, a->overwrite);
  s->add_option("--positive", a->positive, "Label of the positive sequences")->capture_default_str();
  s->add_option("--window", a->options.window, "Width of the final motif windows")
      ->check(integer_in<decltype(a->options.window)>(1))->capture_default_str();
  s->add_option("--min-len", a->options.min_len, "Minimum length of a high-attention region")
      ->check(integer_in<decltype(a->options.min_len)>(1))->capture_default_str();
  s->add_option("--pval-cutoff", a->options.pval_cutoff, "Benjamini-Hochberg adjusted p-value cutoff")
      ->check(number_in(0, 1, "[]"))->capture_default_str();
  s->add_option("--min-instances", a->options.min_instances, "Minimum windowed instances of a motif")
      ->check(integer_in<decltype(a->options.min_instances)>(1))->capture_default_str();
  s->add_option("--min-ratio", a->options.min_ratio,
                "A high-attention base scores above the mean and above this multiple of the sequence's minimum")
      ->check(number_in(0, kUnbounded, "[)"))->capture_default_str();
  s->add_flag("--shift-windows", a->options.shift_windows,
              "Move a window that would leave its sequence inward instead of dropping it (DNABERT drops it, "
              "which loses motifs in the first or last window/2 bases, such as TATA boxes of short core promoters)");
  s->add_flag("--align-all-ties", a->options.align_all_ties,
              "Merge a candidate into every key motif tied for the best alignment, not only the first");
  return [a] { return run(*a); };
}

}  // namespace dnabert::cli
