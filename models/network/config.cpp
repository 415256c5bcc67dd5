#include "models/network/config.h"

#include <filesystem>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "io/formats/atomic_file.h"
#include "io/formats/json_read.h"

namespace dnabert::models {

BertConfig BertConfig::from_spec(const std::string& spec, int k, const std::string& option) {
  const int vocab = (1 << (2 * k)) + 5;
  if (spec == "tiny" || spec == "small" || spec == "base") return preset(spec, vocab);
  if (!std::filesystem::exists(spec))
    throw UsageError(option + ": '" + spec + "' is neither a preset (tiny, small, base) nor an existing config.json");
  return load(spec);
}

BertConfig BertConfig::preset(const std::string& name, int vocab_size) {
  BertConfig c;
  c.vocab_size = vocab_size;
  if (name == "tiny") {
    c.num_hidden_layers = 4, c.hidden_size = 256, c.num_attention_heads = 4, c.intermediate_size = 1024;
  } else if (name == "small") {
    c.num_hidden_layers = 6, c.hidden_size = 512, c.num_attention_heads = 8, c.intermediate_size = 2048;
  } else if (name == "base") {
    c.num_hidden_layers = 12, c.hidden_size = 768, c.num_attention_heads = 12, c.intermediate_size = 3072;
  } else {
    throw UsageError("unknown model preset '" + name + "' (choose tiny, small or base, or give a config.json)");
  }
  c.max_position_embeddings = 512;
  c.extra["architectures"] = {"BertForMaskedLM"};
  c.extra["model_type"] = "bert";
  return c;
}

namespace {

// HF keeps a class's default for a key that is absent; a key that is present
// must hold a value of the right type and range (io::JsonFields names it).
void read_int(const io::JsonFields& f, const char* key, int& out, int lo = 1, int hi = INT32_MAX) {
  if (f.has(key)) out = static_cast<int>(f.integer(key, lo, hi));
}
void read_float(const io::JsonFields& f, const char* key, float& out, double lo, double hi) {
  if (f.has(key)) out = static_cast<float>(f.number(key, lo, hi));
}

const char* const kKnownKeys[] = {"vocab_size",          "hidden_size",           "num_hidden_layers",
                                  "num_attention_heads", "intermediate_size",     "max_position_embeddings",
                                  "type_vocab_size",     "hidden_dropout_prob",   "attention_probs_dropout_prob",
                                  "layer_norm_eps",      "hidden_act",            "initializer_range",
                                  "num_labels"};

}  // namespace

BertConfig BertConfig::from_json(const nlohmann::json& j, const std::string& source) {
  BertConfig c;
  const io::JsonFields f(j, source);
  read_int(f, "vocab_size", c.vocab_size);
  read_int(f, "hidden_size", c.hidden_size);
  read_int(f, "num_hidden_layers", c.num_hidden_layers);
  read_int(f, "num_attention_heads", c.num_attention_heads);
  read_int(f, "intermediate_size", c.intermediate_size);
  read_int(f, "max_position_embeddings", c.max_position_embeddings);
  read_int(f, "type_vocab_size", c.type_vocab_size);
  read_float(f, "hidden_dropout_prob", c.hidden_dropout_prob, 0, 1);
  read_float(f, "attention_probs_dropout_prob", c.attention_probs_dropout_prob, 0, 1);
  read_float(f, "layer_norm_eps", c.layer_norm_eps, 0, 1);
  if (f.has("hidden_act")) c.hidden_act = f.string("hidden_act");
  read_float(f, "initializer_range", c.initializer_range, 0, 1);
  read_int(f, "num_labels", c.num_labels, 0, 1 << 20);
  // HF writes num_labels implicitly through id2label.
  if (!j.contains("num_labels") && j.contains("id2label") && j["id2label"].is_object() &&
      j.contains("architectures") && j["architectures"].dump().find("SequenceClassification") != std::string::npos)
    c.num_labels = static_cast<int>(j["id2label"].size());
  c.extra = nlohmann::json::object();
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (const char* k : kKnownKeys) known = known || it.key() == k;
    if (!known) c.extra[it.key()] = it.value();
  }
  c.validate(source);
  return c;
}

nlohmann::json BertConfig::to_json() const {
  nlohmann::json j = extra;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["intermediate_size"] = intermediate_size;
  j["max_position_embeddings"] = max_position_embeddings;
  j["type_vocab_size"] = type_vocab_size;
  j["hidden_dropout_prob"] = hidden_dropout_prob;
  j["attention_probs_dropout_prob"] = attention_probs_dropout_prob;
  j["layer_norm_eps"] = layer_norm_eps;
  j["hidden_act"] = hidden_act;
  j["initializer_range"] = initializer_range;
  if (num_labels > 0) j["num_labels"] = num_labels;
  if (!j.contains("model_type")) j["model_type"] = "bert";
  return j;
}

BertConfig BertConfig::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open config file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {  // parse errors, and numbers beyond double (1e400)
    throw Error(path + ": not valid JSON: " + io::json_error_text(e));
  }
  return from_json(j, path);
}

void BertConfig::save(const std::string& path) const { io::write_file_atomic(path, to_json().dump(2) + "\n"); }

void BertConfig::validate(const std::string& source) const {
  auto positive = [&](int v, const char* name) {
    if (v <= 0) throw Error(source + ": " + name + " must be positive, got " + std::to_string(v));
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(num_hidden_layers, "num_hidden_layers");
  positive(num_attention_heads, "num_attention_heads");
  positive(intermediate_size, "intermediate_size");
  positive(max_position_embeddings, "max_position_embeddings");
  positive(type_vocab_size, "type_vocab_size");
  if (hidden_size % num_attention_heads != 0)
    throw Error(source + ": hidden_size " + std::to_string(hidden_size) + " is not divisible by num_attention_heads " +
                std::to_string(num_attention_heads));
  if (!(hidden_dropout_prob >= 0 && hidden_dropout_prob < 1) ||
      !(attention_probs_dropout_prob >= 0 && attention_probs_dropout_prob < 1))
    throw Error(source + ": dropout probabilities must be in [0, 1)");
  if (!(layer_norm_eps > 0)) throw Error(source + ": layer_norm_eps must be positive");
  if (hidden_act != "gelu")
    throw Error(source + ": hidden_act '" + hidden_act + "' is not supported (only the exact \"gelu\" of BERT)");
  if (num_labels < 0) throw Error(source + ": num_labels must not be negative");
  // A model that cannot fit is refused here, before any allocation: its fp32
  // values and gradients alone take 8 bytes a parameter. (Double arithmetic:
  // the count of absurd configs overflows int64.)
  const double H = hidden_size, F = intermediate_size, L = num_hidden_layers;
  const double embeddings = (double{1} * vocab_size + max_position_embeddings + type_vocab_size) * H;
  const double layers = L * (4 * H * H + 2 * H * F + 9 * H + F);
  const double bytes = 8 * (embeddings + layers + H * H + vocab_size);
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  const double memory = pages > 0 && page > 0 ? double(pages) * double(page) : 0;
  if (memory > 0 && bytes > memory) {
    auto gib = [](double b) {
      char s[32];
      std::snprintf(s, sizeof s, "%.1f GiB", b / (1024.0 * 1024 * 1024));
      return std::string(s);
    };
    const bool by_layers = layers >= embeddings;
    throw Error(source + ": the model is too large for this machine: " +
                (by_layers ? "num_hidden_layers " + std::to_string(num_hidden_layers) + " × (hidden_size " +
                                 std::to_string(hidden_size) + ", intermediate_size " + std::to_string(intermediate_size) +
                                 ")"
                           : "vocab_size " + std::to_string(vocab_size) + " + max_position_embeddings " +
                                 std::to_string(max_position_embeddings) + " rows × hidden_size " +
                                 std::to_string(hidden_size)) +
                " need " + gib(bytes) + " for weights and gradients; the machine has " + gib(memory));
  }
}

int64_t BertConfig::parameter_count() const {
  const int64_t H = hidden_size, F = intermediate_size;
  int64_t n = int64_t{vocab_size} * H + int64_t{max_position_embeddings} * H + int64_t{type_vocab_size} * H + 2 * H;
  n += num_hidden_layers * (4 * (H * H + H) + 2 * H + (H * F + F) + (F * H + H) + 2 * H);
  n += H * H + H + 2 * H + vocab_size;  // MLM head (decoder tied)
  return n;
}

}  // namespace dnabert::models
