#include "ops/elementwise.h"

#include "ops/common.h"

namespace dnabert::ops {

Tensor add(Tape& tape, const Tensor& a, const Tensor& b) {
  DNABERT_PROFILE_SCOPE("add.fwd");
  check_f32("add", "a", a);
  check_f32("add", "b", b);
  check_same_shape("add", "a", a, "b", b);
  Tensor y = Tensor::empty(a.shape(), &tape.arena());
  const float *pa = a.f32(), *pb = b.f32();
  float* py = y.f32();
  const auto& k = K();
  engine::parallel_for(a.numel(), kElemGrain, [&](int64_t i0, int64_t i1) { k.add(pa + i0, pb + i0, py + i0, i1 - i0); });
  if (tape.needs_grad({&a, &b}))
    tape.record(y, [&tape, a, b](const Tensor& dy) {
      DNABERT_PROFILE_SCOPE("add.bwd");
      if (GradSink da = tape.grad_sink(a)) accumulate(da, dy.f32(), dy.numel());
      if (GradSink db = tape.grad_sink(b)) accumulate(db, dy.f32(), dy.numel());
    });
  return y;
}

Tensor mul_scalar(Tape& tape, const Tensor& x, float s) {
  DNABERT_PROFILE_SCOPE("mul_scalar.fwd");
  check_f32("mul_scalar", "x", x);
  Tensor y = Tensor::empty(x.shape(), &tape.arena());
  const float* px = x.f32();
  float* py = y.f32();
  const auto& k = K();
  engine::parallel_for(x.numel(), kElemGrain, [&](int64_t i0, int64_t i1) { k.scale(px + i0, s, py + i0, i1 - i0, false); });
  if (tape.needs_grad({&x}))
    tape.record(y, [&tape, x, s](const Tensor& dy) {
      DNABERT_PROFILE_SCOPE("mul_scalar.bwd");
      if (GradSink dx = tape.grad_sink(x)) {
        const auto& k = K();
        const float* g = dy.f32();
        engine::parallel_for(dy.numel(), kElemGrain,
                             [&](int64_t i0, int64_t i1) { k.scale(g + i0, s, dx.data + i0, i1 - i0, dx.accumulate); });
      }
    });
  return y;
}

Tensor gelu(Tape& tape, const Tensor& x) {
  DNABERT_PROFILE_SCOPE("gelu.fwd");
  check_f32("gelu", "x", x);
  Tensor y = Tensor::empty(x.shape(), &tape.arena());
  const float* px = x.f32();
  float* py = y.f32();
  const auto& k = K();
  engine::parallel_for(x.numel(), kElemGrain, [&](int64_t i0, int64_t i1) { k.gelu_fwd(px + i0, py + i0, i1 - i0); });
  if (tape.needs_grad({&x}))
    tape.record(y, [&tape, x](const Tensor& dy) {
      DNABERT_PROFILE_SCOPE("gelu.bwd");
      if (GradSink dx = tape.grad_sink(x)) {
        const auto& k = K();
        const float *px = x.f32(), *g = dy.f32();
        engine::parallel_for(x.numel(), kElemGrain, [&](int64_t i0, int64_t i1) {
          k.gelu_bwd(px + i0, g + i0, dx.data + i0, i1 - i0, dx.accumulate);
        });
      }
    });
  return y;
}

Tensor tanh(Tape& tape, const Tensor& x) {
  DNABERT_PROFILE_SCOPE("tanh.fwd");
  check_f32("tanh", "x", x);
  Tensor y = Tensor::empty(x.shape(), &tape.arena());
  const float* px = x.f32();
  float* py = y.f32();
  const auto& k = K();
  engine::parallel_for(x.numel(), kElemGrain, [&](int64_t i0, int64_t i1) { k.tanh_fwd(px + i0, py + i0, i1 - i0); });
  if (tape.needs_grad({&x}))
    // The closure keeps y's data (not its autograd handle) for 1 - y².
    tape.record(y, [&tape, x, out = y.detach()](const Tensor& dy) {
      DNABERT_PROFILE_SCOPE("tanh.bwd");
      if (GradSink dx = tape.grad_sink(x)) {
        const auto& k = K();
        const float *py = out.f32(), *g = dy.f32();
        engine::parallel_for(out.numel(), kElemGrain, [&](int64_t i0, int64_t i1) {
          k.tanh_bwd(py + i0, g + i0, dx.data + i0, i1 - i0, dx.accumulate);
        });
      }
    });
  return y;
}

}  // namespace dnabert::ops
