#include "models/network/convert.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "io/formats/checkpoint.h"
#include "io/formats/torch_checkpoint.h"
#include "models/network/loading.h"

namespace dnabert::models {
namespace {

namespace fs = std::filesystem;
using engine::Dims;
using io::NamedTensor;

struct Expected {
  std::string name;
  Dims shape;
  TensorGroup group;
};

// Every tensor our Bert may hold, by group (the names of models/network/bert.cpp).
std::vector<Expected> expected_tensors(const BertConfig& c) {
  const int64_t V = c.vocab_size, H = c.hidden_size, F = c.intermediate_size;
  std::vector<Expected> e = {{"bert.embeddings.word_embeddings.weight", {V, H}, TensorGroup::Encoder},
                             {"bert.embeddings.position_embeddings.weight", {c.max_position_embeddings, H}, TensorGroup::Encoder},
                             {"bert.embeddings.token_type_embeddings.weight", {c.type_vocab_size, H}, TensorGroup::Encoder},
                             {"bert.embeddings.LayerNorm.weight", {H}, TensorGroup::Encoder},
                             {"bert.embeddings.LayerNorm.bias", {H}, TensorGroup::Encoder}};
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string pre = "bert.encoder.layer." + std::to_string(l) + ".";
    for (const char* m : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
      e.push_back({pre + m + ".weight", {H, H}, TensorGroup::Encoder});
      e.push_back({pre + m + ".bias", {H}, TensorGroup::Encoder});
    }
    e.push_back({pre + "attention.output.LayerNorm.weight", {H}, TensorGroup::Encoder});
    e.push_back({pre + "attention.output.LayerNorm.bias", {H}, TensorGroup::Encoder});
    e.push_back({pre + "intermediate.dense.weight", {F, H}, TensorGroup::Encoder});
    e.push_back({pre + "intermediate.dense.bias", {F}, TensorGroup::Encoder});
    e.push_back({pre + "output.dense.weight", {H, F}, TensorGroup::Encoder});
    e.push_back({pre + "output.dense.bias", {H}, TensorGroup::Encoder});
    e.push_back({pre + "output.LayerNorm.weight", {H}, TensorGroup::Encoder});
    e.push_back({pre + "output.LayerNorm.bias", {H}, TensorGroup::Encoder});
  }
  e.push_back({"cls.predictions.transform.dense.weight", {H, H}, TensorGroup::MaskedLM});
  e.push_back({"cls.predictions.transform.dense.bias", {H}, TensorGroup::MaskedLM});
  e.push_back({"cls.predictions.transform.LayerNorm.weight", {H}, TensorGroup::MaskedLM});
  e.push_back({"cls.predictions.transform.LayerNorm.bias", {H}, TensorGroup::MaskedLM});
  e.push_back({"cls.predictions.bias", {V}, TensorGroup::MaskedLM});
  e.push_back({"bert.pooler.dense.weight", {H, H}, TensorGroup::Pooler});
  e.push_back({"bert.pooler.dense.bias", {H}, TensorGroup::Pooler});
  e.push_back({"classifier.weight", {c.num_labels, H}, TensorGroup::Classifier});
  e.push_back({"classifier.bias", {c.num_labels}, TensorGroup::Classifier});
  return e;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

bool same_values(const engine::Tensor& a, const engine::Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && a.to_vector() == b.to_vector();
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot read");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string hf_tensor_name(std::string name, std::vector<std::string>& rules) {
  for (const char* p : {"embeddings.", "encoder.", "pooler."})
    if (starts_with(name, p)) name = "bert." + name, rules.push_back("added the bert. prefix");
  for (auto [from, to] : {std::pair{".LayerNorm.gamma", ".LayerNorm.weight"}, {".LayerNorm.beta", ".LayerNorm.bias"}})
    if (ends_with(name, from)) {
      name = name.substr(0, name.size() - std::string(from).size()) + to;
      rules.push_back("LayerNorm gamma/beta -> weight/bias");
    }
  return name;
}

ConvertedWeights convert_tensor_names(const std::vector<NamedTensor>& tensors,
                                      const std::vector<std::string>& skipped, BertConfig& config,
                                      const std::string& source) {
  ConvertedWeights c;
  for (const std::string& s : skipped) c.dropped.push_back(s);
  std::map<std::string, engine::Tensor> kept;
  std::map<std::string, std::string> origin;  // new name -> name in the file
  std::map<std::string, std::vector<std::string>> applied;  // new name -> renaming rules
  engine::Tensor decoder_w, decoder_b;
  for (const auto& [name, t] : tensors) {
    std::vector<std::string> rules;
    const std::string to = hf_tensor_name(name, rules);
    if (to == "bert.embeddings.position_ids") {
      c.dropped.push_back(name + ": the position-id buffer (0..P-1), not a weight");
    } else if (starts_with(to, "cls.seq_relationship.")) {
      c.dropped.push_back(name + ": the next-sentence-prediction head, not used");
    } else if (to == "cls.predictions.decoder.weight") {
      decoder_w = t;
    } else if (to == "cls.predictions.decoder.bias") {
      decoder_b = t;
    } else {
      if (origin.count(to)) throw Error(source + ": tensors " + origin[to] + " and " + name + " both become " + to);
      origin[to] = name, kept[to] = t;
      applied[to] = rules;
    }
  }
  const std::string kWord = "bert.embeddings.word_embeddings.weight", kBias = "cls.predictions.bias";
  if (decoder_w.defined())
    c.dropped.push_back(std::string("cls.predictions.decoder.weight: ") +
                        (kept.count(kWord) && same_values(decoder_w, kept[kWord])
                             ? "tied to " + kWord + " (equal)"
                             : "DIFFERS from " + kWord + "; our MLM head ties them, so its logits will differ"));
  if (decoder_b.defined() && !kept.count(kBias)) {
    kept[kBias] = decoder_b, origin[kBias] = "cls.predictions.decoder.bias";
    applied[kBias] = {"cls.predictions.decoder.bias -> cls.predictions.bias"};
  } else if (decoder_b.defined()) {
    c.dropped.push_back(std::string("cls.predictions.decoder.bias: ") +
                        (same_values(decoder_b, kept[kBias]) ? "the same as " + kBias
                                                             : "DIFFERS from " + kBias + ", which is kept"));
  }
  // A classifier fixes num_labels when config.json does not.
  if (kept.count("classifier.weight") && config.num_labels == 0 && kept["classifier.weight"].rank() == 2)
    config.num_labels = static_cast<int>(kept["classifier.weight"].dim(0));

  const std::vector<Expected> expected = expected_tensors(config);
  for (const auto& e : expected)
    if (kept.count(e.name)) c.groups.insert(e.group);
  if (c.groups.count(TensorGroup::Classifier)) c.groups.insert(TensorGroup::Pooler);  // the classifier reads the pooler
  std::vector<std::pair<std::string, Dims>> wanted;
  for (const auto& e : expected)
    if (e.group == TensorGroup::Encoder || c.groups.count(e.group)) wanted.emplace_back(e.name, e.shape);
  std::set<std::string> known;
  for (const auto& e : expected) known.insert(e.name);
  for (auto it = kept.begin(); it != kept.end();) {
    if (known.count(it->first)) {
      ++it;
      continue;
    }
    c.dropped.push_back(origin[it->first] + ": unknown to BERT, not used");
    it = kept.erase(it);
  }
  std::vector<NamedTensor> present;
  for (const auto& [name, t] : kept) present.push_back({name, t});
  io::check_weights(source, present, wanted);  // lists every missing or mis-shaped tensor
  for (const auto& [name, shape] : wanted) {
    c.weights.push_back({name, kept[name]});
    c.renamed += !applied[name].empty();
    for (const auto& r : applied[name]) ++c.rules[r];
  }
  return c;
}

ImportedCheckpoint import_hf_checkpoint(const std::string& dir) {
  const std::string config_path = dir + "/config.json", vocab_path = dir + "/vocab.txt";
  std::error_code ec;
  ImportedCheckpoint r;
  r.config = BertConfig::load(config_path);
  if (!fs::exists(vocab_path, ec))
    throw Error(vocab_path + ": not found; DNABERT checkpoints need their k-mer vocab.txt (DNABERT's "
                "bert-config-<k>/vocab.txt)");
  r.vocab_text = read_bytes(vocab_path);
  const tokenizer::Vocab vocab = vocab_from_text(r.vocab_text, vocab_path);  // checks it is a k-mer vocab
  r.k = vocab.k();
  r.vocab_size = vocab.size();
  if (static_cast<int>(vocab.size()) != r.config.vocab_size)
    throw Error(vocab_path + ": " + std::to_string(vocab.size()) + " tokens (k = " + std::to_string(vocab.k()) +
                ") but " + config_path + " says vocab_size " + std::to_string(r.config.vocab_size));

  r.weights_file = dir + "/model.safetensors";
  std::vector<NamedTensor> tensors;
  std::vector<std::string> skipped;
  if (fs::exists(r.weights_file, ec)) {
    for (auto& [name, t] : io::read_safetensors(r.weights_file).tensors) tensors.push_back({name, t});
  } else {
    r.weights_file = dir + "/pytorch_model.bin";
    if (!fs::exists(r.weights_file, ec)) throw Error(dir + ": no model.safetensors or pytorch_model.bin to convert");
    io::TorchCheckpoint ck = io::read_torch_checkpoint(r.weights_file);
    tensors = std::move(ck.tensors), skipped = std::move(ck.skipped);
  }
  r.tensors_read = tensors.size() + skipped.size();
  r.converted = convert_tensor_names(tensors, skipped, r.config, r.weights_file);
  return r;
}

}  // namespace dnabert::models
