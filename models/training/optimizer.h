// AdamW with decoupled weight decay, the linear warmup/decay schedule, and
// gradient-norm clipping, as DNABERT's run_pretrain.py uses them:
//
//   loss = loss / accum; loss.backward()                 (accum times)
//   clip_grad_norm_(params, max_grad_norm)
//   optimizer.step(); scheduler.step(); model.zero_grad()
//
// AdamW::step() is the middle line: it scales the gradients by `grad_scale`
// (pass 1/accum if the loss was NOT divided; pass 1 if it was, never both),
// clips, updates, and advances the schedule. The caller zeroes the gradients.
//
// Update number t = 1, 2, … uses lr_t = peak_lr · linear_schedule(t - 1, …):
// HF's LambdaLR sets lr = peak·λ(0) = 0 at construction and steps after the
// optimiser, so DNABERT's very first update has lr 0 (its moments still move).
//
// Two variants of the per-element update, with g the clipped gradient,
// m ← β1·m + (1-β1)·g, v ← β2·v + (1-β2)·g², bc_i = 1 - β_i^t:
//   kHuggingFace (transformers.AdamW, correct_bias=True; what DNABERT ran):
//     p ← p - lr·(√bc2 / bc1)·m / (√v + ε);  then p ← p - lr·wd·p
//   kTorch (torch.optim.AdamW):
//     p ← p·(1 - lr·wd);  then p ← p - (lr / bc1)·m / (√v / √bc2 + ε)
// They differ only in where ε and the decay act (visible with large ε, lr·wd).
// Weight decay applies to every parameter except those whose name contains
// "bias" or "LayerNorm.weight" (HF's no_decay list).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/param_set.h"
#include "engine/tensor.h"

namespace dnabert::models {

enum class AdamWVariant { kHuggingFace, kTorch };

struct AdamWOptions {
  double lr = 4e-4;  // peak learning rate (DNABERT pretraining: 4e-4)
  double beta1 = 0.9;
  double beta2 = 0.98;
  double eps = 1e-6;
  double weight_decay = 0.01;
  int64_t warmup_steps = 10000;   // DNABERT pretraining: 10k of 200k
  int64_t total_steps = 200000;
  double max_grad_norm = 1.0;     // <= 0 disables clipping (the norm is still returned)
  AdamWVariant variant = AdamWVariant::kHuggingFace;
};

// HF get_linear_schedule_with_warmup's multiplier at scheduler step s:
// s / max(1, warmup) while s < warmup, then max(0, (total - s) / max(1, total - warmup)).
double linear_schedule(int64_t step, int64_t warmup_steps, int64_t total_steps);

// False for parameters in HF's no_decay list (name contains "bias" or "LayerNorm.weight").
bool uses_weight_decay(const std::string& name);

// √(Σ g²) over all gradients of `params` (scaled by `grad_scale`), summed in
// double over fixed chunks combined in order: the same bits for any thread count.
double grad_norm(const engine::ParamSet& params, double grad_scale = 1.0);

// torch.nn.utils.clip_grad_norm_: multiplies every gradient by
// min(1, max_norm / (norm + 1e-6)) in place; returns the norm before clipping.
double clip_grad_norm(const engine::ParamSet& params, double max_norm);

struct StepStats {
  int64_t step = 0;        // updates done, this one included
  double lr = 0.0;         // learning rate this update used
  double grad_norm = 0.0;  // after grad_scale, before clipping
  double clip_coef = 1.0;  // factor the gradients were multiplied by after grad_scale
};

class AdamW {
 public:
  // `params` must be finalized and outlive the optimiser. Throws dnabert::Error
  // on invalid options.
  AdamW(const engine::ParamSet& params, AdamWOptions options);

  // One update from the gradients in params.grads() (left unchanged). Throws
  // dnabert::Error, changing nothing, if the gradient norm is not finite.
  StepStats step(double grad_scale = 1.0);

  // Updates done so far; the next update is number step_count() + 1.
  int64_t step_count() const { return step_; }
  // Learning rate of the next update.
  double next_lr() const;
  const AdamWOptions& options() const { return options_; }

  // First and second moments: flat f32 [params.numel()], ParamSet's layout.
  const engine::Tensor& exp_avg() const { return exp_avg_; }
  const engine::Tensor& exp_avg_sq() const { return exp_avg_sq_; }
  // Restores a checkpointed state (moments copied; shapes must match).
  void load_state(const engine::Tensor& exp_avg, const engine::Tensor& exp_avg_sq, int64_t step);

 private:
  struct Segment {
    int64_t begin, end;  // element range in the flat buffers
    bool decay;
  };
  const engine::ParamSet& params_;
  AdamWOptions options_;
  std::vector<Segment> segments_;  // by offset; gaps between them hold zeros
  engine::Tensor exp_avg_, exp_avg_sq_;
  int64_t step_ = 0;
};

}  // namespace dnabert::models
