// The training step that pretraining and fine-tuning share, and what a run
// keeps around it: the model's AdamW with its warm-up/decay schedule, the
// gradient exchange between MPI ranks, the divergence guard, checkpoints, and
// (RunLog) the run's log.jsonl and loss curve.
//
// A step is S micro-batches, global indices 0..S-1, S a multiple of the N
// ranks. Rank r runs micro-batches [r·S/N, (r+1)·S/N), each on a tape of its
// own: the loss function records the forward pass, the trainer runs the
// backward pass seeded with the micro-batch's weight. The gradients are summed
// in the fixed pairwise order of engine/distributed.h, so any rank count whose
// S/N is a power of two gives the same bits; the losses are summed over ranks
// exactly (each is set by the one rank that ran it). The divergence guard sees
// the step's loss before the update it would apply; then AdamW updates.
#pragma once
#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "engine/arena.h"
#include "engine/distributed.h"
#include "io/formats/checkpoint.h"
#include "io/report/plot.h"
#include "models/network/bert.h"
#include "models/training/divergence.h"
#include "models/training/optimizer.h"

namespace dnabert::models {

// One micro-batch of a step, as the loss function sees it.
struct MicroBatch {
  int index = 0;     // 0..S-1 within the step
  uint64_t key = 0;  // step·S + index, the global micro-batch number: names its masks and dropout
};

// A micro-batch's loss (one element, recorded on the tape) and the weight
// that seeds its backward pass. An undefined loss adds nothing (an empty shard).
struct MicroLoss {
  Tensor loss;
  float weight = 1.0f;
};

using LossFn = std::function<MicroLoss(const MicroBatch&, Tape&)>;

// How the micro-batches of a step make its loss and gradient.
enum class Reduction {
  Mean,  // the mean over the S micro-batches (pretraining's gradient accumulation)
  Sum,   // the sum of the weighted micro-batches (fine-tuning's shards of one batch)
};

struct TrainerOptions {
  AdamWOptions adamw;
  Reduction reduction = Reduction::Mean;
  // Parameters (ParamSet indices) kept at the values they have when the
  // trainer is made: restored after every update.
  std::vector<size_t> frozen;
  // The divergence guard's command and advice (models/training/divergence.h).
  std::string command;
  std::function<std::string()> divergence_advice;
  // What checkpoints hold besides the weights: config.json and vocab.txt.
  nlohmann::json config;
  std::string vocab_text;
  // Progress messages (the gradient exchange's mode, with the first step).
  std::function<void(const std::string&)> on_message;
};

struct TrainStep {
  int64_t step = 0;                  // updates done, this one included
  double loss = 0;                   // the step's loss (see Reduction), over every rank's micro-batches
  std::vector<double> micro_losses;  // [S] weight × loss of each micro-batch, in order
  double lr = 0;                     // the learning rate this update used
  double grad_norm = 0;              // the gradient's norm before clipping
};

class Trainer {
 public:
  // `model` must outlive the trainer; its parameters are the ones trained.
  Trainer(Bert& model, TrainerOptions options);

  // One optimiser step over `micro_batches` micro-batches. `loss_fn` runs for
  // this rank's micro-batches only. `counts` (optional) holds this rank's
  // tallies (tokens, ...) and receives their sums over ranks, exchanged with
  // the losses. Throws dnabert::Error, before the update, if the loss diverged.
  TrainStep step(int micro_batches, const LossFn& loss_fn, std::span<double> counts = {});

  Bert& model() { return model_; }
  const AdamW& optimizer() const { return opt_; }
  engine::Arena& arena() { return arena_; }
  int64_t step_count() const { return opt_.step_count(); }

  // DIR/ with config.json, the weights and vocab.txt.
  void save_model(const std::string& dir) const;
  // ROOT/checkpoint-<step>/: the model plus the Adam moments and
  // `trainer_state` (what the caller needs to resume), keeping `keep_last`
  // (io::write_numbered_checkpoint). Returns its path.
  std::string save_checkpoint(const std::string& root, const nlohmann::json& trainer_state, int keep_last) const;
  // Loads a checkpoint's weights and Adam moments, at update `step`. `dir`
  // names the files in errors.
  void load_checkpoint(const io::CheckpointData& ck, const std::string& dir, int64_t step);
  // Every rank takes the lead rank's weights, moments and `step`, so a
  // resumed job starts from the same bits everywhere.
  void broadcast_state(int64_t step);

 private:
  io::CheckpointData checkpoint_data() const;

  Bert& model_;
  TrainerOptions options_;
  AdamW opt_;
  engine::Arena arena_;
  DivergenceGuard divergence_;
  std::vector<Tensor> frozen_values_;
  std::unique_ptr<engine::dist::GradientSum> gradient_;  // made with the first step
};

// A run's log.jsonl, one JSON object a line, each flushed as written, and
// optionally its curves (a number field of the lines against "step") in an
// SVG. Only the lead rank writes; on the others every call does nothing.
class RunLog {
 public:
  struct Curve {
    std::string field, label, color;
    bool markers = false;
  };
  struct Plot {
    std::string title, y_label;
    std::vector<Curve> curves;
  };
  // Opens DIR/log.jsonl. A new run (resumed_step 0) starts it empty; a run
  // resumed at step s keeps its lines up to s, drops those after, and drops
  // lines that are not its own (torn, edited), then appends.
  explicit RunLog(const std::string& dir, int64_t resumed_step = 0, Plot plot = {});
  void write(const nlohmann::json& line);
  // DIR/loss.svg with the curves so far.
  void plot() const;

 private:
  bool keep(const nlohmann::json& line, int64_t resumed_step) const;
  void add_points(const nlohmann::json& line);

  std::string dir_, path_;
  Plot plot_;
  std::vector<io::Series> series_;
  std::ofstream out_;
};

}  // namespace dnabert::models
