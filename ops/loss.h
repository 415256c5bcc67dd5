// Losses. Each returns a scalar (rank-0) tensor.
#pragma once
#include "engine/tape.h"

namespace dnabert::ops {

constexpr int32_t kIgnoreIndex = -100;

// Mean over rows whose label is not -100 of -log softmax(logits)[label].
// logits: [..., C], labels: i32 [...]. With no counted row the loss is 0 (and
// so is its gradient). Backward: (softmax - onehot) / count.
engine::Tensor cross_entropy(engine::Tape& tape, const engine::Tensor& logits, const engine::Tensor& labels);

// mean((pred - target)²); target is a constant.
engine::Tensor mse_loss(engine::Tape& tape, const engine::Tensor& pred, const engine::Tensor& target);

// mean of binary cross-entropy on logits, BCE(σ(x), t) computed stably as
// max(x, 0) - x t + log(1 + e^-|x|). Backward: (σ(x) - t) / n.
engine::Tensor bce_with_logits(engine::Tape& tape, const engine::Tensor& logits, const engine::Tensor& target);

}  // namespace dnabert::ops
