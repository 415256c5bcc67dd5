// Elementwise ops.
#pragma once
#include "engine/tape.h"

namespace dnabert::ops {

// y = a + b (same shape); also the residual connection.
engine::Tensor add(engine::Tape& tape, const engine::Tensor& a, const engine::Tensor& b);
// y = s · x
engine::Tensor mul_scalar(engine::Tape& tape, const engine::Tensor& x, float s);
// y = x Φ(x) = ½ x (1 + erf(x/√2)), the erf GELU of BERT (not the tanh approximation; erf
// within 1.5e-7 by Abramowitz & Stegun 7.1.26, as PyTorch's CPU kernel); dy/dx = Φ(x) + x φ(x)
engine::Tensor gelu(engine::Tape& tape, const engine::Tensor& x);
// y = tanh x; dy/dx = 1 - y²
engine::Tensor tanh(engine::Tape& tape, const engine::Tensor& x);

}  // namespace dnabert::ops
