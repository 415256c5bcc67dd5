// dnabert attention: DNABERT-viz attention scores per nucleotide, streamed to
// a float32 [N, L] .npy (L = the longest sequence; shorter rows end in zeros),
// with optional heatmaps of the first sequences.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/progress.h"
#include "base/error.h"
#include "io/formats/npy.h"
#include "io/report/plot.h"
#include "io/data/sequence_source.h"
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
  const int k = tok.k();

  // First pass: the row length of the output is the longest sequence (after truncation).
  int64_t total = 0, width = 0, truncated = 0;
  {
    io::SequenceSource source(a.input);
    source.require_kmer(k);
    source.set_piece_bases(static_cast<size_t>(T - 2 + k));  // the first T-2 k-mers, and one base to tell truncation
    io::SourceItem item;
    tokenizer::Encoding enc;
    while (source.next(item)) {
      tok.encode(item.text, item.input, enc);
      if (enc.ids.size() < 3) throw Error(a.input + ": sequence " + item.id + " is shorter than k = " + std::to_string(k));
      width = std::max<int64_t>(width, static_cast<int64_t>(enc.ids.size()) - 2 + k - 1);
      truncated += enc.truncated > 0;
      ++total;
    }
  }
  if (total == 0) throw Error(a.input + ": no sequences");
  std::fprintf(stderr, "attention: %lld sequences, layers %d..%d, %s heads, rows of %lld nucleotides\n",
               static_cast<long long>(total), spec.first_layer, spec.last_layer,
               spec.heads.empty() ? "all" : std::to_string(spec.heads.size()).c_str(), static_cast<long long>(width));

  io::SequenceSource source(a.input);
  source.set_piece_bases(static_cast<size_t>(T - 2 + k));
  io::NpyWriter npy(a.out, engine::Dims{width});
  engine::Arena arena;
  ProgressBar bar("attention", total, "seq");
  std::vector<std::vector<int32_t>> batch;
  std::vector<std::string> ids, texts;
  io::SourceItem item;
  int64_t done = 0;
  bool more = true;
  while (more) {
    batch.clear(), ids.clear(), texts.clear();
    while (static_cast<int>(batch.size()) < a.batch && (more = source.next(item))) {
      batch.push_back(tok.encode(item.text, item.input).ids);
      ids.push_back(item.id);
      texts.push_back(tok.decode_sequence(batch.back()));
    }
    if (batch.empty()) break;
    const auto scores = models::nucleotide_attention(*lm.model, batch, k, spec, arena);
    const int64_t B = static_cast<int64_t>(batch.size());
    engine::Tensor rows = engine::Tensor::zeros({B, width});
    for (int64_t b = 0; b < B; ++b) {
      const auto& s = scores[static_cast<size_t>(b)];
      std::copy(s.begin(), s.end(), rows.f32() + b * width);
      if (done + b < a.plot) {
        io::Heatmap h;
        h.title = ids[static_cast<size_t>(b)] + ": [CLS] attention, layers " + std::to_string(spec.first_layer) + ".." +
                  std::to_string(spec.last_layer);
        h.x_label = "nucleotide";
        h.row_labels = {ids[static_cast<size_t>(b)]};
        h.values = {std::vector<double>(s.begin(), s.end())};
        h.letters = {texts[static_cast<size_t>(b)]};
        io::write_heatmap_svg(stem_of(a.out) + "_" + std::to_string(done + b) + ".svg", h);
      }
    }
    npy.append(rows);
    done += B;
    bar.update(done);
  }
  npy.close();
  bar.finish();
  std::printf("wrote %s: float32 [%lld, %lld]%s\n", a.out.c_str(), static_cast<long long>(done),
              static_cast<long long>(width),
              a.plot > 0 ? (", heatmaps " + stem_of(a.out) + "_<i>.svg").c_str() : "");
  warn_truncated("attention", truncated, T);
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
