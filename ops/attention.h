// Multi-head scaled-dot-product attention, as HF BERT computes it.
#pragma once
#include "engine/rng.h"
#include "engine/tape.h"

namespace dnabert::ops {

// q, k, v: [B, T, H] with the NH heads side by side (H = NH·D), the layout a
// linear layer emits. mask: [B, T] additive (0 = attend, a large negative
// number such as -FLT_MAX = padding), or undefined for no mask.
// Per head: P = softmax(q kᵀ / √D + mask), P' = dropout(P, p), out = P' v.
// Returns [B, T, H].
//
// With `rows` (i32 [N], ascending flat positions b·T + t), only those query
// rows are computed: q is [N, H] (the queries at those positions) and the
// result is [N, H], each row bit-identical to the same row of the full
// result (dropout included: element (t, j) keeps its mask). Keys and values
// stay [B, T, H]. A model whose loss reads few positions of its last layer
// (masked-LM rows, a [CLS] row) skips the rest of that layer's work.
engine::Tensor attention(engine::Tape& tape, const engine::Tensor& q, const engine::Tensor& k,
                         const engine::Tensor& v, int num_heads, const engine::Tensor& mask, float dropout_p = 0.0f,
                         const engine::Rng& rng = engine::Rng(), const engine::Tensor& rows = engine::Tensor());

// The additive mask for a [B, T] 0/1 attention mask (1 = real token):
// 0 where 1, -FLT_MAX where 0 (HF's torch.finfo(float32).min).
engine::Tensor additive_mask(engine::Tape& tape, const engine::Tensor& attention_mask01);

}  // namespace dnabert::ops
