// Classification of sequences of any length: a sequence longer than the model
// is cut into windows of (max_len - 2) k-mers with a stride, each window is
// classified as [CLS] window [SEP], and the windows' logits are aggregated by
// mean or max before the softmax.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "engine/arena.h"
#include "io/data/batch.h"
#include "models/network/bert.h"
#include "tokenizer/kmer.h"

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

// Classifies sequences whose k-mer ids arrive in pieces, window by window:
// windows queue up across sequences and run `batch` at a time, so memory holds
// one batch of windows and, for the open sequence, at most a window and a
// stride of k-mers, whatever its length. Results come back in input order.
class WindowClassifier {
 public:
  WindowClassifier(const Bert& model, const WindowOptions& options, engine::Arena& arena);
  void begin();                                // a new sequence
  void add(std::span<const int32_t> kmer_ids);  // its next k-mer ids (no special tokens)
  void end();                                  // it is complete
  // The next sequence in input order whose windows have all run: its outputs
  // (C values, see OutputKind) and window count. False if it is still pending.
  bool next_result(std::vector<float>& outputs, int& windows);
  void flush();  // runs the queued windows, so every ended sequence has its result

 private:
  struct Sequence {
    std::vector<double> acc;  // logits summed (mean) or maxed
    int windows = 0, pending = 0;
    bool ended = false;
  };
  void queue(int64_t start, int64_t len);  // a window of the open sequence
  void run_batch();

  const Bert& model_;
  WindowOptions options_;
  engine::Arena& arena_;
  int64_t L_, stride_;
  int C_;
  // The open sequence: k-mers buf_ hold positions buf_start_.., n_ seen so far;
  // next_start_ > 0 once a window of it has been queued.
  std::vector<int32_t> buf_;
  int64_t buf_start_ = 0, n_ = 0, next_start_ = 0;
  std::deque<Sequence> sequences_;  // from the oldest without a result taken
  uint64_t first_ = 0;              // number of the front of sequences_
  // Queued windows: [CLS] k-mers [SEP] (L_ + 2 slots per window), k-mer
  // counts, sequence numbers; and the batch they are padded into.
  std::vector<int32_t> win_ids_;
  std::vector<int64_t> win_len_;
  std::vector<uint64_t> win_seq_;
  io::Batch batch_;
};

// Outputs [N, C] (see OutputKind) for N sequences given as k-mer ids (no
// special tokens). Also reports how many windows each sequence used.
std::vector<float> classify_sequences(const Bert& model, const std::vector<std::vector<int32_t>>& kmer_ids,
                                      const WindowOptions& options, engine::Arena& arena,
                                      std::vector<int>* windows_per_sequence = nullptr);

// Classifies every sequence of `input` (FASTA/FASTQ, GUE CSV, DNABERT TSV or
// one per line; plain or gzip) as it streams: bases in pieces, k-mers into a
// WindowClassifier, so a sequence of any length holds one batch of windows.
// `on_result` gets each sequence's id, outputs (C values, see OutputKind) and
// window count, in input order. Returns the number of sequences.
int64_t classify_file(const Bert& model, const tokenizer::KmerTokenizer& tokenizer, const std::string& input,
                      const WindowOptions& options,
                      const std::function<void(const std::string& id, const std::vector<float>& outputs, int windows)>&
                          on_result);

}  // namespace dnabert::models
