// Embedding lookup.
#pragma once
#include "engine/tape.h"

namespace dnabert::ops {

// y[..., :] = table[ids[...], :]; ids: i32, table: [V, H].
// Backward: dtable[id] += dy[position], positions taken in order, except that
// positions holding `padding_idx` send no gradient (torch's padding_idx, which
// HF BERT sets to [PAD] = 0 for the word embeddings). -1 = none.
engine::Tensor embedding(engine::Tape& tape, const engine::Tensor& ids, const engine::Tensor& table,
                         int32_t padding_idx = -1);

}  // namespace dnabert::ops
