// Dropout with counter-based masks.
#pragma once
#include "engine/rng.h"
#include "engine/tape.h"

namespace dnabert::ops {

// Training: y = x · keep / (1 - p), keep_i = u_i ≥ p with u_i the Philox
// uniform number (rng.seed(), rng.stream(), rng.counter() + i). The forward
// pass keeps the mask as bits (1/32 of x's size) for the backward pass, and
// the mask never depends on threading. Inference mode or p = 0: y = x.
//
// With `rows` (i32 [N]) x is [N, C], a gather of rows of a larger [*, C]
// tensor, and row n takes the mask that row rows[n] has there (indices
// rng.counter() + rows[n]·C + c): a layer that computes only some rows
// drops exactly what it would have dropped computing them all.
engine::Tensor dropout(engine::Tape& tape, const engine::Tensor& x, float p, const engine::Rng& rng,
                       const engine::Tensor& rows = engine::Tensor());

}  // namespace dnabert::ops
