// A randomly initialised 3-mer BERT saved as a model directory, for the
// interpretation tests (attention, variants): small enough to run in
// milliseconds, real enough that every code path runs.
#pragma once
#include <string>

#include "io/formats/checkpoint.h"
#include "models/network/bert.h"
#include "tests/test_util.h"
#include "tokenizer/vocab.h"

namespace dnabert::testing {

inline models::BertConfig tiny_config(int num_labels) {
  models::BertConfig c = models::BertConfig::preset("tiny", 69);
  c.num_hidden_layers = 2;
  c.hidden_size = 32;
  c.num_attention_heads = 4;
  c.intermediate_size = 64;
  c.max_position_embeddings = 64;
  c.hidden_dropout_prob = c.attention_probs_dropout_prob = 0.0f;
  c.num_labels = num_labels;
  return c;
}

// Writes temp_path(name)/ with config.json, model.safetensors and vocab.txt.
// The weights are N(0, 0.5): larger than BERT's 0.02 so that attention is far
// from uniform and probabilities far from 0.5, which makes the tests sharper.
inline std::string tiny_model_dir(const std::string& name, int num_labels, uint64_t seed) {
  const models::BertConfig c = tiny_config(num_labels);
  models::BertConfig wide = c;
  wide.initializer_range = 0.5f;
  models::Bert init(wide, num_labels > 0 ? models::Heads::Classification : models::Heads::MaskedLM);
  init.init(seed);
  io::CheckpointData d;
  d.config = c.to_json();
  for (size_t i = 0; i < init.params().size(); ++i) d.weights.push_back({init.params().name(i), init.params()[i]});
  d.vocab_text = tokenizer::Vocab::kmer(3).to_text();
  const std::string dir = temp_path(name);
  io::write_checkpoint(dir, d);
  return dir;
}

}  // namespace dnabert::testing
