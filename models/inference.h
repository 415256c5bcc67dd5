// Classification of sequences of any length: a sequence longer than the model
// is cut into windows of (max_len - 2) k-mers with a stride, each window is
// classified as [CLS] window [SEP], and the windows' logits are aggregated by
// mean or max before the softmax.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/arena.h"
#include "models/bert.h"

namespace dnabert::models {

enum class Aggregate { Mean, Max };
Aggregate parse_aggregate(const std::string& name);  // "mean" | "max"

// How aggregated logits become outputs: class probabilities, per-label
// probabilities, or the raw value (regression).
enum class OutputKind { Softmax, Sigmoid, Identity };
// From a config's HF problem_type ("regression", "multi_label_classification", else softmax).
OutputKind output_kind_for(const BertConfig& config);

struct WindowOptions {
  int max_len = 512;  // tokens per window, [CLS] and [SEP] included
  int stride = 0;     // k-mers between window starts; 0 = half a window
  Aggregate aggregate = Aggregate::Mean;
  int batch = 32;     // windows per forward pass
  OutputKind output = OutputKind::Softmax;
};

// Outputs [N, C] (see OutputKind) for N sequences given as k-mer ids (no
// special tokens). Also reports how many windows each sequence used.
std::vector<float> classify_sequences(const Bert& model, const std::vector<std::vector<int32_t>>& kmer_ids,
                                      const WindowOptions& options, engine::Arena& arena,
                                      std::vector<int>* windows_per_sequence = nullptr);

}  // namespace dnabert::models
