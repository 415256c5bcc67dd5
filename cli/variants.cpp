// dnabert variants: the effect of mutations on a fine-tuned classifier's
// positive-class probability (DNABERT's SNP/ scripts), from a mutation list, a
// VCF against a reference genome, or every single-base change (--saturate).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/progress.h"
#include "base/error.h"
#include "io/formats/atomic_file.h"
#include "io/report/plot.h"
#include "models/network/loading.h"
#include "models/analysis/variants.h"

namespace dnabert::cli {
namespace {

struct VariantsArgs {
  std::string model, input, mutations, vcf, reference, out, positive;
  int64_t window = 0;
  bool saturate = false;
  int plot = 10, batch = 32;
};

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string effect_columns(double p_orig, double p_mut) {
  const models::VariantEffect e = models::variant_effect(p_orig, p_mut);
  return fmt(p_orig) + "\t" + fmt(p_mut) + "\t" + fmt(e.diff) + "\t" + fmt(e.log_odds_ratio);
}

// Every position x every base: the position x base matrix of diff, and heatmaps.
void saturate(const VariantsArgs& a, const std::vector<std::string>& seqs, models::VariantScorer& score) {
  static const char kBases[4] = {'A', 'C', 'G', 'T'};
  io::AtomicFile out(a.out);
  out.write("index\tposition\tref\torig_pred\tdiff_A\tdiff_C\tdiff_G\tdiff_T\tlogOR_A\tlogOR_C\tlogOR_G\tlogOR_T\n");
  ProgressBar bar("saturate", static_cast<int64_t>(seqs.size()), "seq");
  const std::vector<double> orig = score(seqs);
  for (size_t i = 0; i < seqs.size(); ++i) {
    const std::string& s = seqs[i];
    const std::vector<double> p = models::saturation_probabilities(s, orig[i], score);
    io::Heatmap h;
    h.title = "sequence " + std::to_string(i) + ": diff = (p_mut - p_orig) * max(p_orig, p_mut), p_orig " + fmt(orig[i]);
    h.x_label = "position";
    h.diverging = true;
    h.row_labels = {"A", "C", "G", "T"};
    h.values.assign(4, std::vector<double>(s.size()));
    h.letters.assign(4, std::string(s.size(), ' '));
    for (size_t j = 0; j < s.size(); ++j) {
      std::string diffs, lors;
      for (int b = 0; b < 4; ++b) {
        const models::VariantEffect e = models::variant_effect(orig[i], p[j * 4 + static_cast<size_t>(b)]);
        diffs += "\t" + fmt(e.diff), lors += "\t" + fmt(e.log_odds_ratio);
        h.values[static_cast<size_t>(b)][j] = e.diff;
        if (s[j] == kBases[b]) h.letters[static_cast<size_t>(b)][j] = s[j];
      }
      out.write(std::to_string(i) + "\t" + std::to_string(j) + "\t" + std::string(1, s[j]) + "\t" + fmt(orig[i]) + diffs +
                lors + "\n");
    }
    if (static_cast<int>(i) < a.plot) {
      const std::filesystem::path p(a.out);
      io::write_heatmap_svg((p.parent_path() / p.stem()).string() + "_saturation_" + std::to_string(i) + ".svg", h);
    }
    bar.update(static_cast<int64_t>(i + 1));
  }
  out.commit();
  bar.finish();
}

int run(const VariantsArgs& a) {
  const int modes = !a.mutations.empty() + !a.vcf.empty() + a.saturate;
  if (modes != 1) throw UsageError("give exactly one of --mutations, --vcf or --saturate");
  if (!a.vcf.empty() && (a.reference.empty() || a.window < 1))
    throw UsageError("--vcf needs --reference GENOME.fa.gz and --window W (the length the model was fine-tuned on)");
  if (a.vcf.empty() && a.input.empty()) throw UsageError("--mutations and --saturate need --input SEQUENCES");
  models::LoadedModel lm = models::load_model(a.model, models::Heads::Classification);
  const int positive = models::positive_class(a.model, lm.model->config().num_labels, a.positive);
  models::VariantScorer score(lm, positive, a.batch);

  if (a.saturate) {
    saturate(a, models::read_sequence_list(a.input), score);
    std::printf("wrote %s (position x base effects)\n", a.out.c_str());
    return 0;
  }
  const models::MutationSet set = a.mutations.empty()
                                      ? models::mutations_from_vcf(a.vcf, a.reference, a.window)
                                      : models::mutations_from_file(a.mutations, models::read_sequence_list(a.input), a.input);
  if (set.symbolic_skipped)
    std::fprintf(stderr, "variants: skipped %zu symbolic ALT alleles (<DEL>, *, breakends)\n", set.symbolic_skipped);
  if (set.orig.empty()) throw Error((a.vcf.empty() ? a.mutations : a.vcf) + ": no mutations");
  const std::vector<double> p_orig = score(set.orig), p_mut = score(set.mutant);
  io::AtomicFile out(a.out);
  out.write(set.header + "\torig_seq\tmut_seq\torig_pred\tmut_pred\tdiff\tlogOR\n");
  for (size_t i = 0; i < set.orig.size(); ++i)
    out.write(set.name[i] + "\t" + set.orig[i] + "\t" + set.mutant[i] + "\t" + effect_columns(p_orig[i], p_mut[i]) +
              "\n");
  out.commit();
  std::printf("wrote %s: %zu mutations scored\n", a.out.c_str(), set.orig.size());
  return 0;
}

}  // namespace

Runner variants_command(CLI::App& app) {
  auto a = std::make_shared<VariantsArgs>();
  auto* s = app.add_subcommand("variants", "Effects of mutations on a fine-tuned classifier (in-silico mutagenesis)");
  s->add_option("--model", a->model, "Fine-tuned classifier directory (finetune's out/best)")
      ->required()->check(CLI::ExistingDirectory);
  s->add_option("--input", a->input, "Sequences the mutations refer to by 0-based row: TSV/CSV/FASTA/lines");
  s->add_option("--mutations", a->mutations, "DNABERT mutation file: index, start, end, allele per line (tab-separated)");
  s->add_option("--vcf", a->vcf, "VCF (.gz) of variants, scored in --window bases of --reference around each");
  s->add_option("--reference", a->reference, "Reference genome FASTA (.gz) for --vcf");
  s->add_option("--window", a->window, "Bases around each VCF variant (use the length the model was fine-tuned on)")
      ->check(integer_in<int64_t>(1));
  s->add_flag("--saturate", a->saturate, "Every position x base change of every --input sequence, with heatmaps");
  s->add_option("--plot", a->plot, "With --saturate: heatmap SVGs for the first N sequences (OUT_saturation_<i>.svg)")
      ->check(integer_in<int>(0))->capture_default_str();
  s->add_option("--positive", a->positive, "Label of the scored class (default: \"1\", else the last class)");
  s->add_option("--batch", a->batch, "Sequences per forward pass")->check(integer_in<int>(1))->capture_default_str();
  s->add_option("--out", a->out, "Output TSV")->required();
  return [a] { return run(*a); };
}

}  // namespace dnabert::cli
