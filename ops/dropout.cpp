#include "ops/dropout.h"

#include "ops/common.h"

namespace dnabert::ops {

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
  // x as R rows of C; row n's mask starts at Philox index first + n·C, or
  // with `rows` at first + rows[n]·C.
  const int32_t* r = rows.defined() ? rows.i32() : nullptr;
  const int64_t R = x.numel() / C, ldb = (C + 31) / 32;
  Tensor y = Tensor::empty(x.shape(), &tape.arena());
  const uint64_t seed = rng.seed(), stream = rng.stream(), first = rng.counter();
  // The keep decisions as bits (C / 8 bytes per row), then y = x·keep/(1 - p)
  // from them; the backward pass reuses the bits instead of drawing the
  // numbers again. Bit for bit the result of kernels' dropout (mul_bits's
  // contract); the forward pass draws once, and the backward pass only reads
  // one bit per element instead of running Philox again.
  Tensor bits = Tensor::empty({R, ldb}, &tape.arena(), DType::I32);
  const float keep_scale = 1.0f / (1.0f - p);
  {
    uint32_t* pb = reinterpret_cast<uint32_t*>(bits.i32());
    const float* px = x.f32();
    float* py = y.f32();
    engine::parallel_for(R, row_grain(C), [&](int64_t n0, int64_t n1) {
      keep_bits_rows(r ? r + n0 : r, n1 - n0, C, p, seed, stream, r ? first : first + static_cast<uint64_t>(n0 * C),
                     static_cast<uint64_t>(C), pb + n0 * ldb, ldb);
      K().mul_bits(px + n0 * C, pb + n0 * ldb, ldb, keep_scale, py + n0 * C, n1 - n0, C);
    });
  }
  if (tape.needs_grad({&x}))
    tape.record(y, [&tape, x, bits, R, C, ldb, keep_scale](const Tensor& dy) {
      DNABERT_PROFILE_SCOPE("dropout.bwd");
      GradSink dx = tape.grad_sink(x);
      if (!dx) return;
      // dx (+)= dy·keep/(1 - p), through a scratch tensor when it accumulates.
      Tensor scratch = dx.accumulate ? Tensor::empty(dy.shape(), &tape.arena()) : Tensor();
      float* out = dx.accumulate ? scratch.f32() : dx.data;
      const uint32_t* pb = reinterpret_cast<const uint32_t*>(bits.i32());
      const float* g = dy.f32();
      engine::parallel_for(R, row_grain(C), [&](int64_t n0, int64_t n1) {
        K().mul_bits(g + n0 * C, pb + n0 * ldb, ldb, keep_scale, out + n0 * C, n1 - n0, C);
      });
      if (dx.accumulate) accumulate(dx, out, R * C);
    });
  return y;
}

}  // namespace dnabert::ops
