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
#include "io/data/sequence_source.h"
#include "models/analysis/inference.h"
#include "models/analysis/interpret.h"
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

// Positive-class probabilities of many sequences, in chunks so memory stays bounded.
class Scorer {
 public:
  Scorer(const models::LoadedModel& lm, int positive, int batch) : lm_(lm), tok_(lm.vocab), positive_(positive) {
    wo_.max_len = lm.model->config().max_position_embeddings;
    wo_.batch = batch;
    wo_.output = models::output_kind_for(lm.model->config());
    if (wo_.output != models::OutputKind::Softmax)
      throw UsageError("variants needs a classification model (softmax over classes)");
  }
  std::vector<double> operator()(const std::vector<std::string>& seqs) {
    const int C = lm_.model->config().num_labels;
    std::vector<double> p;
    for (size_t s0 = 0; s0 < seqs.size(); s0 += kChunk) {
      std::vector<std::vector<int32_t>> ids;
      for (size_t s = s0; s < std::min(seqs.size(), s0 + kChunk); ++s) {
        ids.emplace_back();
        tok_.append_ids(seqs[s], tokenizer::Input::Sequence, ids.back());
        if (ids.back().empty()) throw Error("variants: a sequence is shorter than k = " + std::to_string(tok_.k()));
      }
      const std::vector<float> probs = models::classify_sequences(*lm_.model, ids, wo_, arena_);
      for (size_t b = 0; b < ids.size(); ++b) p.push_back(probs[b * C + static_cast<size_t>(positive_)]);
    }
    return p;
  }

 private:
  static constexpr size_t kChunk = 1024;
  const models::LoadedModel& lm_;
  tokenizer::KmerTokenizer tok_;
  int positive_;
  models::WindowOptions wo_;
  engine::Arena arena_;
};

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::vector<std::string> read_sequences(const std::string& path) {
  io::SequenceSource source(path);
  io::SourceItem item;
  std::vector<std::string> seqs;
  while (source.next(item)) seqs.push_back(models::bases_of(item.text, item.input));
  if (seqs.empty()) throw Error(path + ": no sequences");
  return seqs;
}

std::string effect_columns(double p_orig, double p_mut) {
  const models::VariantEffect e = models::variant_effect(p_orig, p_mut);
  return fmt(p_orig) + "\t" + fmt(p_mut) + "\t" + fmt(e.diff) + "\t" + fmt(e.log_odds_ratio);
}

// Every position x every base: the position x base matrix of diff, and heatmaps.
void saturate(const VariantsArgs& a, const std::vector<std::string>& seqs, Scorer& score) {
  static const char kBases[4] = {'A', 'C', 'G', 'T'};
  io::AtomicFile out(a.out);
  out.write("index\tposition\tref\torig_pred\tdiff_A\tdiff_C\tdiff_G\tdiff_T\tlogOR_A\tlogOR_C\tlogOR_G\tlogOR_T\n");
  ProgressBar bar("saturate", static_cast<int64_t>(seqs.size()), "seq");
  const std::vector<double> orig = score(seqs);
  for (size_t i = 0; i < seqs.size(); ++i) {
    const std::string& s = seqs[i];
    // The reference base keeps p_orig (diff 0); only the other three are scored.
    std::vector<std::string> mutants;
    for (size_t j = 0; j < s.size(); ++j)
      for (char b : kBases)
        if (b != s[j]) {
          std::string m = s;
          m[j] = b;
          mutants.push_back(std::move(m));
        }
    const std::vector<double> scored = score(mutants);
    std::vector<double> p;
    for (size_t j = 0, next = 0; j < s.size(); ++j)
      for (char b : kBases) p.push_back(b == s[j] ? orig[i] : scored[next++]);
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
  Scorer score(lm, positive, a.batch);

  if (a.saturate) {
    saturate(a, read_sequences(a.input), score);
    std::printf("wrote %s (position x base effects)\n", a.out.c_str());
    return 0;
  }
  std::vector<std::string> orig_seqs, mut_seqs, prefix;
  std::string header;
  if (!a.mutations.empty()) {
    const std::vector<std::string> seqs = read_sequences(a.input);
    header = "index\tstart\tend\tallele";
    for (const models::Mutation& m : io::read_mutations(a.mutations)) {
      const std::string where = a.mutations + ": line " + std::to_string(m.line) + ": ";
      if (m.index >= seqs.size())
        throw Error(where + "index " + std::to_string(m.index) + " is beyond the " + std::to_string(seqs.size()) +
                    " sequences of " + a.input);
      orig_seqs.push_back(seqs[m.index]);
      mut_seqs.push_back(models::apply_mutation(seqs[m.index], m, where));
      prefix.push_back(std::to_string(m.index) + "\t" + std::to_string(m.start) + "\t" + std::to_string(m.end) + "\t" +
                       m.allele);
    }
  } else {
    const io::VcfContents vcf = io::read_vcf(a.vcf);
    if (vcf.symbolic_skipped)
      std::fprintf(stderr, "variants: skipped %zu symbolic ALT alleles (<DEL>, *, breakends)\n", vcf.symbolic_skipped);
    header = "chrom\tpos\tid\tref\talt";
    for (const models::VariantWindow& w : models::variant_windows(vcf.records, a.vcf, a.reference, a.window)) {
      orig_seqs.push_back(w.reference);
      mut_seqs.push_back(models::apply_mutation(w.reference, w.mutation, a.vcf + ": line " + std::to_string(w.record.line) + ": "));
      prefix.push_back(w.record.chrom + "\t" + std::to_string(w.record.pos) + "\t" + w.record.id + "\t" + w.record.ref +
                       "\t" + w.record.alt);
    }
  }
  if (orig_seqs.empty()) throw Error((a.vcf.empty() ? a.mutations : a.vcf) + ": no mutations");
  const std::vector<double> p_orig = score(orig_seqs), p_mut = score(mut_seqs);
  io::AtomicFile out(a.out);
  out.write(header + "\torig_seq\tmut_seq\torig_pred\tmut_pred\tdiff\tlogOR\n");
  for (size_t i = 0; i < orig_seqs.size(); ++i)
    out.write(prefix[i] + "\t" + orig_seqs[i] + "\t" + mut_seqs[i] + "\t" + effect_columns(p_orig[i], p_mut[i]) + "\n");
  out.commit();
  std::printf("wrote %s: %zu mutations scored\n", a.out.c_str(), orig_seqs.size());
  return 0;
}

Registration reg([](CLI::App& app) {
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
  return std::function<int()>([a] { return run(*a); });
});

}  // namespace
}  // namespace dnabert::cli
