// Importing a published Hugging Face DNABERT checkpoint directory (config.json,
// model.safetensors or pytorch_model.bin, vocab.txt) as our model: tensor
// names brought to those of BertForMaskedLM / BertForSequenceClassification:
//   embeddings.* encoder.* pooler.*    a bare BertModel's: prefixed with "bert."
//   *.LayerNorm.gamma / .beta          old TF-converted names: .weight / .bias
//   bert.embeddings.position_ids       a buffer of 0..P-1, not a weight: dropped
//   cls.predictions.decoder.weight     tied to the word embeddings: dropped (noted if it differs)
//   cls.predictions.decoder.bias       the same as cls.predictions.bias: dropped, or renamed to it
//   cls.seq_relationship.*             the next-sentence head: dropped
// Anything else unknown is listed and dropped; missing required tensors are
// an error listing them. The MLM head, the pooler and the classifier are each
// optional, but all or none of a group's tensors must be present.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "io/formats/safetensors.h"
#include "models/network/config.h"

namespace dnabert::models {

// The parameter groups of a checkpoint; the encoder is required, the rest optional.
enum class TensorGroup { Encoder, MaskedLM, Pooler, Classifier };

struct ConvertedWeights {
  std::vector<io::NamedTensor> weights;  // our names, in declaration order (models/network/bert.cpp)
  int renamed = 0;                       // tensors whose name changed
  std::map<std::string, int> rules;      // renaming rule -> tensors it applied to
  std::vector<std::string> dropped;      // "name: reason"
  std::set<TensorGroup> groups;          // the groups present
};

// HF's name for `name` (a bare BertModel's or a TF-converted one); `rules`
// gets each renaming that applied.
std::string hf_tensor_name(std::string name, std::vector<std::string>& rules);

// Maps `tensors` (read from `source`, which also had the `skipped` entries) to
// our names for `config`; fills config.num_labels from a classifier when it
// is 0. Throws dnabert::Error naming `source` and every missing or mis-shaped
// tensor, or two tensors that map to one name.
ConvertedWeights convert_tensor_names(const std::vector<io::NamedTensor>& tensors,
                                      const std::vector<std::string>& skipped, BertConfig& config,
                                      const std::string& source);

// A whole checkpoint directory, read and converted.
struct ImportedCheckpoint {
  BertConfig config;
  std::string vocab_text;  // the bytes of vocab.txt
  int k = 0;               // its k-mer length
  size_t vocab_size = 0;
  std::string weights_file;  // the file the tensors came from
  size_t tensors_read = 0;   // tensors in it, skipped ones included
  ConvertedWeights converted;
};
ImportedCheckpoint import_hf_checkpoint(const std::string& dir);

}  // namespace dnabert::models
