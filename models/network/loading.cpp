#include "models/network/loading.h"

#include <algorithm>

#include "base/error.h"
#include "io/formats/checkpoint.h"

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

void check_weights_match_config(const std::vector<io::NamedTensor>& weights, const BertConfig& config,
                                const std::string& config_file, const std::string& weights_file) {
  static const std::string kLayer = "encoder.layer.";
  int64_t layers = 0;
  const io::NamedTensor* word = nullptr;
  for (const auto& w : weights) {
    if (w.name == "bert.embeddings.word_embeddings.weight" || w.name == "embeddings.word_embeddings.weight") word = &w;
    size_t at = w.name.find(kLayer);
    if (at == std::string::npos) continue;
    size_t digits = at + kLayer.size(), end = digits;
    while (end < w.name.size() && end - digits < 9 && w.name[end] >= '0' && w.name[end] <= '9') ++end;
    if (end > digits) layers = std::max<int64_t>(layers, std::stoll(w.name.substr(digits, end - digits)) + 1);
  }
  if (layers != config.num_hidden_layers)
    throw Error(config_file + ": num_hidden_layers is " + std::to_string(config.num_hidden_layers) + " but " +
                weights_file + " holds " + std::to_string(layers) + " encoder layers");
  if (word) {
    const engine::Dims& d = word->tensor.shape();
    if (d.size() != 2 || d[0] != config.vocab_size || d[1] != config.hidden_size)
      throw Error(config_file + ": vocab_size " + std::to_string(config.vocab_size) + " and hidden_size " +
                  std::to_string(config.hidden_size) + " do not match " + weights_file + "'s " + word->name + " " +
                  d.str());
  }
}

LoadedModel load_model(const std::string& dir, Heads heads) {
  io::CheckpointData ck = io::read_checkpoint(dir, false);
  BertConfig config = BertConfig::from_json(ck.config, dir + "/config.json");
  tokenizer::Vocab vocab = vocab_from_text(ck.vocab_text, dir + "/vocab.txt");
  if (static_cast<int>(vocab.size()) != config.vocab_size)
    throw Error(dir + ": vocab.txt has " + std::to_string(vocab.size()) + " tokens but config.json says vocab_size " +
                std::to_string(config.vocab_size));
  check_weights_match_config(ck.weights, config, dir + "/config.json", dir + "/model.safetensors");
  if (heads == Heads::Classification && config.num_labels < 1)
    throw Error(dir + ": a pretrained model without a classification head (config.json has no num_labels); "
                      "fine-tune it first (dnabert finetune --init " + dir + ")");
  auto model = std::make_unique<Bert>(config, heads);
  model->load_weights(ck.weights, dir + "/model.safetensors");
  return LoadedModel{std::move(model), std::move(vocab), dir};
}

}  // namespace dnabert::models
