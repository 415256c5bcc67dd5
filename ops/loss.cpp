#include "ops/loss.h"

#include "ops/common.h"

namespace dnabert::ops {

namespace {
Tensor scalar(Tape& tape, double v) {
  Tensor t = Tensor::empty(Dims{}, &tape.arena());
  t.f32()[0] = static_cast<float>(v);
  return t;
}
}  // namespace

Tensor cross_entropy(Tape& tape, const Tensor& logits, const Tensor& labels) {
  DNABERT_PROFILE_SCOPE("cross_entropy.fwd");
  constexpr const char* op = "cross_entropy";
  check_f32(op, "logits", logits);
  check_rank_at_least(op, "logits", logits, 1);
  if (!labels.defined() || labels.dtype() != DType::I32 || !labels.is_contiguous())
    fail(op, "labels must be contiguous i32, got " + (labels.defined() ? labels.str() : std::string("undefined")));
  const int64_t C = logits.dim(-1), rows = logits.numel() / (C ? C : 1);
  if (labels.numel() != rows)
    fail(op, "labels " + labels.shape().str() + " do not match logits " + logits.shape().str());
  const int32_t* pl = labels.i32();
  int64_t count = 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (pl[r] == kIgnoreIndex) continue;
    if (pl[r] < 0 || pl[r] >= C)
      fail(op, "label " + std::to_string(pl[r]) + " at row " + std::to_string(r) + " is outside [0, " +
                   std::to_string(C) + ") and is not the ignore index -100");
    ++count;
  }
  Tensor lse = Tensor::empty({rows}, &tape.arena()), row_loss = Tensor::empty({rows}, &tape.arena());
  const auto& k = K();
  const float* px = logits.f32();
  float *plse = lse.f32(), *prow = row_loss.f32();
  engine::parallel_for(rows, row_grain(C), [&](int64_t r0, int64_t r1) {
    k.cross_entropy_fwd(px + r0 * C, pl + r0, r1 - r0, C, plse + r0, prow + r0);
  });
  double total = 0.0;
  for (int64_t r = 0; r < rows; ++r) total += prow[r];
  Tensor loss = scalar(tape, count ? total / static_cast<double>(count) : 0.0);
  if (tape.needs_grad({&logits}))
    tape.record(loss, [&tape, logits, labels, lse, rows, C, count](const Tensor& dloss) {
      DNABERT_PROFILE_SCOPE("cross_entropy.bwd");
      GradSink dx = tape.grad_sink(logits);
      if (!dx) return;
      const float scale = count ? dloss.f32()[0] / static_cast<float>(count) : 0.0f;
      const auto& k = K();
      const float *px = logits.f32(), *plse = lse.f32();
      const int32_t* pl = labels.i32();
      engine::parallel_for(rows, row_grain(C), [&](int64_t r0, int64_t r1) {
        k.cross_entropy_bwd(px + r0 * C, pl + r0, plse + r0, r1 - r0, C, scale, dx.data + r0 * C, dx.accumulate);
      });
    });
  return loss;
}

Tensor mse_loss(Tape& tape, const Tensor& pred, const Tensor& target) {
  DNABERT_PROFILE_SCOPE("mse_loss.fwd");
  check_f32("mse_loss", "pred", pred);
  check_f32("mse_loss", "target", target);
  check_same_shape("mse_loss", "pred", pred, "target", target);
  const int64_t n = pred.numel();
  if (n == 0) fail("mse_loss", "empty input");
  const auto& k = K();
  const float *pp = pred.f32(), *pt = target.f32();
  const double sum = sum_fixed(n, [&](int64_t i0, int64_t i1) { return k.sq_diff_sum(pp + i0, pt + i0, i1 - i0); });
  Tensor loss = scalar(tape, sum / static_cast<double>(n));
  if (tape.needs_grad({&pred}))
    tape.record(loss, [&tape, pred, target, n](const Tensor& dloss) {
      DNABERT_PROFILE_SCOPE("mse_loss.bwd");
      if (GradSink dx = tape.grad_sink(pred)) {
        const float s = 2.0f * dloss.f32()[0] / static_cast<float>(n);
        const auto& k = K();
        const float *pp = pred.f32(), *pt = target.f32();
        engine::parallel_for(n, kElemGrain, [&](int64_t i0, int64_t i1) {
          k.scaled_diff(pp + i0, pt + i0, s, dx.data + i0, i1 - i0, dx.accumulate);
        });
      }
    });
  return loss;
}

Tensor bce_with_logits(Tape& tape, const Tensor& logits, const Tensor& target) {
  DNABERT_PROFILE_SCOPE("bce_with_logits.fwd");
  check_f32("bce_with_logits", "logits", logits);
  check_f32("bce_with_logits", "target", target);
  check_same_shape("bce_with_logits", "logits", logits, "target", target);
  const int64_t n = logits.numel();
  if (n == 0) fail("bce_with_logits", "empty input");
  const auto& k = K();
  const float *px = logits.f32(), *pt = target.f32();
  const double sum = sum_fixed(n, [&](int64_t i0, int64_t i1) { return k.bce_logits_sum(px + i0, pt + i0, i1 - i0); });
  Tensor loss = scalar(tape, sum / static_cast<double>(n));
  if (tape.needs_grad({&logits}))
    tape.record(loss, [&tape, logits, target, n](const Tensor& dloss) {
      DNABERT_PROFILE_SCOPE("bce_with_logits.bwd");
      if (GradSink dx = tape.grad_sink(logits)) {
        const float s = dloss.f32()[0] / static_cast<float>(n);
        const auto& k = K();
        const float *px = logits.f32(), *pt = target.f32();
        engine::parallel_for(n, kElemGrain, [&](int64_t i0, int64_t i1) {
          k.bce_logits_bwd(px + i0, pt + i0, s, dx.data + i0, i1 - i0, dx.accumulate);
        });
      }
    });
  return loss;
}

}  // namespace dnabert::ops
