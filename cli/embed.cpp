// dnabert embed: sequence embeddings from a trained model, streamed to .npy.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "cli/commands.h"
#include "cli/progress.h"
#include "base/error.h"
#include "io/data/batch.h"
#include "io/formats/npy.h"
#include "io/data/sequence_source.h"
#include "models/network/loading.h"
#include "tokenizer/kmer.h"

namespace dnabert::cli {
namespace {

struct EmbedArgs {
  std::string model, input, out, pooling = "cls";
  int layer = -1;  // -1 = last
  int batch = 32;
  int max_len = 0;  // 0 = the model's max_position_embeddings
  bool normalize = false;
};

int run(const EmbedArgs& a) {
  models::LoadedModel lm = models::load_model(a.model, models::Heads::None);
  const models::BertConfig& cfg = lm.model->config();
  const int L = cfg.num_hidden_layers, H = cfg.hidden_size;
  const int layer = a.layer < 0 ? L + 1 + a.layer : a.layer;
  if (layer < 0 || layer > L)
    throw UsageError("--layer " + std::to_string(a.layer) + " is outside 0.." + std::to_string(L) +
                     " (0 = embeddings, " + std::to_string(L) + " = last layer, negative counts from the end)");
  const int T = a.max_len > 0 ? a.max_len : cfg.max_position_embeddings;
  check_max_len(T, 3, cfg.max_position_embeddings, a.model);
  tokenizer::TokenizerOptions topt;
  topt.max_len = static_cast<size_t>(T);
  tokenizer::KmerTokenizer tok(lm.vocab, topt);

  io::SequenceSource source(a.input);
  source.require_kmer(tok.k());
  // Only the first T-2 k-mers are embedded: read one base more, to tell a
  // truncated sequence, and skip the rest unread.
  source.set_piece_bases(static_cast<size_t>(T - 2 + tok.k()));
  const bool none = a.pooling == "none";
  io::NpyWriter npy(a.out, none ? engine::Dims{T, H} : engine::Dims{H});
  engine::Arena arena;
  int64_t done = 0, truncated = 0;
  std::fprintf(stderr, "embed: %s input, layer %d of %d, pooling %s%s\n", source.format(), layer, L,
               a.pooling.c_str(), a.normalize ? ", L2-normalised" : "");

  std::vector<tokenizer::Encoding> enc;
  std::vector<io::Row> rows;
  io::Batch batch;
  io::SourceItem item;
  bool more = true;
  while (more) {
    enc.clear();
    while (static_cast<int>(enc.size()) < a.batch && (more = source.next(item))) {
      enc.push_back(tok.encode(item.text, item.input));
      truncated += enc.back().truncated > 0;
    }
    if (enc.empty()) break;
    const int64_t B = static_cast<int64_t>(enc.size());
    rows.clear();
    for (const auto& e : enc) rows.push_back({e.ids, e.token_types});
    io::pad(rows, batch);
    const auto Tb = static_cast<int64_t>(batch.T);
    engine::Tape tape(arena, engine::Tape::Mode::Inference);
    std::vector<engine::Tensor> layers;
    engine::Tensor hidden =
        lm.model->encode(tape, models::bert_inputs(batch, arena), {}, layer == L ? nullptr : &layers);
    if (layer != L) hidden = layers[static_cast<size_t>(layer)];
    const float* h = hidden.f32();
    engine::Tensor out = engine::Tensor::zeros(none ? engine::Dims{B, T, H} : engine::Dims{B, H}, &arena);
    float* o = out.f32();
    for (int64_t b = 0; b < B; ++b) {
      const int64_t n = static_cast<int64_t>(enc[static_cast<size_t>(b)].ids.size());
      if (none) {
        std::memcpy(o + b * T * H, h + b * Tb * H, static_cast<size_t>(n * H) * sizeof(float));
        continue;
      }
      float* row = o + b * H;
      if (a.pooling == "cls") {
        std::memcpy(row, h + b * Tb * H, static_cast<size_t>(H) * sizeof(float));
      } else {  // mean over the k-mer tokens, [CLS] and [SEP] excluded
        const int64_t first = 1, last = std::max<int64_t>(first + 1, n - 1);
        for (int64_t t = first; t < last; ++t)
          for (int64_t c = 0; c < H; ++c) row[c] += h[(b * Tb + t) * H + c];
        for (int64_t c = 0; c < H; ++c) row[c] /= static_cast<float>(last - first);
      }
      if (a.normalize) {
        double ss = 0;
        for (int64_t c = 0; c < H; ++c) ss += double(row[c]) * row[c];
        const float inv = ss > 0 ? static_cast<float>(1.0 / std::sqrt(ss)) : 0.0f;
        for (int64_t c = 0; c < H; ++c) row[c] *= inv;
      }
    }
    npy.append(out);
    done += B;
    if (done % (a.batch * 50) == 0) std::fprintf(stderr, "embed: %lld sequences\n", static_cast<long long>(done));
  }
  npy.close();
  std::printf("wrote %s: %lld sequences, shape [%lld%s, %d]\n", a.out.c_str(), static_cast<long long>(done),
              static_cast<long long>(done), none ? (", " + std::to_string(T)).c_str() : "", H);
  warn_truncated("embed", truncated, T);
  return 0;
}

Registration reg([](CLI::App& app) {
  auto a = std::make_shared<EmbedArgs>();
  auto* s = app.add_subcommand("embed", "Embed sequences with a trained model into a float32 .npy file");
  s->add_option("--model", a->model, "Model directory (config.json, model.safetensors, vocab.txt)")
      ->required()->check(CLI::ExistingDirectory);
  s->add_option("--input", a->input, "FASTA/FASTQ (.gz), GUE CSV, DNABERT TSV, or one sequence per line")->required();
  s->add_option("--pooling", a->pooling, "cls: the [CLS] vector [N, H]; mean: mean of the k-mer tokens [N, H]; "
                                         "none: every token [N, T, H], zero-padded")
      ->check(CLI::IsMember({"cls", "mean", "none"}))->capture_default_str();
  s->add_option("--layer", a->layer, "Layer to read: 0 = embeddings, L = last (default), negative counts from the end")
      ->check(integer_in<int>(std::numeric_limits<int>::min() + 1))->capture_default_str();
  s->add_flag("--normalize", a->normalize, "L2-normalise each pooled vector");
  s->add_option("--batch", a->batch, "Sequences per batch")->check(integer_in<int>(1))->capture_default_str();
  s->add_option("--max-len", a->max_len, "Tokens per sequence (longer ones are truncated; default: the model's)")
      ->check(integer_in<int>(3));
  s->add_option("--out", a->out, "Output .npy file")->required();
  return std::function<int()>([a] { return run(*a); });
});

}  // namespace
}  // namespace dnabert::cli
