#include "ops/dropout.h"

#include "ops/common.h"

namespace dnabert::ops {

namespace {

// y = dropout(x) over all of x (rows undefined), or row by row with row n's
// mask taken at rows[n]·C.
void apply(const float* x, float* y, const Tensor& rows, int64_t numel, int64_t C, float p, uint64_t seed,
           uint64_t stream, uint64_t first, bool acc) {
  const auto& k = K();
  if (!rows.defined()) {
    engine::parallel_for(numel, kElemGrain, [&](int64_t i0, int64_t i1) {
      k.dropout(x + i0, y + i0, i1 - i0, p, seed, stream, first + static_cast<uint64_t>(i0), acc);
    });
    return;
  }
  const int32_t* r = rows.i32();
  engine::parallel_for(rows.numel(), std::max<int64_t>(1, kElemGrain / C), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      k.dropout(x + n * C, y + n * C, C, p, seed, stream, first + static_cast<uint64_t>(r[n]) * C, acc);
  });
}

}  // namespace

Tensor dropout(Tape& tape, const Tensor& x, float p, const engine::Rng& rng, const Tensor& rows) {
  DNABERT_PROFILE_SCOPE("dropout.fwd");
  check_f32("dropout", "x", x);
  if (!(p >= 0.0f && p < 1.0f)) fail("dropout", "probability must be in [0, 1), got " + std::to_string(p));
  int64_t C = 1;
  if (rows.defined()) {
    if (rows.dtype() != DType::I32 || rows.rank() != 1 || !rows.is_contiguous() || x.rank() != 2 ||
        x.dim(0) != rows.numel())
      fail("dropout", "rows " + rows.str() + " must be contiguous i32 [N] for x [N, C], got x " + x.shape().str());
    C = x.dim(1);
    const int32_t* r = rows.i32();
    for (int64_t n = 0; n < rows.numel(); ++n)
      if (r[n] < 0) fail("dropout", "row " + std::to_string(n) + " is " + std::to_string(r[n]) + ", below 0");
  }
  if (!tape.training() || p == 0.0f) return x;
  Tensor y = Tensor::empty(x.shape(), &tape.arena());
  const uint64_t seed = rng.seed(), stream = rng.stream(), first = rng.counter();
  apply(x.f32(), y.f32(), rows, x.numel(), C, p, seed, stream, first, false);
  if (tape.needs_grad({&x}))
    tape.record(y, [&tape, x, rows, C, p, seed, stream, first](const Tensor& dy) {
      DNABERT_PROFILE_SCOPE("dropout.bwd");
      if (GradSink dx = tape.grad_sink(x)) apply(dy.f32(), dx.data, rows, dy.numel(), C, p, seed, stream, first, dx.accumulate);
    });
  return y;
}

}  // namespace dnabert::ops
