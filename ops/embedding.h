// Embedding lookup.
#pragma once
#include "engine/tape.h"

namespace dnabert::ops {

// y[..., :] = table[ids[...], :]; ids: i32, table: [V, H].
// Backward: dtable[id] += dy[position], positions taken in order.
engine::Tensor embedding(engine::Tape& tape, const engine::Tensor& ids, const engine::Tensor& table);

}  // namespace dnabert::ops
