// Dense layers and batched matrix products.
#pragma once
#include "engine/tape.h"

namespace dnabert::ops {

// y[..., out] = x[..., in] · wᵀ + b, with w: [out, in] (HF layout), b: [out]
// or undefined. Backward: dx = dy·w, dw += dyᵀ·x, db += Σ_rows dy.
engine::Tensor linear(engine::Tape& tape, const engine::Tensor& x, const engine::Tensor& w,
                      const engine::Tensor& b = engine::Tensor());

// y = GELU(x · wᵀ + b), fused: the bias and GELU share one pass over the
// output, and GELU's backward shares one pass with the bias gradient. Results
// are bit-identical to gelu(linear(x, w, b)). b is required.
engine::Tensor linear_gelu(engine::Tape& tape, const engine::Tensor& x, const engine::Tensor& w,
                           const engine::Tensor& b);

// c[..., M, N] = op(a) · op(b) over matching leading (batch) dimensions, where
// op(a) is a[..., M, K] or, with trans_a, the transpose of a[..., K, M].
engine::Tensor matmul(engine::Tape& tape, const engine::Tensor& a, const engine::Tensor& b, bool trans_a = false,
                      bool trans_b = false);

}  // namespace dnabert::ops
