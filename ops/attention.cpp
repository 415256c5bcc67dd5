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
// The pass saves O, L and, with dropout, its keep decisions as bits (T / 8
// bytes per query row and head); the backward pass recomputes each tile's
// P = exp(S - L) and, with D = rowsum(dO ⊙ O) (which holds with dropout too),
//   dP = dropout(dO vᵀ),  dS = P ⊙ (dP - D),  dq += dS k·scale,
//   dk += dSᵀ (q·scale),  dv += dropout(P)ᵀ dO,
// applying the saved bits (cheaper than drawing the random numbers again,
// and the same decisions by construction).
// Each head is processed by one thread in a fixed tile order, so results do
// not depend on the thread count. Dropout element (i, j) of head bh uses
// Philox index first + (bh·T + i)·T + j, where i is the query's position
// (with `rows`, tiles hold the selected queries only).
namespace {

constexpr int64_t kTile = 64;
// The forward pass's key tiles are twice as wide: the per-row work of the
// online softmax and the rescale of O happen half as often per score.
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
  Buf kt, vt, kc, vc, qs, o, dO, S, P, Pd, dP, dq, dk, dv, small;
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
// they fall into 8 of L1's 64 sets and evict each other during the tile
// product.
void head_transpose_tiled(const kernels::KernelTable& kt, const float* x, int64_t T, int64_t H, int64_t D,
                          int64_t tile, float* out) {
  for (int64_t j0 = 0; j0 < T; j0 += tile) {
    const int64_t cols = std::min(tile, T - j0);
    kt.transpose(x + j0 * H, H, cols, D, out + j0 * D, cols);
  }
}

// Fetches part `part` of `parts` of a head's [rows, D] block whose rows are
// ld floats apart (q, dO, O and the outputs, ld = H): a few KiB apart, where
// the hardware prefetchers do not follow. A query tile fetches its next
// tile's rows a part per key tile, while the key tiles run.
void prefetch_part(const float* p, int64_t ld, int64_t rows, int64_t part, int64_t parts, int64_t D, bool write) {
  for (int64_t r = rows * part / parts; r < rows * (part + 1) / parts; ++r)
    for (int64_t c = 0; c < D; c += 16) {
      if (write)
        __builtin_prefetch(p + r * ld + c, 1, 3);
      else
        __builtin_prefetch(p + r * ld + c, 0, 3);
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

// Which query rows each batch row has. Without `rows`, q is [B, T, H] and
// batch row b's queries are q rows b·T .. b·T + T - 1 at positions 0 .. T - 1.
// With `rows` (flat positions b·T + t, ascending), q is [N, H] and q row n is
// the query at position rows[n] - b·T; batch row b's are a contiguous run.
struct QueryRows {
  const int32_t* rows = nullptr;
  int64_t T = 0;
  std::vector<int64_t> start;  // B + 1 offsets: batch row b's q rows are start[b] .. start[b + 1] - 1
  QueryRows(const Tensor& r, int64_t B, int64_t T_) : rows(r.defined() ? r.i32() : nullptr), T(T_) {
    start.resize(static_cast<size_t>(B + 1));
    if (!rows) {
      for (int64_t b = 0; b <= B; ++b) start[static_cast<size_t>(b)] = b * T;
      return;
    }
    const int64_t n = r.numel();
    int64_t i = 0;
    for (int64_t b = 0; b <= B; ++b) {
      while (i < n && rows[i] < b * T) ++i;
      start[static_cast<size_t>(b)] = i;
    }
  }
  int64_t begin(int64_t b) const { return start[static_cast<size_t>(b)]; }
  int64_t end(int64_t b) const { return start[static_cast<size_t>(b + 1)]; }
  int64_t pos(int64_t b, int64_t n) const { return (rows ? rows[n] : n) - b * T; }
};

}  // namespace

Tensor attention(Tape& tape, const Tensor& q, const Tensor& k, const Tensor& v, int num_heads, const Tensor& mask,
                 float dropout_p, const engine::Rng& rng, const Tensor& rows) {
  DNABERT_PROFILE_SCOPE("attention.fwd");
  constexpr const char* op = "attention";
  check_f32(op, "q", q);
  check_f32(op, "k", k);
  check_f32(op, "v", v);
  if (k.rank() != 3) fail(op, "k " + k.shape().str() + " must be [B, T, H]");
  check_same_shape(op, "k", k, "v", v);
  const int64_t B = k.dim(0), T = k.dim(1), H = k.dim(2), NH = num_heads;
  if (rows.defined()) {
    if (rows.dtype() != DType::I32 || rows.rank() != 1 || !rows.is_contiguous())
      fail(op, "rows must be contiguous i32 [N], got " + rows.str());
    if (q.rank() != 2 || q.dim(0) != rows.numel() || q.dim(1) != H)
      fail(op, "q " + q.shape().str() + " must be [N, H] = [" + std::to_string(rows.numel()) + ", " +
                   std::to_string(H) + "] for " + std::to_string(rows.numel()) + " rows and k " + k.shape().str());
    const int32_t* pr = rows.i32();
    for (int64_t n = 0; n < rows.numel(); ++n)
      if (pr[n] < 0 || pr[n] >= B * T || (n > 0 && pr[n] <= pr[n - 1]))
        fail(op, "rows must be ascending positions in [0, B·T = " + std::to_string(B * T) + "); row " +
                     std::to_string(n) + " is " + std::to_string(pr[n]));
  } else {
    check_same_shape(op, "q", q, "k", k);
  }
  if (NH <= 0 || H % NH != 0)
    fail(op, "hidden size " + std::to_string(H) + " of q " + q.shape().str() + " is not divisible by " +
                 std::to_string(num_heads) + " heads");
  if (mask.defined()) {
    check_f32(op, "mask", mask);
    if (mask.rank() != 2 || mask.dim(0) != B || mask.dim(1) != T)
      fail(op, "mask " + mask.shape().str() + " must be [B, T] = [" + std::to_string(B) + ", " + std::to_string(T) +
                   "] for k " + k.shape().str());
  }
  if (!(dropout_p >= 0.0f && dropout_p < 1.0f)) fail(op, "dropout probability must be in [0, 1)");
  const bool drop = tape.training() && dropout_p > 0.0f;
  const AttentionShape s{B, T, H, NH, H / NH, 1.0f / std::sqrt(static_cast<float>(H / NH))};
  const uint64_t seed = rng.seed(), stream = rng.stream(), first = rng.counter();
  const bool record = tape.needs_grad({&q, &k, &v});
  const int64_t Nq = q.numel() / H;  // query rows

  Tensor out = Tensor::empty(q.shape(), &tape.arena());
  Tensor lse = Tensor::empty({NH, Nq}, &tape.arena());  // per head and query row
  // The dropout keep bits, saved for the backward pass (T / 8 bytes per head
  // and query row: 3 MiB per BERT-base layer at B = 8, T = 512), which then
  // draws no random numbers.
  const int64_t Tw = (T + 31) / 32;
  Tensor keep = drop && record ? Tensor::empty({NH, Nq, Tw}, &tape.arena(), DType::I32) : Tensor();
  const float keep_scale = 1.0f / (1.0f - dropout_p);
  const auto& kt = K();
  {
    const QueryRows qr(rows, B, T);
    const float *pq = q.f32(), *pk = k.f32(), *pv = v.f32(), *pmask = mask.defined() ? mask.f32() : nullptr;
    float *po = out.f32(), *pl = lse.f32();
    uint32_t* pkeep = keep.defined() ? reinterpret_cast<uint32_t*>(keep.i32()) : nullptr;
    // Heads go to threads as they come free (the forward and backward loops):
    // one core can run slower than another for a while on a shared or
    // virtual machine (see take_rows in gemm_driver.inc). Each head is
    // computed whole by one thread, so the bits do not depend on which.
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t bh = 0; bh < B * NH; ++bh) {
      const int64_t b = bh / NH, h = bh % NH, D = s.D, koff = b * T * H + h * D, n0 = qr.begin(b), n1 = qr.end(b);
      if (n0 == n1) continue;  // no query in this batch row
      const float* mask_b = unpadded(pmask, b, T) ? nullptr : pmask + b * T;
      float *k_t = tls.kt.get(D * T), *vc = tls.vc.get(T * D), *qs = tls.qs.get(kTile * D),
            *Oacc = tls.o.get(kTile * D), *S = tls.S.get(kTile * kKeyTile),
            *m = tls.small.get(3 * kTile), *l = m + kTile, *alpha = l + kTile;
      int64_t pos[kTile];
      uint32_t tile_bits[kTile * (kKeyTile / 32)];  // when the bits are not saved
      head_transpose_tiled(kt, pk + koff, T, H, D, kKeyTile, k_t);
      head_copy(pv + koff, T, H, D, vc);
      for (int64_t i0 = n0; i0 < n1; i0 += kTile) {
        const int64_t rows_i = std::min(kTile, n1 - i0), next_rows = std::min(kTile, n1 - i0 - kTile);
        float* L = pl + h * Nq + i0;
        kt.scale_rows(pq + i0 * H + h * D, H, &s.scale, 0, qs, D, rows_i, D, false);
        for (int64_t r = 0; r < rows_i; ++r) {
          pos[r] = qr.pos(b, i0 + r);
          m[r] = -INFINITY;
          l[r] = 0.0f;
        }
        std::fill(Oacc, Oacc + rows_i * D, 0.0f);
        for (int64_t j0 = 0; j0 < T; j0 += kKeyTile) {
          const int64_t cols = std::min(kKeyTile, T - j0);
          score_tile(kt, s, qs, k_t, mask_b, j0, rows_i, cols, S);
          // The next query tile's q rows and this tile's output rows.
          const int64_t jt = j0 / kKeyTile, nk = (T + kKeyTile - 1) / kKeyTile;
          if (next_rows > 0) prefetch_part(pq + (i0 + kTile) * H + h * D, H, next_rows, jt, nk, D, false);
          prefetch_part(po + i0 * H + h * D, H, rows_i, jt, nk, D, true);
          // P overwrites S in place: one tile less in L1.
          float* P = S;
          kt.online_softmax(S, P, rows_i, cols, m, l, alpha);
          if (drop) {
            uint32_t* bits = pkeep ? pkeep + (h * Nq + i0) * Tw + j0 / 32 : tile_bits;
            const int64_t ldb = pkeep ? Tw : kKeyTile / 32;
            keep_bits_rows(pos, rows_i, cols, dropout_p, seed, stream, first + static_cast<uint64_t>(bh * T * T + j0),
                           static_cast<uint64_t>(T), bits, ldb);
            kt.mul_bits(P, bits, ldb, keep_scale, P, rows_i, cols);
          }
          if (j0 > 0) kt.scale_rows(Oacc, D, alpha, 1, Oacc, D, rows_i, D, false);
          kt.gemm_tile(false, rows_i, D, cols, 1.0f, P, cols, vc + j0 * D, D, 1.0f, Oacc, D);
        }
        // Oacc holds Σ_j e^(S_j - m) dropout(v_j); the softmax's denominator is l e^m.
        for (int64_t r = 0; r < rows_i; ++r) {
          alpha[r] = 1.0f / l[r];
          L[r] = m[r] + std::log(l[r]);
        }
        kt.scale_rows(Oacc, D, alpha, 1, po + i0 * H + h * D, H, rows_i, D, false);
      }
    }
  }
  if (record)
    tape.record(out, [&tape, q, k, v, mask, rows, lse, keep, out_data = out.detach(), s, Nq, Tw,
                      keep_scale](const Tensor& dout) {
      DNABERT_PROFILE_SCOPE("attention.bwd");
      const auto& kt = K();
      // Sinks are taken in the order they are written below (q per tile, then v
      // and k per head), so aliased inputs accumulate correctly.
      GradSink dq = tape.grad_sink(q), dv = tape.grad_sink(v), dk = tape.grad_sink(k);
      const int64_t B = s.B, T = s.T, H = s.H, NH = s.NH, D = s.D;
      const QueryRows qr(rows, B, T);
      const float *pq = q.f32(), *pk = k.f32(), *pv = v.f32(), *po = out_data.f32(), *pl = lse.f32(),
                  *g = dout.f32(), *pmask = mask.defined() ? mask.f32() : nullptr;
#pragma omp parallel for schedule(dynamic, 1)
      for (int64_t bh = 0; bh < B * NH; ++bh) {
        const int64_t b = bh / NH, h = bh % NH, koff = b * T * H + h * D, n0 = qr.begin(b), n1 = qr.end(b);
        const float* mask_b = unpadded(pmask, b, T) ? nullptr : pmask + b * T;
        float *k_t = tls.kt.get(D * T), *v_t = tls.vt.get(D * T), *kc = tls.kc.get(T * D),
              *qs = tls.qs.get(kTile * D), *dOc = tls.dO.get(kTile * D), *S = tls.S.get(kTile * kTile),
              *P = tls.P.get(kTile * kTile), *Pd = tls.Pd.get(kTile * kTile), *dP = tls.dP.get(kTile * kTile),
              *dq_acc = tls.dq.get(kTile * D), *dk_acc = tls.dk.get(T * D), *dv_acc = tls.dv.get(T * D),
              *Dvec = tls.small.get(kTile);
        const uint32_t* pkeep = keep.defined() ? reinterpret_cast<const uint32_t*>(keep.i32()) : nullptr;
        std::fill(dk_acc, dk_acc + T * D, 0.0f);
        std::fill(dv_acc, dv_acc + T * D, 0.0f);
        if (n0 < n1) {
          head_copy(pk + koff, T, H, D, kc);
          head_transpose_tiled(kt, pk + koff, T, H, D, kTile, k_t);
          head_transpose_tiled(kt, pv + koff, T, H, D, kTile, v_t);
        }
        for (int64_t i0 = n0; i0 < n1; i0 += kTile) {
          const int64_t rows_i = std::min(kTile, n1 - i0), next_rows = std::min(kTile, n1 - i0 - kTile);
          const float* L = pl + h * Nq + i0;
          kt.scale_rows(pq + i0 * H + h * D, H, &s.scale, 0, qs, D, rows_i, D, false);
          for (int64_t r = 0; r < rows_i; ++r) {
            const int64_t qoff = (i0 + r) * H + h * D;
            std::copy(g + qoff, g + qoff + D, dOc + r * D);
            // In double, over four interleaved sums (one serial chain of D
            // dependent adds stalled on each add's latency).
            double d4[4] = {0, 0, 0, 0};
            int64_t c = 0;
            for (; c + 4 <= D; c += 4)
              for (int64_t j = 0; j < 4; ++j) d4[j] += double(g[qoff + c + j]) * po[qoff + c + j];
            for (; c < D; ++c) d4[0] += double(g[qoff + c]) * po[qoff + c];
            Dvec[r] = static_cast<float>((d4[0] + d4[1]) + (d4[2] + d4[3]));
          }
          std::fill(dq_acc, dq_acc + kTile * D, 0.0f);
          for (int64_t j0 = 0; j0 < T; j0 += kTile) {
            const int64_t cols = std::min(kTile, T - j0);
            score_tile(kt, s, qs, k_t, mask_b, j0, rows_i, cols, S);
            // As in the forward pass: the next query tile's rows, this one's dq rows.
            const int64_t jt = j0 / kTile, nk = (T + kTile - 1) / kTile;
            if (next_rows > 0)
              for (const float* p : {pq, g, po}) prefetch_part(p + (i0 + kTile) * H + h * D, H, next_rows, jt, nk, D, false);
            if (dq) prefetch_part(dq.data + i0 * H + h * D, H, rows_i, jt, nk, D, true);
            kt.exp_shifted(S, P, rows_i, cols, L);  // P = exp(S - L)
            // The forward pass's keep bits of this tile (saved only with dropout).
            const uint32_t* bits = pkeep ? pkeep + (h * Nq + i0) * Tw + j0 / 32 : nullptr;
            if (bits) kt.mul_bits(P, bits, Tw, keep_scale, Pd, rows_i, cols);
            const float* Pdrop = bits ? Pd : P;
            if (dv)  // dv_j += P'ᵀ dO
              kt.gemm_tile(true, cols, D, rows_i, 1.0f, Pdrop, cols, dOc, D, 1.0f, dv_acc + j0 * D, D);
            if (!dq && !dk) continue;
            kt.gemm_tile(false, rows_i, cols, D, 1.0f, dOc, D, v_t + j0 * D, cols, 0.0f, dP, cols);  // dP' = dO vᵀ
            if (bits) kt.mul_bits(dP, bits, Tw, keep_scale, dP, rows_i, cols);
            kt.softmax_grad_rows(P, dP, rows_i, cols, Dvec);  // dS
            if (dq) kt.gemm_tile(false, rows_i, D, cols, 1.0f, dP, cols, kc + j0 * D, D, 1.0f, dq_acc, D);
            if (dk) kt.gemm_tile(true, cols, D, rows_i, 1.0f, dP, cols, qs, D, 1.0f, dk_acc + j0 * D, D);
          }
          if (dq) kt.scale_rows(dq_acc, D, &s.scale, 0, dq.data + i0 * H + h * D, H, rows_i, D, dq.accumulate);
        }
        const float one = 1.0f;
        if (dv) kt.scale_rows(dv_acc, D, &one, 0, dv.data + koff, H, T, D, dv.accumulate);
        if (dk) kt.scale_rows(dk_acc, D, &one, 0, dk.data + koff, H, T, D, dk.accumulate);
      }
    });
  return out;
}

}  // namespace dnabert::ops
