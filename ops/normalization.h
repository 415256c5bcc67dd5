// LayerNorm and softmax over the last dimension.
#pragma once
#include "engine/tape.h"

namespace dnabert::ops {

// y = (x - μ) / √(σ² + eps) · gamma + beta over the last dimension H
// (BERT: eps = 1e-12). gamma, beta: [H].
engine::Tensor layer_norm(engine::Tape& tape, const engine::Tensor& x, const engine::Tensor& gamma,
                          const engine::Tensor& beta, float eps);

// y = layer_norm(a + b, gamma, beta, eps), fused (BERT's residual + LayerNorm):
// the sum and the normalisation share one pass, and the backward pass writes
// the one gradient to both inputs. Bit-identical to layer_norm(add(a, b), ...).
engine::Tensor add_layer_norm(engine::Tape& tape, const engine::Tensor& a, const engine::Tensor& b,
                              const engine::Tensor& gamma, const engine::Tensor& beta, float eps);

// y = softmax(x) over the last dimension; dx = y ⊙ (dy - Σ dy ⊙ y)
engine::Tensor softmax(engine::Tape& tape, const engine::Tensor& x);

}  // namespace dnabert::ops
