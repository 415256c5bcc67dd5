#include "ops/dropout.h"

#include "ops/common.h"

namespace dnabert::ops {

Tensor dropout(Tape& tape, const Tensor& x, float p, const engine::Rng& rng) {
  DNABERT_PROFILE_SCOPE("dropout.fwd");
  check_f32("dropout", "x", x);
  if (!(p >= 0.0f && p < 1.0f)) fail("dropout", "probability must be in [0, 1), got " + std::to_string(p));
  if (!tape.training() || p == 0.0f) return x;
  Tensor y = Tensor::empty(x.shape(), &tape.arena());
  const uint64_t seed = rng.seed(), stream = rng.stream(), first = rng.counter();
  const auto& k = K();
  const float* px = x.f32();
  float* py = y.f32();
  engine::parallel_for(x.numel(), kElemGrain, [&](int64_t i0, int64_t i1) {
    k.dropout(px + i0, py + i0, i1 - i0, p, seed, stream, first + static_cast<uint64_t>(i0), false);
  });
  if (tape.needs_grad({&x}))
    tape.record(y, [&tape, x, p, seed, stream, first](const Tensor& dy) {
      DNABERT_PROFILE_SCOPE("dropout.bwd");
      if (GradSink dx = tape.grad_sink(x)) {
        const auto& k = K();
        const float* g = dy.f32();
        engine::parallel_for(dy.numel(), kElemGrain, [&](int64_t i0, int64_t i1) {
          k.dropout(g + i0, dx.data + i0, i1 - i0, p, seed, stream, first + static_cast<uint64_t>(i0), dx.accumulate);
        });
      }
    });
  return y;
}

}  // namespace dnabert::ops
