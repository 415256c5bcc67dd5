// DNABERT-viz attention scores: how much the [CLS] token of a layer attends to
// each k-mer, spread back onto the nucleotides.
//
// The model's attention op is flash-style and never stores probabilities, so
// they are recomputed here from the layer's input (Bert::encode's all_layers):
// q for the [CLS] row, k for every row, softmax(q·kᵀ/√D) per head with padding
// excluded. Only the [CLS] row is needed, so this costs O(B·T·H) per layer.
#pragma once
#include <cstdint>
#include <span>
#include <functional>
#include <string>
#include <vector>

#include "engine/arena.h"
#include "models/network/bert.h"
#include "tokenizer/kmer.h"

namespace dnabert::models {

// Which attention to sum: layers first..last (0-based, inclusive) and the
// listed heads (empty = all).
struct AttentionSpec {
  int first_layer = 0, last_layer = 0;
  std::vector<int> heads;
};

// "3" or "2..3" (0-based; negative counts from the end, -1 = last); "" = the
// last layer. Throws UsageError for a malformed or out-of-range spec.
AttentionSpec parse_attention_spec(const std::string& layers, const std::string& heads, int num_layers,
                                   int num_heads);

// [CLS]-row attention probabilities summed over the chosen layers and heads:
// [B, T] row-major, 0 at padding. `in` must carry the attention mask.
std::vector<float> cls_attention(const Bert& model, const BertInputs& in, const AttentionSpec& spec,
                                 engine::Arena& arena);

// k-mer j covers nucleotides j..j+k-1; each nucleotide gets the mean score of
// the k-mers that cover it (DNABERT's get_real_score, metric "mean").
std::vector<float> spread_kmer_scores(std::span<const float> kmer_scores, int k);

// The bases of a dataset text: a raw sequence as is; a k-mer sentence
// ("ACGTAC CGTACG ...") merged back (DNABERT's kmer2seq: the first base of
// every k-mer, then the whole last k-mer).
std::string bases_of(const std::string& text, tokenizer::Input input);

// x / ||x||₂ (unchanged if the norm is 0).
void l2_normalize(std::span<float> x);

// The whole DNABERT-viz score for a batch of encodings ([CLS] k-mers [SEP]):
// the [CLS] attention of each k-mer ([SEP] and padding dropped), spread over
// nucleotides, L2-normalised. One vector of kmers + k - 1 values per encoding.
std::vector<std::vector<float>> nucleotide_attention(const Bert& model, const std::vector<std::vector<int32_t>>& encodings,
                                                     int k, const AttentionSpec& spec, engine::Arena& arena);

// A file's sequences as attention rows (FASTA/FASTQ, GUE CSV, DNABERT TSV or
// one per line; plain or gzip; read twice, so not a pipe).
struct AttentionInput {
  int64_t sequences = 0;
  int64_t width = 0;      // nucleotides in the longest row, after truncation to the tokenizer's max_len
  int64_t truncated = 0;  // sequences cut to fit
};
// The first pass: counts and the row width. Throws naming the file and the
// sequence for one shorter than k, or for a file without sequences.
AttentionInput measure_attention_input(const tokenizer::KmerTokenizer& tokenizer, const std::string& input);
// The second pass: each sequence's nucleotide_attention, `batch` at a time,
// in file order: `on_row` gets its index, id, bases (as the k-mers spell
// them) and scores.
void attention_rows(const Bert& model, const tokenizer::KmerTokenizer& tokenizer, const std::string& input,
                    const AttentionSpec& spec, int batch,
                    const std::function<void(int64_t index, const std::string& id, const std::string& bases,
                                             const std::vector<float>& scores)>& on_row);

}  // namespace dnabert::models
