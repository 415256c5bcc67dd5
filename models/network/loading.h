// Loading a model directory (config.json, model.safetensors, vocab.txt) for
// inference or fine-tuning.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "io/formats/safetensors.h"
#include "models/network/bert.h"
#include "tokenizer/vocab.h"

namespace dnabert::models {

struct LoadedModel {
  std::unique_ptr<Bert> model;
  tokenizer::Vocab vocab;
  std::string dir;
};

// Reads `dir` and builds a Bert with `heads`, copying every parameter it needs
// by HF name. Errors name the file and the missing or mis-shaped tensors.
LoadedModel load_model(const std::string& dir, Heads heads);

// Checks, before a model is built, that the weights of `weights_file` have the
// shape `config` (read from `config_file`) describes: the word-embedding table
// is vocab_size × hidden_size and the encoder has num_hidden_layers layers.
// So a config.json that disagrees with its weights fails at once, naming the
// field, instead of first allocating the model it describes.
void check_weights_match_config(const std::vector<io::NamedTensor>& weights, const BertConfig& config,
                                const std::string& config_file, const std::string& weights_file);

// A Vocab from the bytes of a vocab.txt.
tokenizer::Vocab vocab_from_text(const std::string& text, const std::string& source);

}  // namespace dnabert::models
