// dnabert attention: DNABERT-viz attention scores per nucleotide, streamed to
// a float32 [N, L] .npy (L = the longest sequence; shorter rows end in zeros),
// with optional heatmaps of the first sequences.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/progress.h"
#include "io/formats/npy.h"
#include "io/report/plot.h"
#include "models/analysis/interpret.h"
#include "models/network/loading.h"
#include "tokenizer/kmer.h"

namespace dnabert::cli {
namespace {

struct AttentionArgs {
  std::string model, input, out, layers, heads;
  int plot = 0, batch = 32, max_len = 0;
};

// "out/atten.npy" -> "out/atten"
std::string stem_of(const std::string& path) {
  std::filesystem::path p(path);
  return (p.parent_path() / p.stem()).string();
}

int run(const AttentionArgs& a) {
  require_regular_file("--input", a.input, "attention reads it twice (lengths first, then scores)");
  models::LoadedModel lm = models::load_model(a.model, models::Heads::None);
  const models::BertConfig& cfg = lm.model->config();
  const models::AttentionSpec spec =
      models::parse_attention_spec(a.layers, a.heads, cfg.num_hidden_layers, cfg.num_attention_heads);
  const int T = a.max_len > 0 ? a.max_len : cfg.max_position_embeddings;
  check_max_len(T, 3, cfg.max_position_embeddings, a.model);
  tokenizer::TokenizerOptions topt;
  topt.max_len = static_cast<size_t>(T);
  tokenizer::KmerTokenizer tok(lm.vocab, topt);
  const models::AttentionInput in = models::measure_attention_input(tok, a.input);
  std::fprintf(stderr, "attention: %lld sequences, layers %d..%d, %s heads, rows of %lld nucleotides\n",
               static_cast<long long>(in.sequences), spec.first_layer, spec.last_layer,
               spec.heads.empty() ? "all" : std::to_string(spec.heads.size()).c_str(), static_cast<long long>(in.width));
  io::NpyWriter npy(a.out, engine::Dims{in.width});
  ProgressBar bar("attention", in.sequences, "seq");
  engine::Tensor row = engine::Tensor::empty({1, in.width});
  int64_t done = 0;
  models::attention_rows(*lm.model, tok, a.input, spec, a.batch,
                         [&](int64_t i, const std::string& id, const std::string& bases, const std::vector<float>& s) {
                           std::fill(row.f32(), row.f32() + in.width, 0.0f);
                           std::copy(s.begin(), s.end(), row.f32());
                           npy.append(row);
                           if (i < a.plot) {
                             io::Heatmap h;
                             h.title = id + ": [CLS] attention, layers " + std::to_string(spec.first_layer) + ".." +
                                       std::to_string(spec.last_layer);
                             h.x_label = "nucleotide";
                             h.row_labels = {id};
                             h.values = {std::vector<double>(s.begin(), s.end())};
                             h.letters = {bases};
                             io::write_heatmap_svg(stem_of(a.out) + "_" + std::to_string(i) + ".svg", h);
                           }
                           bar.update(done = i + 1);
                         });
  npy.close();
  bar.finish();
  std::printf("wrote %s: float32 [%lld, %lld]%s\n", a.out.c_str(), static_cast<long long>(done),
              static_cast<long long>(in.width),
              a.plot > 0 ? (", heatmaps " + stem_of(a.out) + "_<i>.svg").c_str() : "");
  warn_truncated("attention", in.truncated, T);
  return 0;
}

}  // namespace

Runner attention_command(CLI::App& app) {
  auto a = std::make_shared<AttentionArgs>();
  auto* s = app.add_subcommand("attention", "DNABERT-viz attention scores per nucleotide into a float32 [N, L] .npy");
  s->add_option("--model", a->model, "Model directory (a fine-tuned classifier, e.g. finetune's out/best)")
      ->required()->check(CLI::ExistingDirectory);
  s->add_option("--input", a->input, "FASTA/FASTQ (.gz), GUE CSV, DNABERT TSV, or one sequence per line")->required();
  s->add_option("--out", a->out, "Output .npy: one row per sequence, L2-normalised scores, zero-padded")->required();
  s->add_option("--layers", a->layers, "Layer or range to sum, 0-based: 3 or 2..3; negative counts from the end "
                                       "(default: the last layer)");
  s->add_option("--heads", a->heads, "Comma-separated heads to sum, 0-based (default: all)");
  s->add_option("--plot", a->plot, "Heatmap SVGs for the first N sequences, next to --out (OUT_<i>.svg)")
      ->check(integer_in<int>(0))->capture_default_str();
  s->add_option("--batch", a->batch, "Sequences per batch")->check(integer_in<int>(1))->capture_default_str();
  s->add_option("--max-len", a->max_len, "Tokens per sequence (longer ones are truncated; default: the model's)")
      ->check(integer_in<int>(3));
  return [a] { return run(*a); };
}

}  // namespace dnabert::cli
