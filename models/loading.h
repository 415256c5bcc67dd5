// Loading a model directory (config.json, model.safetensors, vocab.txt) for
// inference or fine-tuning.
#pragma once
#include <memory>
#include <string>

#include "models/bert.h"
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

// A Vocab from the bytes of a vocab.txt.
tokenizer::Vocab vocab_from_text(const std::string& text, const std::string& source);

}  // namespace dnabert::models
