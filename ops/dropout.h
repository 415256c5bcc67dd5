// Dropout with counter-based masks.
#pragma once
#include "engine/rng.h"
#include "engine/tape.h"

namespace dnabert::ops {

// Training: y = x · keep / (1 - p), keep_i = u_i ≥ p with u_i the Philox
// uniform number (rng.seed(), rng.stream(), rng.counter() + i). The backward
// pass regenerates the same mask from the key instead of storing it, and the
// mask never depends on threading. Inference mode or p = 0: y = x.
engine::Tensor dropout(engine::Tape& tape, const engine::Tensor& x, float p, const engine::Rng& rng);

}  // namespace dnabert::ops
