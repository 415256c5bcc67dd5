// A checkpoint is a directory in Hugging Face's layout, so `from_pretrained`
// can load the model part directly:
//   config.json            the model config (the caller's JSON; io knows nothing of BERT)
//   model.safetensors      the weights, under HF's parameter names
//   vocab.txt              the tokenizer vocabulary, byte for byte
//   optimizer.safetensors  optional training state: optimizer tensors (Adam moments, ...)
//   trainer_state.json     optional training state: step, RNG state, sampler cursor, ...
// Directories are written atomically: a crash leaves the previous checkpoint
// intact and at most a DIR.tmp.<pid>/ that readers ignore.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "engine/param_set.h"
#include "engine/tensor.h"
#include "io/formats/safetensors.h"

namespace dnabert::io {

struct CheckpointData {
  nlohmann::json config;
  std::vector<NamedTensor> weights;
  std::string vocab_text;
  std::vector<NamedTensor> optimizer;  // empty: no optimizer.safetensors
  nlohmann::json trainer_state;        // null: no trainer_state.json
  // More files written into the directory with the rest (name, bytes), e.g.
  // the output marker of io/formats/output_dir.h. read_checkpoint ignores them.
  std::vector<std::pair<std::string, std::string>> extra_files;

  bool has_training_state() const { return !optimizer.empty() || !trainer_state.is_null(); }
};

// Every parameter of `params` under its name, in declaration order: the
// weights of a checkpoint (the tensors share the parameters' storage).
std::vector<NamedTensor> named_tensors(const engine::ParamSet& params);

// Writes DIR atomically (temp dir + rename), replacing any existing DIR. The
// caller decides whether DIR may be replaced (a command's --out: io/formats/output_dir.h).
void write_checkpoint(const std::string& dir, const CheckpointData& data);

// Writes ROOT/checkpoint-<step> (creating ROOT if needed), then deletes the
// oldest other ROOT/checkpoint-<n> beyond `keep_last` (0 = keep all). The
// checkpoint just written is never deleted. Returns its path.
std::string write_numbered_checkpoint(const std::string& root, int64_t step, const CheckpointData& data,
                                      int keep_last);

// The ROOT/checkpoint-<n> with the largest n, or "" if none (or no ROOT).
// Unfinished writes (checkpoint-<n>.tmp.<pid>) are ignored.
std::string latest_checkpoint(const std::string& root);

// Reads a checkpoint. The training-state files are read when present and
// `with_training_state` is set; weights and optimizer tensors come back in
// name order. Errors name the file: missing, unreadable, corrupt.
CheckpointData read_checkpoint(const std::string& dir, bool with_training_state = true);

// Checks that `weights` holds exactly the `expected` names, each f32 with the
// expected shape. The error (naming `file`) lists every missing, unexpected,
// mis-typed and mis-shaped tensor, e.g. "model.safetensors: missing tensor
// bert.pooler.dense.weight; tensor bert.embeddings.word_embeddings.weight has
// shape [4101, 768], expected [69, 768]".
void check_weights(const std::string& file, const std::vector<NamedTensor>& weights,
                   const std::vector<std::pair<std::string, engine::Dims>>& expected);

}  // namespace dnabert::io
