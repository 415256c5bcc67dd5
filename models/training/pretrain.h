// Masked-LM pretraining on genomes: the sampler cuts pieces from FASTA files,
// the tokenizer turns them into k-mer ids, DNABERT's masking corrupts them, and
// AdamW updates the model. Checkpoints hold everything needed to resume so
// that a resumed run ends bit-identical to one that was never stopped.
// Under mpirun the micro-batches of each step are shared out among the ranks
// (engine/distributed.h explains why any rank count then gives the same bits).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "models/network/config.h"
#include "models/training/mlm_eval.h"

namespace dnabert::models {

struct PretrainOptions {
  std::vector<std::string> fasta;
  int k = 6;
  BertConfig config;       // vocab_size must be 4^k + 5
  int max_len = 512;       // tokens per sequence, [CLS] and [SEP] included
  int batch = 32;          // sequences per micro-batch
  int grad_accum = 1;      // micro-batches per optimiser step; under mpirun a multiple of the ranks
  int64_t steps = 1000;
  double lr = 4e-4;        // DNABERT's peak learning rate
  int64_t warmup = 100;
  double mlm_probability = 0.025;  // DNABERT's knob (centre probability)
  double weight_decay = 0.01;
  double max_grad_norm = 1.0;
  uint64_t seed = 42;
  std::string out;         // output directory
  std::string resume;      // a checkpoint directory, or an output directory (its latest checkpoint)
  // Start from this model directory's weights (config must be its config.json)
  // instead of a new initialisation: continued pretraining, with a new optimiser.
  std::string init;
  int64_t eval_every = 100;
  int eval_batches = 4;
  int64_t save_every = 0;  // 0 = at the end only
  int keep_last = 3;
  double heldout_fraction = 0.02;  // last fraction of every record kept for evaluation
  std::string heldout_record;      // or a whole record
  size_t shuffle_buffer = 1024;
  bool drop_last_kmer = false;     // DNABERT's pretraining scripts drop the last k-mer
  std::string embedding_init = "normal";  // or "composed" (models/network/init_schemes.h)
  std::string position_init = "normal";   // or "sinusoidal"
  // Hidden and attention dropout while pretraining; < 0 keeps the config's.
  // The written config.json keeps the config's values, which fine-tuning uses.
  float dropout = -1;
};

struct StepReport {
  int64_t step = 0, total_steps = 0;
  double loss = 0, lr = 0, grad_norm = 0;
  int64_t tokens = 0;        // real tokens in this step
  int64_t masked = 0;        // masked tokens in this step
  double seconds = 0;        // wall time of this step
  double tokens_per_second = 0;
  size_t arena_peak_bytes = 0;
};

struct PretrainCallbacks {
  std::function<void(const std::string&)> on_message;
  // Before the first step: the step training starts from (> 0 when resumed) and the last step.
  std::function<void(int64_t first_step, int64_t total_steps)> on_start;
  std::function<void(const StepReport&)> on_step;
  std::function<void(const EvalReport&)> on_eval;
};

struct PretrainResult {
  int64_t steps_done = 0;
  EvalReport last_eval;
  double seconds = 0;
  std::string model_dir;  // out/model: the final weights, config and vocab
};

// Runs pretraining as `options` says; writes out/log.jsonl, out/loss.svg,
// out/checkpoint-<step>/ (with training state) and out/model/.
PretrainResult pretrain(const PretrainOptions& options, const PretrainCallbacks& callbacks = {});

// One line saying what a run will train: k, the model's shape, lengths, batch,
// steps, masking and ranks.
std::string describe(const PretrainOptions& options);

}  // namespace dnabert::models
