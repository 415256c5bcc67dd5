#include "models/analysis/embed.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "io/data/batch.h"
#include "io/data/sequence_source.h"
#include "io/formats/npy.h"

namespace dnabert::models {

Pooling parse_pooling(const std::string& name) {
  if (name == "cls") return Pooling::Cls;
  if (name == "mean") return Pooling::Mean;
  if (name == "none") return Pooling::None;
  throw UsageError("pooling '" + name + "': expected cls, mean or none");
}

const char* pooling_name(Pooling p) { return p == Pooling::Cls ? "cls" : p == Pooling::Mean ? "mean" : "none"; }

namespace {
tokenizer::TokenizerOptions tokens(int max_len) {
  tokenizer::TokenizerOptions o;
  o.max_len = static_cast<size_t>(max_len);
  return o;
}
}  // namespace

Embedder::Embedder(const LoadedModel& lm, const EmbedOptions& o)
    : model_(*lm.model),
      options_(o),
      layer_(o.layer < 0 ? lm.model->config().num_hidden_layers + 1 + o.layer : o.layer),
      T_(o.max_len > 0 ? o.max_len : lm.model->config().max_position_embeddings),
      H_(lm.model->config().hidden_size),
      tok_(lm.vocab, tokens(T_)) {
  const int L = model_.config().num_hidden_layers, P = model_.config().max_position_embeddings;
  if (layer_ < 0 || layer_ > L)
    throw UsageError("--layer " + std::to_string(o.layer) + " is outside 0.." + std::to_string(L) +
                     " (0 = embeddings, " + std::to_string(L) + " = last layer, negative counts from the end)");
  if (T_ < 3 || T_ > P)
    throw UsageError("--max-len: must be an integer in 3.." + std::to_string(P) + ", got " + std::to_string(T_));
}

engine::Dims Embedder::row_shape() const {
  return options_.pooling == Pooling::None ? engine::Dims{T_, H_} : engine::Dims{H_};
}

engine::Tensor Embedder::embed(const std::vector<tokenizer::Encoding>& enc, engine::Arena& arena) const {
  const int64_t B = static_cast<int64_t>(enc.size()), H = H_, T = T_;
  const int L = model_.config().num_hidden_layers;
  std::vector<io::Row> rows;
  for (const auto& e : enc) rows.push_back({e.ids, e.token_types});
  io::Batch batch;
  io::pad(rows, batch);
  const auto Tb = static_cast<int64_t>(batch.T);
  engine::Tape tape(arena, engine::Tape::Mode::Inference);
  std::vector<engine::Tensor> layers;
  engine::Tensor hidden = model_.encode(tape, bert_inputs(batch, arena), {}, layer_ == L ? nullptr : &layers);
  if (layer_ != L) hidden = layers[static_cast<size_t>(layer_)];
  const float* h = hidden.f32();
  const bool none = options_.pooling == Pooling::None;
  engine::Tensor out = engine::Tensor::zeros(none ? engine::Dims{B, T, H} : engine::Dims{B, H}, &arena);
  float* o = out.f32();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = static_cast<int64_t>(enc[static_cast<size_t>(b)].ids.size());
    if (none) {
      std::memcpy(o + b * T * H, h + b * Tb * H, static_cast<size_t>(n * H) * sizeof(float));
      continue;
    }
    float* row = o + b * H;
    if (options_.pooling == Pooling::Cls) {
      std::memcpy(row, h + b * Tb * H, static_cast<size_t>(H) * sizeof(float));
    } else {  // mean over the k-mer tokens, [CLS] and [SEP] excluded
      const int64_t first = 1, last = std::max<int64_t>(first + 1, n - 1);
      for (int64_t t = first; t < last; ++t)
        for (int64_t c = 0; c < H; ++c) row[c] += h[(b * Tb + t) * H + c];
      for (int64_t c = 0; c < H; ++c) row[c] /= static_cast<float>(last - first);
    }
    if (options_.normalize) {
      double ss = 0;
      for (int64_t c = 0; c < H; ++c) ss += double(row[c]) * row[c];
      const float inv = ss > 0 ? static_cast<float>(1.0 / std::sqrt(ss)) : 0.0f;
      for (int64_t c = 0; c < H; ++c) row[c] *= inv;
    }
  }
  return out;
}

EmbedSummary embed_file(const Embedder& embedder, const std::string& input, const std::string& out, int batch,
                        const std::function<void(int64_t)>& progress) {
  const tokenizer::KmerTokenizer& tok = embedder.tokenizer();
  io::SequenceSource source(input);
  source.require_kmer(tok.k());
  // Only the first T-2 k-mers are embedded: read one base more, to tell a
  // truncated sequence, and skip the rest unread.
  source.set_piece_bases(static_cast<size_t>(embedder.max_len() - 2 + tok.k()));
  io::NpyWriter npy(out, embedder.row_shape());
  engine::Arena arena;
  EmbedSummary sum;
  sum.format = source.format();
  std::vector<tokenizer::Encoding> enc;
  io::SourceItem item;
  for (bool more = true; more;) {
    enc.clear();
    while (static_cast<int>(enc.size()) < batch && (more = source.next(item))) {
      enc.push_back(tok.encode(item.text, item.input));
      sum.truncated += enc.back().truncated > 0;
    }
    if (enc.empty()) break;
    npy.append(embedder.embed(enc, arena));
    sum.sequences += static_cast<int64_t>(enc.size());
    if (progress) progress(sum.sequences);
  }
  npy.close();
  return sum;
}

}  // namespace dnabert::models
