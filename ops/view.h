// Differentiable views and copies.
#pragma once
#include "engine/tape.h"

namespace dnabert::ops {

// Same data in a new shape (a view when x is contiguous). One extent may be -1.
engine::Tensor reshape(engine::Tape& tape, const engine::Tensor& x, const engine::Dims& shape);

// Elements [start, end) along `dim`, as a contiguous copy; e.g. the [CLS]
// rows of hidden states [B, T, H] are slice(tape, h, 1, 0, 1).
engine::Tensor slice(engine::Tape& tape, const engine::Tensor& x, int dim, int64_t start, int64_t end);

}  // namespace dnabert::ops
