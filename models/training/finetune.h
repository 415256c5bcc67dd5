// Fine-tuning a pretrained model: sequence classification (binary or
// multi-class, cross-entropy), regression (one output, MSE; the label column
// holds numbers) or multi-label classification (one sigmoid per label, BCE;
// the label column holds the example's labels separated by ';'). Scores dev at
// the end of every epoch or, with eval_steps, every eval_steps optimiser steps
// (as HF's Trainer with evaluation_strategy "steps"), keeps the checkpoint that
// scores best on dev by the chosen metric over all evaluations, then evaluates
// that checkpoint on test.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "models/training/metrics.h"

namespace dnabert::models {

struct FinetuneOptions {
  std::string init;   // pretrained model directory
  // Control run: take only config.json and vocab.txt from `init` (same k and
  // architecture) and start every weight from the seeded init, as HF does for
  // a model built from a config. No pretrained weight is used.
  bool random_init = false;
  std::string train, dev, test;  // DNABERT TSV, GUE CSV or labelled FASTA ("pos.fa:1,neg.fa:0")
  std::string out;
  int epochs = 3;
  double lr = 5e-5;
  int batch = 32;
  int max_len = 0;   // tokens per sequence; 0 = the model's max_position_embeddings
  double warmup_ratio = 0.1;
  // Linear warm-up over this many optimiser steps (at most all of them);
  // < 0 uses warmup_ratio instead.
  int64_t warmup_steps = -1;
  // Score dev every eval_steps optimiser steps and after the last step (not at
  // epoch ends); 0 = at the end of every epoch.
  int64_t eval_steps = 0;
  double weight_decay = 0.01;
  std::string task = "classification";  // classification | regression | multilabel
  // Dev metric for model selection (higher is better; "mse" is negated).
  // classification: mcc (default) | auc | acc | f1; regression: pearson (default) | spearman | r2 | mse;
  // multilabel: f1 (default, macro) | auc (macro).
  std::string metric;
  int early_stop = 0;          // stop after this many evaluations without a better dev score; 0 = never
  int freeze_layers = -1;      // freeze the embeddings and the first N layers; -1 = nothing frozen
  uint64_t seed = 42;
  float dropout = -1;          // override hidden/attention dropout; < 0 keeps the config's
  // Micro-batches each batch is cut into (their gradients summed in the fixed
  // pairwise order of engine/distributed.h); 0 = the number of MPI ranks. Under
  // mpirun a multiple of the ranks: rank r runs shards [r·S/N, (r+1)·S/N).
  // The same shards give the same bits with any rank count.
  int shards = 0;
};

// One dev evaluation, after optimiser step `step` (of `total_steps`), in epoch `epoch` (1-based).
struct FinetuneEvaluation {
  int epoch = 0, epochs = 0;
  int64_t step = 0, total_steps = 0;
  ClassificationMetrics dev;  // classification only
  nlohmann::json dev_json;    // every task
  double score = 0;           // the selection metric on dev
  double train_loss = 0;      // mean training loss over the steps since the previous evaluation
  double lr = 0;              // the learning rate of update `step`
  bool best = false;
};

struct FinetuneCallbacks {
  std::function<void(const std::string&)> on_message;
  // After every optimiser step: step, total steps, running mean loss.
  std::function<void(int64_t, int64_t, double)> on_step;
  std::function<void(const FinetuneEvaluation&)> on_evaluation;
};

struct FinetuneResult {
  ClassificationMetrics best_dev, test;  // classification only
  nlohmann::json best_dev_json, test_json;
  double best_score = 0;
  std::string metric;  // the selection metric used
  bool has_test = false;
  int best_epoch = 0;      // the epoch and optimiser step of the best checkpoint
  int64_t best_step = 0;
  std::string best_dir;
};

// Writes out/best/ (model, vocab, label_map.json), out/eval_results.json,
// out/eval_results.tsv, out/confusion_matrix.txt and out/log.jsonl (one line
// per dev evaluation: epoch, step, learning rate, training loss, dev metrics).
FinetuneResult finetune(const FinetuneOptions& options, const FinetuneCallbacks& callbacks = {});

}  // namespace dnabert::models
