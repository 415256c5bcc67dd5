// Sequence embeddings from a trained model: the hidden states of one layer,
// pooled to one vector per sequence ([CLS] or the mean of the k-mer tokens,
// optionally L2-normalised) or kept per token.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/arena.h"
#include "models/network/loading.h"
#include "tokenizer/kmer.h"

namespace dnabert::models {

enum class Pooling { Cls, Mean, None };
Pooling parse_pooling(const std::string& name);  // "cls" | "mean" | "none"
const char* pooling_name(Pooling pooling);

struct EmbedOptions {
  int layer = -1;  // 0 = the embeddings, L = the last layer; negative counts from the end (-1 = last)
  Pooling pooling = Pooling::Cls;
  bool normalize = false;  // L2-normalise each pooled vector (a zero vector stays zero)
  int max_len = 0;         // tokens per sequence, [CLS] and [SEP] included; 0 = the model's maximum
};

class Embedder {
 public:
  // Throws dnabert::UsageError for a layer outside -L-1..L or a max_len
  // outside 3..max_position_embeddings.
  Embedder(const LoadedModel& model, const EmbedOptions& options);
  int layer() const { return layer_; }  // 0..L
  int max_len() const { return T_; }
  engine::Dims row_shape() const;  // [H] pooled, [max_len, H] with Pooling::None
  const tokenizer::KmerTokenizer& tokenizer() const { return tok_; }
  // One row per encoding (made by tokenizer()): [B, row_shape()]. Per-token
  // rows are zero after each sequence's last token.
  engine::Tensor embed(const std::vector<tokenizer::Encoding>& batch, engine::Arena& arena) const;

 private:
  const Bert& model_;
  EmbedOptions options_;
  int layer_, T_, H_;
  tokenizer::KmerTokenizer tok_;
};

struct EmbedSummary {
  int64_t sequences = 0;
  int64_t truncated = 0;  // sequences longer than max_len, cut to fit
  const char* format = "";  // the input's format ("FASTA", "CSV", "TSV" or "lines")
};

// Embeds every sequence of `input` (FASTA/FASTQ, GUE CSV, DNABERT TSV or one
// per line; plain or gzip) `batch` at a time into the float32 .npy file `out`
// (written atomically), reading each sequence only as far as max_len needs.
// `progress` gets the sequences done after each batch.
EmbedSummary embed_file(const Embedder& embedder, const std::string& input, const std::string& out, int batch,
                        const std::function<void(int64_t done)>& progress = {});

}  // namespace dnabert::models
