#include "ops/view.h"

#include "ops/common.h"

namespace dnabert::ops {

Tensor reshape(Tape& tape, const Tensor& x, const Dims& shape) {
  DNABERT_PROFILE_SCOPE("reshape.fwd");
  check_f32("reshape", "x", x);
  Tensor y = x.reshape(shape);
  if (tape.needs_grad({&x}))
    tape.record(y, [&tape, x](const Tensor& dy) {
      DNABERT_PROFILE_SCOPE("reshape.bwd");
      if (GradSink dx = tape.grad_sink(x)) accumulate(dx, dy.f32(), dy.numel());
    });
  return y;
}

Tensor slice(Tape& tape, const Tensor& x, int dim, int64_t start, int64_t end) {
  DNABERT_PROFILE_SCOPE("slice.fwd");
  check_f32("slice", "x", x);
  Tensor view = x.slice(dim, start, end);
  Tensor y = Tensor::empty(view.shape(), &tape.arena());
  y.copy_from(view);
  if (tape.needs_grad({&x}))
    tape.record(y, [&tape, x, dim, start, end](const Tensor& dy) {
      DNABERT_PROFILE_SCOPE("slice.bwd");
      GradSink dx = tape.grad_sink(x);
      if (!dx) return;
      Tensor gx = x.meta()->grad;
      if (!dx.accumulate) gx.fill(0.0f);
      // Outer blocks of the sliced region are contiguous runs of `inner` floats.
      const int d = dim < 0 ? dim + x.rank() : dim;
      int64_t outer = 1, inner = 1;
      for (int i = 0; i < d; ++i) outer *= x.dim(i);
      for (int i = d + 1; i < x.rank(); ++i) inner *= x.dim(i);
      const int64_t run = (end - start) * inner, stride = x.dim(d) * inner;
      const float* g = dy.f32();
      const auto& k = K();
      engine::parallel_for(outer, row_grain(run), [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o) k.scale(g + o * run, 1.0f, dx.data + o * stride + start * inner, run, true);
      });
    });
  return y;
}

}  // namespace dnabert::ops
