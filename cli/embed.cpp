// dnabert embed: sequence embeddings from a trained model, streamed to .npy
// (models/analysis/embed.h does the embedding).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/progress.h"
#include "models/analysis/embed.h"

namespace dnabert::cli {
namespace {

struct EmbedArgs {
  std::string model, input, out, pooling = "cls";
  models::EmbedOptions options;
  int batch = 32;
};

int run(EmbedArgs a) {
  const models::LoadedModel lm = models::load_model(a.model, models::Heads::None);
  const models::BertConfig& cfg = lm.model->config();
  if (a.options.max_len > 0) check_max_len(a.options.max_len, 3, cfg.max_position_embeddings, a.model);
  a.options.pooling = models::parse_pooling(a.pooling);
  const models::Embedder embedder(lm, a.options);
  std::fprintf(stderr, "embed: layer %d of %d, pooling %s%s\n", embedder.layer(), cfg.num_hidden_layers,
               a.pooling.c_str(), a.options.normalize ? ", L2-normalised" : "");
  const models::EmbedSummary sum = models::embed_file(embedder, a.input, a.out, a.batch, [&](int64_t done) {
    if (done % (a.batch * 50) == 0) std::fprintf(stderr, "embed: %lld sequences\n", static_cast<long long>(done));
  });
  const bool none = a.options.pooling == models::Pooling::None;
  std::printf("wrote %s: %lld sequences (%s input), shape [%lld%s, %d]\n", a.out.c_str(),
              static_cast<long long>(sum.sequences), sum.format, static_cast<long long>(sum.sequences),
              none ? (", " + std::to_string(embedder.max_len())).c_str() : "", cfg.hidden_size);
  warn_truncated("embed", sum.truncated, embedder.max_len());
  return 0;
}

}  // namespace

Runner embed_command(CLI::App& app) {
  auto a = std::make_shared<EmbedArgs>();
  auto* s = app.add_subcommand("embed", "Embed sequences with a trained model into a float32 .npy file");
  s->add_option("--model", a->model, "Model directory (config.json, model.safetensors, vocab.txt)")
      ->required()->check(CLI::ExistingDirectory);
  s->add_option("--input", a->input, "FASTA/FASTQ (.gz), GUE CSV, DNABERT TSV, or one sequence per line")->required();
  s->add_option("--pooling", a->pooling, "cls: the [CLS] vector [N, H]; mean: mean of the k-mer tokens [N, H]; "
                                         "none: every token [N, T, H], zero-padded")
      ->check(CLI::IsMember({"cls", "mean", "none"}))->capture_default_str();
  s->add_option("--layer", a->options.layer,
                "Layer to read: 0 = embeddings, L = last (default), negative counts from the end")
      ->check(integer_in<int>(std::numeric_limits<int>::min() + 1))->capture_default_str();
  s->add_flag("--normalize", a->options.normalize, "L2-normalise each pooled vector");
  s->add_option("--batch", a->batch, "Sequences per batch")->check(integer_in<int>(1))->capture_default_str();
  s->add_option("--max-len", a->options.max_len, "Tokens per sequence (longer ones are truncated; default: the model's)")
      ->check(integer_in<int>(3));
  s->add_option("--out", a->out, "Output .npy file")->required();
  return [a] { return run(*a); };
}

}  // namespace dnabert::cli
