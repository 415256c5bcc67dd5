#include "ops/attention.h"

#include <cfloat>
#include <cmath>

#include "ops/common.h"

namespace dnabert::ops {

Tensor additive_mask(Tape& tape, const Tensor& m) {
  if (!m.defined() || m.dtype() != DType::I32 || m.rank() != 2 || !m.is_contiguous())
    fail("additive_mask", "mask must be contiguous i32 [B, T], got " + (m.defined() ? m.str() : std::string("undefined")));
  Tensor out = Tensor::empty(m.shape(), &tape.arena());
  const int32_t* pm = m.i32();
  float* po = out.f32();
  for (int64_t i = 0; i < m.numel(); ++i) po[i] = pm[i] ? 0.0f : -FLT_MAX;
  return out;
}

// Reference (materialised T×T) implementation. The probabilities P are kept
// for the backward pass; the dropout mask is regenerated from its key.
Tensor attention(Tape& tape, const Tensor& q, const Tensor& k, const Tensor& v, int num_heads, const Tensor& mask,
                 float dropout_p, const engine::Rng& rng) {
  constexpr const char* op = "attention";
  check_f32(op, "q", q);
  check_f32(op, "k", k);
  check_f32(op, "v", v);
  if (q.rank() != 3) fail(op, "q " + q.shape().str() + " must be [B, T, H]");
  check_same_shape(op, "q", q, "k", k);
  check_same_shape(op, "q", q, "v", v);
  const int64_t B = q.dim(0), T = q.dim(1), H = q.dim(2), NH = num_heads;
  if (NH <= 0 || H % NH != 0)
    fail(op, "hidden size " + std::to_string(H) + " of q " + q.shape().str() + " is not divisible by " +
                 std::to_string(num_heads) + " heads");
  if (mask.defined()) {
    check_f32(op, "mask", mask);
    if (mask.rank() != 2 || mask.dim(0) != B || mask.dim(1) != T)
      fail(op, "mask " + mask.shape().str() + " must be [B, T] = [" + std::to_string(B) + ", " + std::to_string(T) +
                   "] for q " + q.shape().str());
  }
  if (!(dropout_p >= 0.0f && dropout_p < 1.0f)) fail(op, "dropout probability must be in [0, 1)");
  const bool drop = tape.training() && dropout_p > 0.0f;
  const int64_t D = H / NH, TT = T * T;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const uint64_t seed = rng.seed(), stream = rng.stream(), first = rng.counter();

  Tensor probs = Tensor::empty({B, NH, T, T}, &tape.arena());
  Tensor dropped = drop ? Tensor::empty({B, NH, T, T}, &tape.arena()) : probs;
  Tensor out = Tensor::empty({B, T, H}, &tape.arena());
  const auto& kt = K();
  {
    const float *pq = q.f32(), *pk = k.f32(), *pv = v.f32(), *pmask = mask.defined() ? mask.f32() : nullptr;
    float *pp = probs.f32(), *pd = dropped.f32(), *po = out.f32();
#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < B * NH; ++bh) {
      const int64_t b = bh / NH, h = bh % NH;
      const int64_t off = b * T * H + h * D;
      float* P = pp + bh * TT;
      kt.gemm(false, true, T, T, D, 1.0f, pq + off, H, pk + off, H, 0.0f, P, T);  // S = q kᵀ
      kt.softmax_fwd(P, P, T, T, scale, pmask ? pmask + b * T : nullptr);
      if (drop) kt.dropout(P, pd + bh * TT, TT, dropout_p, seed, stream, first + static_cast<uint64_t>(bh * TT), false);
      kt.gemm(false, false, T, D, T, 1.0f, pd + bh * TT, T, pv + off, H, 0.0f, po + off, H);  // out = P' v
    }
  }
  if (tape.needs_grad({&q, &k, &v}))
    tape.record(out, [&tape, q, k, v, probs, dropped, B, T, H, NH, D, TT, scale, drop, dropout_p, seed, stream,
                      first](const Tensor& dout) {
      const auto& kt = K();
      // Sinks are taken in the order they are written below (v, q, k), so aliased
      // inputs accumulate correctly.
      GradSink dv = tape.grad_sink(v), dq = tape.grad_sink(q), dk = tape.grad_sink(k);
      Tensor dprobs = Tensor::empty({B, NH, T, T}, &tape.arena());
      const float *pq = q.f32(), *pk = k.f32(), *pv = v.f32(), *pp = probs.f32(), *pd = dropped.f32(),
                  *g = dout.f32();
      float* pdp = dprobs.f32();
#pragma omp parallel for schedule(static)
      for (int64_t bh = 0; bh < B * NH; ++bh) {
        const int64_t b = bh / NH, h = bh % NH;
        const int64_t off = b * T * H + h * D;
        float* dP = pdp + bh * TT;
        if (dv)  // dv = P'ᵀ dout
          kt.gemm(true, false, T, D, T, 1.0f, pd + bh * TT, T, g + off, H, dv.accumulate ? 1.0f : 0.0f, dv.data + off,
                  H);
        if (!dq && !dk) continue;
        kt.gemm(false, true, T, T, D, 1.0f, g + off, H, pv + off, H, 0.0f, dP, T);  // dP' = dout vᵀ
        if (drop) kt.dropout(dP, dP, TT, dropout_p, seed, stream, first + static_cast<uint64_t>(bh * TT), false);
        kt.softmax_bwd(pp + bh * TT, dP, dP, T, T, scale, false);  // dS (scaled), in place
        if (dq)  // dq = dS k
          kt.gemm(false, false, T, D, T, 1.0f, dP, T, pk + off, H, dq.accumulate ? 1.0f : 0.0f, dq.data + off, H);
        if (dk)  // dk = dSᵀ q
          kt.gemm(true, false, T, D, T, 1.0f, dP, T, pq + off, H, dk.accumulate ? 1.0f : 0.0f, dk.data + off, H);
      }
    });
  return out;
}

}  // namespace dnabert::ops
