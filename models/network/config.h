// BertConfig: read and written as Hugging Face's config.json, with HF's names.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace dnabert::models {

struct BertConfig {
  int vocab_size = 4101;
  int hidden_size = 768;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int intermediate_size = 3072;
  int max_position_embeddings = 512;
  int type_vocab_size = 2;
  float hidden_dropout_prob = 0.1f;
  float attention_probs_dropout_prob = 0.1f;
  float layer_norm_eps = 1e-12f;
  std::string hidden_act = "gelu";
  float initializer_range = 0.02f;
  // Classification heads (fine-tuning); 0 = none.
  int num_labels = 0;
  // Keys we do not interpret (architectures, model_type, ...), written back as read.
  nlohmann::json extra = nlohmann::json::object();

  // tiny (4 × 256, 4 heads, FFN 1024), small (6 × 512, 8, 2048), base (12 × 768, 12, 3072; DNABERT's).
  static BertConfig preset(const std::string& name, int vocab_size);
  // `source` names the file in error messages.
  static BertConfig from_json(const nlohmann::json& j, const std::string& source = "config.json");
  nlohmann::json to_json() const;
  static BertConfig load(const std::string& path);
  // A preset name (tiny, small, base) for a k-mer vocabulary, or a config.json
  // path; throws UsageError naming `option` for anything else.
  static BertConfig from_spec(const std::string& spec, int k, const std::string& option = "--config");
  void save(const std::string& path) const;  // atomic

  int head_dim() const { return hidden_size / num_attention_heads; }
  // Throws dnabert::Error naming `source` and the field when a value is unusable.
  void validate(const std::string& source = "config") const;
  int64_t parameter_count() const;
};

}  // namespace dnabert::models
