#include "ops/dropout.h"

#include "ops/common.h"

namespace dnabert::ops {

namespace {

// x viewed as R rows of C: row n's mask starts at Philox index first + n·C,
// or, with `rows`, at first + rows[n]·C.
struct DropRows {
  const int32_t* rows;  // null: row n is at n·C
  int64_t R, C, ldb;    // ldb: 32-bit words of keep bits per row
  uint64_t start(uint64_t first, int64_t n) const {
    return first + static_cast<uint64_t>(rows ? rows[n] : n) * static_cast<uint64_t>(C);
  }
};

// The keep decisions of rows n0 .. n1 - 1 as bits (runs of consecutive rows in one call).
void keep_bits(const DropRows& d, int64_t n0, int64_t n1, float p, uint64_t seed, uint64_t stream, uint64_t first,
               uint32_t* bits) {
  const auto& k = K();
  for (int64_t a = n0, b; a < n1; a = b) {
    for (b = a + 1; b < n1 && (!d.rows || d.rows[b] == d.rows[b - 1] + 1);) ++b;
    k.dropout_keep_bits(b - a, d.C, p, seed, stream, d.start(first, a), static_cast<uint64_t>(d.C), bits + a * d.ldb,
                        d.ldb);
  }
}

// y (+)= dropout(x) by regenerating the mask (a gradient that accumulates).
void apply(const DropRows& d, const float* x, float* y, float p, uint64_t seed, uint64_t stream, uint64_t first,
           bool acc) {
  const auto& k = K();
  engine::parallel_for(d.R, row_grain(d.C), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      k.dropout(x + n * d.C, y + n * d.C, d.C, p, seed, stream, d.start(first, n), acc);
  });
}

}  // namespace

Tensor dropout(Tape& tape, const Tensor& x, float p, const engine::Rng& rng, const Tensor& rows) {
  DNABERT_PROFILE_SCOPE("dropout.fwd");
  check_f32("dropout", "x", x);
  if (!(p >= 0.0f && p < 1.0f)) fail("dropout", "probability must be in [0, 1), got " + std::to_string(p));
  int64_t C = x.rank() >= 1 ? x.dim(-1) : 1;
  if (rows.defined()) {
    if (rows.dtype() != DType::I32 || rows.rank() != 1 || !rows.is_contiguous() || x.rank() != 2 ||
        x.dim(0) != rows.numel())
      fail("dropout", "rows " + rows.str() + " must be contiguous i32 [N] for x [N, C], got x " + x.shape().str());
    const int32_t* r = rows.i32();
    for (int64_t n = 0; n < rows.numel(); ++n)
      if (r[n] < 0) fail("dropout", "row " + std::to_string(n) + " is " + std::to_string(r[n]) + ", below 0");
  }
  if (!tape.training() || p == 0.0f || x.numel() == 0) return x;
  const DropRows d{rows.defined() ? rows.i32() : nullptr, x.numel() / C, C, (C + 31) / 32};
  Tensor y = Tensor::empty(x.shape(), &tape.arena());
  const uint64_t seed = rng.seed(), stream = rng.stream(), first = rng.counter();
  // The keep decisions as bits (C / 8 bytes per row), then y = x·keep/(1 - p)
  // from them; the backward pass reuses the bits instead of drawing the
  // numbers again. Bit for bit the result of kernels' dropout (mul_bits's
  // contract), about 2× as fast forward and 6–7× backward
  // (bench/RESULTS.md).
  Tensor bits = Tensor::empty({d.R, d.ldb}, &tape.arena(), DType::I32);
  uint32_t* pb = reinterpret_cast<uint32_t*>(bits.i32());
  const float keep_scale = 1.0f / (1.0f - p);
  {
    const auto& k = K();
    const float* px = x.f32();
    float* py = y.f32();
    engine::parallel_for(d.R, row_grain(C), [&](int64_t n0, int64_t n1) {
      keep_bits(d, n0, n1, p, seed, stream, first, pb);
      k.mul_bits(px + n0 * C, pb + n0 * d.ldb, d.ldb, keep_scale, py + n0 * C, n1 - n0, C);
    });
  }
  if (tape.needs_grad({&x}))
    tape.record(y, [&tape, x, rows, bits, d, p, seed, stream, first, keep_scale](const Tensor& dy) {
      DNABERT_PROFILE_SCOPE("dropout.bwd");
      GradSink dx = tape.grad_sink(x);
      if (!dx) return;
      if (dx.accumulate) {
        apply(d, dy.f32(), dx.data, p, seed, stream, first, true);
        return;
      }
      const auto& k = K();
      const uint32_t* pb = reinterpret_cast<const uint32_t*>(bits.i32());
      const float* g = dy.f32();
      engine::parallel_for(d.R, row_grain(d.C), [&](int64_t n0, int64_t n1) {
        k.mul_bits(g + n0 * d.C, pb + n0 * d.ldb, d.ldb, keep_scale, dx.data + n0 * d.C, n1 - n0, d.C);
      });
    });
  return y;
}

}  // namespace dnabert::ops
