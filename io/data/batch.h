// One padded batch of token rows: the single form in which every batch
// (fine-tuning, masked-LM pretraining and its held-out set, windowed
// classification, attention, embeddings) goes to the model.
// models::bert_inputs turns it into the model's input tensors.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace dnabert::io {

// One row to pad: its token ids and their token types (empty = all 0).
struct Row {
  std::span<const int32_t> ids;
  std::span<const int32_t> token_types = {};
};

struct Batch {
  size_t B = 0, T = 0;                  // rows, tokens per row (the longest row)
  std::vector<int32_t> input_ids;       // [B*T], [PAD]=0 after each row's tokens
  std::vector<int32_t> token_types;     // [B*T], 0 on padding
  std::vector<int32_t> attention_mask;  // [B*T], 1 real token, 0 padding
  size_t real_tokens = 0;               // tokens of all rows, padding excluded
  // Targets, set by whoever built the batch: one label per row (the batcher's
  // classes) or one per token (masked LM, -100 where none).
  std::vector<int32_t> labels;
  std::vector<size_t> example_indices;  // [B], each row's example (the batcher's)
};

// Pads `rows` to the longest into `out`, reusing its buffers. Leaves labels
// and example_indices empty. Throws dnabert::Error if a row's token types do
// not match its ids in length.
void pad(std::span<const Row> rows, Batch& out);

}  // namespace dnabert::io
