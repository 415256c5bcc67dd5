#include "models/loading.h"

#include "engine/error.h"
#include "io/checkpoint.h"

namespace dnabert::models {

tokenizer::Vocab vocab_from_text(const std::string& text, const std::string& source) {
  std::vector<std::string> tokens;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string t = text.substr(start, end - start);
    if (!t.empty() && t.back() == '\r') t.pop_back();
    tokens.push_back(std::move(t));
    start = end + 1;
  }
  return tokenizer::Vocab::from_tokens(std::move(tokens), source);
}

LoadedModel load_model(const std::string& dir, Heads heads) {
  io::CheckpointData ck = io::read_checkpoint(dir, false);
  BertConfig config = BertConfig::from_json(ck.config, dir + "/config.json");
  tokenizer::Vocab vocab = vocab_from_text(ck.vocab_text, dir + "/vocab.txt");
  if (static_cast<int>(vocab.size()) != config.vocab_size)
    throw Error(dir + ": vocab.txt has " + std::to_string(vocab.size()) + " tokens but config.json says vocab_size " +
                std::to_string(config.vocab_size));
  auto model = std::make_unique<Bert>(config, heads);
  model->load_weights(ck.weights, dir + "/model.safetensors");
  return LoadedModel{std::move(model), std::move(vocab), dir};
}

}  // namespace dnabert::models
