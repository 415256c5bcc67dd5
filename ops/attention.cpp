#include "ops/attention.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

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

// Flash-style attention (tiled, online softmax): no T×T buffer is ever
// materialised. Per head, query tiles of kTile rows sweep key tiles of
// kKeyTile columns (forward) or kTile columns (backward), keeping per query
// row a running maximum m, a running sum l and an unnormalised output O (one
// exp per score):
//   S = (q·scale) kᵀ + mask,  m' = max(m, rowmax S),  P = exp(S - m'),
//   l' = e^(m - m')·l + rowsum P,  O' = e^(m - m')·O + dropout(P) v,
// and at the end O /= l and L = m + log l (the row's log-sum-exp).
// The pass saves only O and L; the backward pass recomputes each tile's P =
// exp(S - L) and, with D = rowsum(dO ⊙ O) (which holds with dropout too),
//   dP = dropout(dO vᵀ),  dS = P ⊙ (dP - D),  dq += dS k·scale,
//   dk += dSᵀ (q·scale),  dv += dropout(P)ᵀ dO.
// Each head is processed by one thread in a fixed tile order, so results do
// not depend on the thread count. Dropout element (i, j) of head bh uses
// Philox index first + (bh·T + i)·T + j, in both passes.
namespace {

constexpr int64_t kTile = 64;
// The forward pass's key tiles are twice as wide: the per-row work of the
// online softmax and the rescale of O happen half as often (measured 4%
// faster per score than 64-wide tiles, without dropout).
constexpr int64_t kKeyTile = 128;

struct AttentionShape {
  int64_t B, T, H, NH, D;
  float scale;
};

// Per-thread work buffers that only grow: attention runs once per layer and
// step, and fresh pages are expensive (see engine/arena.h).
struct Buf {
  std::vector<float> v;
  float* get(size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
  }
};
struct HeadBuffers {
  Buf kt, vt, kc, vc, qs, o, dO, S, P, Pd, dP, keep, ones, dq, dk, dv, small;
};
thread_local HeadBuffers tls;

// The head's rows x[off + t·H + d] (t < T, d < D) as a contiguous [T, D]
// copy: the tile products then read rows 256 bytes apart (64 floats), not H
// floats apart, where few cache sets would hold them.
void head_copy(const float* x, int64_t T, int64_t H, int64_t D, float* rows) {
  for (int64_t t = 0; t < T; ++t) std::copy(x + t * H, x + t * H + D, rows + t * D);
}

// The head's rows transposed tile by tile: key tile j0 (cols = min(tile,
// T - j0) keys) becomes a contiguous [D, cols] block at out + j0·D. A plain
// [D, T] transpose would put a tile's D rows 4·T bytes apart; with T = 512
// they fall into 8 of L1's 64 sets and the tile product runs ~20% slower.
void head_transpose_tiled(const float* x, int64_t T, int64_t H, int64_t D, int64_t tile, float* out) {
  for (int64_t j0 = 0; j0 < T; j0 += tile) {
    const int64_t cols = std::min(tile, T - j0);
    float* blk = out + j0 * D;
    for (int64_t t = 0; t < cols; ++t) {
      const float* src = x + (j0 + t) * H;
      for (int64_t d = 0; d < D; ++d) blk[d * cols + t] = src[d];
    }
  }
}

// True when batch row b of the additive mask is all zeros (no padding, or
// no mask): adding it changes no result, so the tiles skip it.
bool unpadded(const float* mask, int64_t b, int64_t T) {
  if (!mask) return true;
  const float* m = mask + b * T;
  for (int64_t t = 0; t < T; ++t)
    if (m[t] != 0.0f) return false;
  return true;
}

// S tile [rows, cols] = qs[rows, D] · kᵀ[:, j0 : j0 + cols] + mask[j0 : j0 + cols],
// k_t the head's keys from head_transpose_tiled with tiles of cols keys (the
// last may be narrower); mask_b null when the row has no padding.
void score_tile(const kernels::KernelTable& kt, const AttentionShape& s, const float* qs, const float* k_t,
                const float* mask_b, int64_t j0, int64_t rows, int64_t cols, float* S) {
  kt.gemm_tile(false, rows, cols, s.D, 1.0f, qs, s.D, k_t + j0 * s.D, cols, 0.0f, S, cols);
  if (mask_b) kt.add_bias(S, mask_b + j0, rows, cols);
}

}  // namespace

Tensor attention(Tape& tape, const Tensor& q, const Tensor& k, const Tensor& v, int num_heads, const Tensor& mask,
                 float dropout_p, const engine::Rng& rng) {
  DNABERT_PROFILE_SCOPE("attention.fwd");
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
  const AttentionShape s{B, T, H, NH, H / NH, 1.0f / std::sqrt(static_cast<float>(H / NH))};
  const uint64_t seed = rng.seed(), stream = rng.stream(), first = rng.counter();
  const bool record = tape.needs_grad({&q, &k, &v});

  Tensor out = Tensor::empty({B, T, H}, &tape.arena());
  Tensor lse = Tensor::empty({B, NH, T}, &tape.arena());
  const auto& kt = K();
  {
    const float *pq = q.f32(), *pk = k.f32(), *pv = v.f32(), *pmask = mask.defined() ? mask.f32() : nullptr;
    float *po = out.f32(), *pl = lse.f32();
#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < B * NH; ++bh) {
      const int64_t b = bh / NH, h = bh % NH, off = b * T * H + h * s.D, D = s.D;
      const float* mask_b = unpadded(pmask, b, T) ? nullptr : pmask + b * T;
      float *k_t = tls.kt.get(D * T), *vc = tls.vc.get(T * D), *qs = tls.qs.get(kTile * D),
            *Oacc = tls.o.get(kTile * D), *S = tls.S.get(kTile * kKeyTile),
            *m = tls.small.get(3 * kTile), *l = m + kTile, *alpha = l + kTile;
      head_transpose_tiled(pk + off, T, H, D, kKeyTile, k_t);
      head_copy(pv + off, T, H, D, vc);
      for (int64_t i0 = 0; i0 < T; i0 += kTile) {
        const int64_t rows = std::min(kTile, T - i0);
        float* L = pl + bh * T + i0;
        for (int64_t r = 0; r < rows; ++r) {
          kt.scale(pq + off + (i0 + r) * H, s.scale, qs + r * D, D, false);
          m[r] = -INFINITY;
          l[r] = 0.0f;
        }
        std::fill(Oacc, Oacc + rows * D, 0.0f);
        for (int64_t j0 = 0; j0 < T; j0 += kKeyTile) {
          const int64_t cols = std::min(kKeyTile, T - j0);
          score_tile(kt, s, qs, k_t, mask_b, j0, rows, cols, S);
          // P overwrites S in place: one tile less in L1.
          float* P = S;
          kt.online_softmax(S, P, rows, cols, m, l, alpha);
          if (drop)
            kt.dropout_rows(P, P, rows, cols, dropout_p, seed, stream,
                            first + static_cast<uint64_t>((bh * T + i0) * T + j0), static_cast<uint64_t>(T), false);
          if (j0 > 0)  // O·1 = O: rows whose maximum did not move are left alone
            for (int64_t r = 0; r < rows; ++r)
              if (alpha[r] != 1.0f) kt.scale(Oacc + r * D, alpha[r], Oacc + r * D, D, false);
          kt.gemm_tile(false, rows, D, cols, 1.0f, P, cols, vc + j0 * D, D, 1.0f, Oacc, D);
        }
        // Oacc holds Σ_j e^(S_j - m) dropout(v_j); the softmax's denominator is l e^m.
        for (int64_t r = 0; r < rows; ++r) {
          kt.scale(Oacc + r * D, 1.0f / l[r], po + off + (i0 + r) * H, D, false);
          L[r] = m[r] + std::log(l[r]);
        }
      }
    }
  }
  if (record)
    tape.record(out, [&tape, q, k, v, mask, lse, out_data = out.detach(), s, drop, dropout_p, seed, stream,
                      first](const Tensor& dout) {
      DNABERT_PROFILE_SCOPE("attention.bwd");
      const auto& kt = K();
      // Sinks are taken in the order they are written below (q per tile, then v
      // and k per head), so aliased inputs accumulate correctly.
      GradSink dq = tape.grad_sink(q), dv = tape.grad_sink(v), dk = tape.grad_sink(k);
      const int64_t B = s.B, T = s.T, H = s.H, NH = s.NH, D = s.D;
      const float *pq = q.f32(), *pk = k.f32(), *pv = v.f32(), *po = out_data.f32(), *pl = lse.f32(),
                  *g = dout.f32(), *pmask = mask.defined() ? mask.f32() : nullptr;
#pragma omp parallel for schedule(static)
      for (int64_t bh = 0; bh < B * NH; ++bh) {
        const int64_t b = bh / NH, h = bh % NH, off = b * T * H + h * D;
        const float* mask_b = unpadded(pmask, b, T) ? nullptr : pmask + b * T;
        float *k_t = tls.kt.get(D * T), *v_t = tls.vt.get(D * T), *kc = tls.kc.get(T * D),
              *qs = tls.qs.get(kTile * D), *dOc = tls.dO.get(kTile * D), *S = tls.S.get(kTile * kTile),
              *P = tls.P.get(kTile * kTile), *Pd = tls.Pd.get(kTile * kTile), *dP = tls.dP.get(kTile * kTile),
              *keep = tls.keep.get(kTile * kTile), *dq_acc = tls.dq.get(kTile * D), *dk_acc = tls.dk.get(T * D),
              *dv_acc = tls.dv.get(T * D), *Dvec = tls.small.get(kTile);
        float* ones = tls.ones.get(kTile * kTile);
        std::fill(ones, ones + kTile * kTile, 1.0f);
        std::fill(dk_acc, dk_acc + T * D, 0.0f);
        std::fill(dv_acc, dv_acc + T * D, 0.0f);
        head_copy(pk + off, T, H, D, kc);
        head_transpose_tiled(pk + off, T, H, D, kTile, k_t);
        head_transpose_tiled(pv + off, T, H, D, kTile, v_t);
        for (int64_t i0 = 0; i0 < T; i0 += kTile) {
          const int64_t rows = std::min(kTile, T - i0);
          const float* L = pl + bh * T + i0;
          const float* dO = g + off + i0 * H;
          for (int64_t r = 0; r < rows; ++r) {
            kt.scale(pq + off + (i0 + r) * H, s.scale, qs + r * D, D, false);
            std::copy(dO + r * H, dO + r * H + D, dOc + r * D);
            double d = 0;
            for (int64_t c = 0; c < D; ++c) d += double(dO[r * H + c]) * po[off + (i0 + r) * H + c];
            Dvec[r] = static_cast<float>(d);
          }
          std::fill(dq_acc, dq_acc + kTile * D, 0.0f);
          for (int64_t j0 = 0; j0 < T; j0 += kTile) {
            const int64_t cols = std::min(kTile, T - j0);
            score_tile(kt, s, qs, k_t, mask_b, j0, rows, cols, S);
            kt.exp_shifted(S, P, rows, cols, L);  // P = exp(S - L)
            if (drop) {
              // The tile's dropout multipliers (0 or 1/(1-p)), drawn once for P and dP.
              kt.dropout_rows(ones, keep, rows, cols, dropout_p, seed, stream,
                              first + static_cast<uint64_t>((bh * T + i0) * T + j0), static_cast<uint64_t>(T), false);
              kt.mul(P, keep, Pd, rows * cols);
            }
            const float* Pdrop = drop ? Pd : P;
            if (dv)  // dv_j += P'ᵀ dO
              kt.gemm_tile(true, cols, D, rows, 1.0f, Pdrop, cols, dOc, D, 1.0f, dv_acc + j0 * D, D);
            if (!dq && !dk) continue;
            kt.gemm_tile(false, rows, cols, D, 1.0f, dOc, D, v_t + j0 * D, cols, 0.0f, dP, cols);  // dP' = dO vᵀ
            if (drop) kt.mul(dP, keep, dP, rows * cols);
            kt.softmax_grad_rows(P, dP, rows, cols, Dvec);  // dS
            if (dq) kt.gemm_tile(false, rows, D, cols, 1.0f, dP, cols, kc + j0 * D, D, 1.0f, dq_acc, D);
            if (dk) kt.gemm_tile(true, cols, D, rows, 1.0f, dP, cols, qs, D, 1.0f, dk_acc + j0 * D, D);
          }
          if (dq)
            for (int64_t r = 0; r < rows; ++r)
              kt.scale(dq_acc + r * D, s.scale, dq.data + off + (i0 + r) * H, D, dq.accumulate);
        }
        for (int64_t t = 0; t < T; ++t) {
          if (dv) kt.scale(dv_acc + t * D, 1.0f, dv.data + off + t * H, D, dv.accumulate);
          if (dk) kt.scale(dk_acc + t * D, 1.0f, dk.data + off + t * H, D, dk.accumulate);
        }
      }
    });
  return out;
}

}  // namespace dnabert::ops
