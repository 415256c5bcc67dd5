// dnabert convert: a published HF DNABERT checkpoint directory (config.json,
// model.safetensors or pytorch_model.bin, vocab.txt) into our model directory
// (config.json, model.safetensors under HF BertForMaskedLM names, vocab.txt).
//
// Names are brought to those of BertForMaskedLM / BertForSequenceClassification:
//   embeddings.* encoder.* pooler.*    a bare BertModel's: prefixed with "bert."
//   *.LayerNorm.gamma / .beta          old TF-converted names: .weight / .bias
//   bert.embeddings.position_ids       a buffer of 0..P-1, not a weight: dropped
//   cls.predictions.decoder.weight     tied to the word embeddings: dropped (noted if it differs)
//   cls.predictions.decoder.bias       the same as cls.predictions.bias: dropped, or renamed to it
//   cls.seq_relationship.*             the next-sentence head: dropped
// Anything else unknown is listed and dropped; missing required tensors are
// an error listing them. The MLM head, the pooler and the classifier are each
// optional, but all or none of a group's tensors must be present.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "cli/commands.h"
#include "base/error.h"
#include "io/formats/checkpoint.h"
#include "io/formats/output_dir.h"
#include "io/formats/torch_checkpoint.h"
#include "models/network/config.h"
#include "models/network/loading.h"

namespace dnabert::cli {
namespace {

namespace fs = std::filesystem;
using engine::Dims;
using io::NamedTensor;

struct ConvertArgs {
  std::string input, out;
  bool overwrite = false;
};

enum class Group { Encoder, MaskedLM, Pooler, Classifier };

struct Expected {
  std::string name;
  Dims shape;
  Group group;
};

// Every tensor our Bert may hold, by group (the names of models/network/bert.cpp).
std::vector<Expected> expected_tensors(const models::BertConfig& c) {
  const int64_t V = c.vocab_size, H = c.hidden_size, F = c.intermediate_size;
  std::vector<Expected> e = {{"bert.embeddings.word_embeddings.weight", {V, H}, Group::Encoder},
                             {"bert.embeddings.position_embeddings.weight", {c.max_position_embeddings, H}, Group::Encoder},
                             {"bert.embeddings.token_type_embeddings.weight", {c.type_vocab_size, H}, Group::Encoder},
                             {"bert.embeddings.LayerNorm.weight", {H}, Group::Encoder},
                             {"bert.embeddings.LayerNorm.bias", {H}, Group::Encoder}};
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string pre = "bert.encoder.layer." + std::to_string(l) + ".";
    for (const char* m : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
      e.push_back({pre + m + ".weight", {H, H}, Group::Encoder});
      e.push_back({pre + m + ".bias", {H}, Group::Encoder});
    }
    e.push_back({pre + "attention.output.LayerNorm.weight", {H}, Group::Encoder});
    e.push_back({pre + "attention.output.LayerNorm.bias", {H}, Group::Encoder});
    e.push_back({pre + "intermediate.dense.weight", {F, H}, Group::Encoder});
    e.push_back({pre + "intermediate.dense.bias", {F}, Group::Encoder});
    e.push_back({pre + "output.dense.weight", {H, F}, Group::Encoder});
    e.push_back({pre + "output.dense.bias", {H}, Group::Encoder});
    e.push_back({pre + "output.LayerNorm.weight", {H}, Group::Encoder});
    e.push_back({pre + "output.LayerNorm.bias", {H}, Group::Encoder});
  }
  e.push_back({"cls.predictions.transform.dense.weight", {H, H}, Group::MaskedLM});
  e.push_back({"cls.predictions.transform.dense.bias", {H}, Group::MaskedLM});
  e.push_back({"cls.predictions.transform.LayerNorm.weight", {H}, Group::MaskedLM});
  e.push_back({"cls.predictions.transform.LayerNorm.bias", {H}, Group::MaskedLM});
  e.push_back({"cls.predictions.bias", {V}, Group::MaskedLM});
  e.push_back({"bert.pooler.dense.weight", {H, H}, Group::Pooler});
  e.push_back({"bert.pooler.dense.bias", {H}, Group::Pooler});
  e.push_back({"classifier.weight", {c.num_labels, H}, Group::Classifier});
  e.push_back({"classifier.bias", {c.num_labels}, Group::Classifier});
  return e;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// HF's name for `name`; `rules` gets each renaming that applied.
std::string hf_name(std::string name, std::vector<std::string>& rules) {
  for (const char* p : {"embeddings.", "encoder.", "pooler."})
    if (starts_with(name, p)) name = "bert." + name, rules.push_back("added the bert. prefix");
  for (auto [from, to] : {std::pair{".LayerNorm.gamma", ".LayerNorm.weight"}, {".LayerNorm.beta", ".LayerNorm.bias"}})
    if (ends_with(name, from)) {
      name = name.substr(0, name.size() - std::string(from).size()) + to;
      rules.push_back("LayerNorm gamma/beta -> weight/bias");
    }
  return name;
}

bool same_values(const engine::Tensor& a, const engine::Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && a.to_vector() == b.to_vector();
}

struct Converted {
  std::vector<NamedTensor> weights;      // in declaration order
  int renamed = 0;                       // tensors whose name changed
  std::map<std::string, int> rules;      // renaming rule -> tensors it applied to
  std::vector<std::string> dropped;      // "name: reason"
  std::set<Group> groups;
};

Converted convert_names(const std::vector<NamedTensor>& tensors, const std::vector<std::string>& skipped,
                        models::BertConfig& config, const std::string& source) {
  Converted c;
  for (const std::string& s : skipped) c.dropped.push_back(s);
  std::map<std::string, engine::Tensor> kept;
  std::map<std::string, std::string> origin;  // new name -> name in the file
  std::map<std::string, std::vector<std::string>> applied;  // new name -> renaming rules
  engine::Tensor decoder_w, decoder_b;
  for (const auto& [name, t] : tensors) {
    std::vector<std::string> rules;
    const std::string to = hf_name(name, rules);
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
  if (c.groups.count(Group::Classifier)) c.groups.insert(Group::Pooler);  // the classifier reads the pooler
  std::vector<std::pair<std::string, Dims>> wanted;
  for (const auto& e : expected)
    if (e.group == Group::Encoder || c.groups.count(e.group)) wanted.emplace_back(e.name, e.shape);
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

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot read");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int run(const ConvertArgs& a) {
  const io::OutputDir out_dir(a.out, "convert", a.overwrite, {a.input});
  const std::string config_path = a.input + "/config.json", vocab_path = a.input + "/vocab.txt";
  std::error_code ec;
  models::BertConfig config = models::BertConfig::load(config_path);

  if (!fs::exists(vocab_path, ec))
    throw Error(vocab_path + ": not found; DNABERT checkpoints need their k-mer vocab.txt (DNABERT's "
                "bert-config-<k>/vocab.txt)");
  const std::string vocab_text = read_bytes(vocab_path);
  const tokenizer::Vocab vocab = models::vocab_from_text(vocab_text, vocab_path);  // checks it is a k-mer vocab
  if (static_cast<int>(vocab.size()) != config.vocab_size)
    throw Error(vocab_path + ": " + std::to_string(vocab.size()) + " tokens (k = " + std::to_string(vocab.k()) +
                ") but " + config_path + " says vocab_size " + std::to_string(config.vocab_size));

  std::string source = a.input + "/model.safetensors";
  std::vector<NamedTensor> tensors;
  std::vector<std::string> skipped;
  if (fs::exists(source, ec)) {
    for (auto& [name, t] : io::read_safetensors(source).tensors) tensors.push_back({name, t});
  } else {
    source = a.input + "/pytorch_model.bin";
    if (!fs::exists(source, ec))
      throw Error(a.input + ": no model.safetensors or pytorch_model.bin to convert");
    io::TorchCheckpoint ck = io::read_torch_checkpoint(source);
    tensors = std::move(ck.tensors), skipped = std::move(ck.skipped);
  }
  Converted c = convert_names(tensors, skipped, config, source);

  io::CheckpointData out;
  out.config = config.to_json();
  out.weights = c.weights;
  out.vocab_text = vocab_text;
  out.extra_files = {{io::kOutputMarker, out_dir.marker_text()}};
  io::write_checkpoint(a.out, out);

  int64_t params = 0;
  for (const auto& w : c.weights) params += w.tensor.numel();
  std::printf("convert: read %zu tensors from %s\n", tensors.size() + skipped.size(), source.c_str());
  std::printf("convert: renamed %d", c.renamed);
  const char* sep = " (";
  for (const auto& [rule, n] : c.rules) std::printf("%s%s: %d", sep, rule.c_str(), n), sep = "; ";
  std::printf("%s\n", c.renamed ? ")" : "");
  std::printf("convert: dropped %zu\n", c.dropped.size());
  for (const auto& d : c.dropped) std::printf("  %s\n", d.c_str());
  std::string heads;
  for (auto [g, label] : {std::pair{Group::MaskedLM, "masked LM"}, {Group::Pooler, "pooler"},
                          {Group::Classifier, "classifier"}})
    if (c.groups.count(g)) heads += (heads.empty() ? "" : ", ") + std::string(label);
  std::printf("convert: wrote %s: %zu tensors, %lld parameters, %d layers, hidden %d, k = %d (%zu tokens), "
              "heads: %s\n",
              a.out.c_str(), c.weights.size(), static_cast<long long>(params), config.num_hidden_layers,
              config.hidden_size, vocab.k(), vocab.size(), heads.empty() ? "none" : heads.c_str());
  return 0;
}

Registration reg([](CLI::App& app) {
  auto a = std::make_shared<ConvertArgs>();
  auto* s = app.add_subcommand("convert", "Import a Hugging Face DNABERT checkpoint (pytorch_model.bin or "
                                          "model.safetensors) into a model directory");
  s->add_option("--input", a->input, "HF checkpoint directory (config.json, pytorch_model.bin or model.safetensors, "
                                     "vocab.txt)")
      ->required()->check(CLI::ExistingDirectory);
  s->add_option("--out", a->out, "Output model directory: created, or replaced if an earlier convert wrote it "
                                 "(anything else needs --overwrite)")
      ->required();
  s->add_flag("--overwrite", a->overwrite,
              "Replace --out even if it is a file or a directory that convert did not write (never one that holds "
              "--input)");
  return std::function<int()>([a] { return run(*a); });
});

}  // namespace
}  // namespace dnabert::cli
