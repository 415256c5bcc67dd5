// Length-bucketed batches of tokenized examples.
//
// One epoch, a pure function of (seed, epoch):
//   1. shuffle all example indices (Fisher-Yates on Rng(seed, stream(epoch)));
//   2. cut the order into windows of bucket_batches * batch_size examples and
//      stable-sort each window by token count, so a batch holds similar lengths
//      and padding stays small;
//   3. cut the result into batches of batch_size (the last may be smaller);
//   4. shuffle the batch order, so long batches are not always last in a window.
// With shuffle off, steps 1 and 4 are skipped (sort_by_length still applies),
// which suits evaluation; Batch::example_indices says where each row came from.
// Every example appears exactly once per epoch unless drop_last drops the
// final short batch.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "io/data/batch.h"
#include "io/data/dataset.h"
#include "tokenizer/kmer.h"

namespace dnabert::io {

struct Example {
  std::vector<int32_t> ids;          // [T_i], [CLS] ... [SEP]
  std::vector<int32_t> token_types;  // [T_i]
  int32_t label = 0;
};

// Encodes every text of `dataset` (single inputs, the tokenizer's max_len).
// Throws dnabert::Error if the dataset holds k-mer sentences of another k.
std::vector<Example> tokenize_dataset(const LabelledDataset& dataset, const tokenizer::KmerTokenizer& tokenizer);

struct BatcherOptions {
  size_t batch_size = 32;
  uint64_t seed = 0;
  bool shuffle = true;
  bool sort_by_length = true;
  size_t bucket_batches = 50;  // window of the length sort, in batches
  bool drop_last = false;      // drop a final batch smaller than batch_size
};

class Batcher {
 public:
  // Keeps a view of `examples`: they must outlive the batcher.
  Batcher(std::span<const Example> examples, BatcherOptions options);

  size_t num_batches() const;
  const BatcherOptions& options() const { return options_; }

  // The example indices of every batch of `epoch`, rows in order.
  std::vector<std::vector<size_t>> plan(uint64_t epoch) const;
  // Pads the given examples into one batch (io::pad), reusing the buffers of
  // `out`, with their labels [B] and example_indices.
  void make_batch(std::span<const size_t> indices, Batch& out) const;

  // Sequential use: start_epoch(e), then next(batch) until it returns false.
  void start_epoch(uint64_t epoch);
  bool next(Batch& out);

 private:
  std::span<const Example> examples_;
  BatcherOptions options_;
  std::vector<std::vector<size_t>> current_;
  size_t cursor_ = 0;
};

}  // namespace dnabert::io
