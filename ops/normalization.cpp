#include "ops/normalization.h"

#include <algorithm>

#include "ops/common.h"

namespace dnabert::ops {

namespace {

// Rows of the normalised dimension H, after checking gamma, beta and eps.
int64_t check_layer_norm(const char* op, const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  check_f32(op, "x", x);
  check_f32(op, "gamma", gamma);
  check_f32(op, "beta", beta);
  check_rank_at_least(op, "x", x, 1);
  const int64_t H = x.dim(-1);
  if (gamma.rank() != 1 || gamma.dim(0) != H || beta.shape() != gamma.shape())
    fail(op, "gamma " + gamma.shape().str() + " and beta " + beta.shape().str() + " must be [" + std::to_string(H) +
                 "] for x " + x.shape().str());
  if (!(eps > 0.0f)) fail(op, "eps must be positive, got " + std::to_string(eps));
  return x.numel() / (H ? H : 1);
}

// dgamma (+)= Σ_r dy x̂ and dbeta (+)= Σ_r dy, from one fixed-order pass.
void layer_norm_param_grads(Tape& tape, const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                            const Tensor& rstd, const Tensor& dy, int64_t rows, int64_t H) {
  GradSink dgamma = tape.grad_sink(gamma), dbeta = tape.grad_sink(beta);
  if (!dgamma && !dbeta) return;
  const auto& k = K();
  const float *px = x.f32(), *g = dy.f32(), *pm = mean.f32(), *pr = rstd.f32();
  // Both parameter gradients come from one pass: partial rows are [dgamma | dbeta].
  Tensor both = Tensor::zeros({2 * H}, &tape.arena());
  float* pb = both.f32();
  reduce_rows_fixed(tape, rows, 2 * H, pb, [&](int64_t r0, int64_t r1, float* part) {
    k.layernorm_param_grads(px + r0 * H, pm + r0, pr + r0, g + r0 * H, r1 - r0, H, part, part + H);
  });
  if (dgamma) k.scale(pb, 1.0f, dgamma.data, H, dgamma.accumulate);
  if (dbeta) k.scale(pb + H, 1.0f, dbeta.data, H, dbeta.accumulate);
}

}  // namespace

Tensor layer_norm(Tape& tape, const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  DNABERT_PROFILE_SCOPE("layer_norm.fwd");
  const int64_t rows = check_layer_norm("layer_norm", x, gamma, beta, eps), H = x.dim(-1);
  Tensor y = Tensor::empty(x.shape(), &tape.arena());
  Tensor mean = Tensor::empty({rows}, &tape.arena()), rstd = Tensor::empty({rows}, &tape.arena());
  const auto& k = K();
  {
    const float *px = x.f32(), *pg = gamma.f32(), *pb = beta.f32();
    float *py = y.f32(), *pm = mean.f32(), *pr = rstd.f32();
    engine::parallel_for(rows, row_grain(H), [&](int64_t r0, int64_t r1) {
      k.layernorm_fwd(px + r0 * H, pg, pb, py + r0 * H, pm + r0, pr + r0, r1 - r0, H, eps);
    });
  }
  if (tape.needs_grad({&x, &gamma, &beta}))
    tape.record(y, [&tape, x, gamma, beta, mean, rstd, rows, H](const Tensor& dy) {
      DNABERT_PROFILE_SCOPE("layer_norm.bwd");
      if (GradSink dx = tape.grad_sink(x)) {
        const auto& k = K();
        const float *px = x.f32(), *g = dy.f32(), *pm = mean.f32(), *pr = rstd.f32(), *pg = gamma.f32();
        engine::parallel_for(rows, row_grain(H), [&](int64_t r0, int64_t r1) {
          k.layernorm_bwd(px + r0 * H, pg, pm + r0, pr + r0, g + r0 * H, dx.data + r0 * H, r1 - r0, H, dx.accumulate);
        });
      }
      layer_norm_param_grads(tape, x, gamma, beta, mean, rstd, dy, rows, H);
    });
  return y;
}

Tensor add_layer_norm(Tape& tape, const Tensor& a, const Tensor& b, const Tensor& gamma, const Tensor& beta,
                      float eps) {
  DNABERT_PROFILE_SCOPE("add_layer_norm.fwd");
  constexpr const char* op = "add_layer_norm";
  const int64_t rows = check_layer_norm(op, a, gamma, beta, eps), H = a.dim(-1);
  check_f32(op, "b", b);
  check_same_shape(op, "a", a, "b", b);
  Tensor sum = Tensor::empty(a.shape(), &tape.arena()), y = Tensor::empty(a.shape(), &tape.arena());
  Tensor mean = Tensor::empty({rows}, &tape.arena()), rstd = Tensor::empty({rows}, &tape.arena());
  const auto& k = K();
  {
    const float *pa = a.f32(), *pbb = b.f32(), *pg = gamma.f32(), *pb = beta.f32();
    float *ps = sum.f32(), *py = y.f32(), *pm = mean.f32(), *pr = rstd.f32();
    engine::parallel_for(rows, row_grain(H), [&](int64_t r0, int64_t r1) {
      k.add_layernorm_fwd(pa + r0 * H, pbb + r0 * H, pg, pb, ps + r0 * H, py + r0 * H, pm + r0, pr + r0, r1 - r0, H,
                          eps);
    });
  }
  if (tape.needs_grad({&a, &b, &gamma, &beta}))
    tape.record(y, [&tape, a, b, sum, gamma, beta, mean, rstd, rows, H](const Tensor& dy) {
      DNABERT_PROFILE_SCOPE("add_layer_norm.bwd");
      GradSink da = tape.grad_sink(a), db = tape.grad_sink(b);
      if (!da) std::swap(da, db);  // the residual sum sends the same gradient to both inputs
      if (da) {
        const auto& k = K();
        const float *ps = sum.f32(), *g = dy.f32(), *pm = mean.f32(), *pr = rstd.f32(), *pg = gamma.f32();
        engine::parallel_for(rows, row_grain(H), [&](int64_t r0, int64_t r1) {
          k.layernorm_bwd2(ps + r0 * H, pg, pm + r0, pr + r0, g + r0 * H, da.data + r0 * H, da.accumulate,
                           db ? db.data + r0 * H : nullptr, db.accumulate, r1 - r0, H);
        });
      }
      layer_norm_param_grads(tape, sum, gamma, beta, mean, rstd, dy, rows, H);
    });
  return y;
}

Tensor softmax(Tape& tape, const Tensor& x) {
  DNABERT_PROFILE_SCOPE("softmax.fwd");
  check_f32("softmax", "x", x);
  check_rank_at_least("softmax", "x", x, 1);
  const int64_t C = x.dim(-1), rows = x.numel() / (C ? C : 1);
  Tensor y = Tensor::empty(x.shape(), &tape.arena());
  const auto& k = K();
  const float* px = x.f32();
  float* py = y.f32();
  engine::parallel_for(rows, row_grain(C), [&](int64_t r0, int64_t r1) {
    k.softmax_fwd(px + r0 * C, py + r0 * C, r1 - r0, C, 1.0f, nullptr);
  });
  if (tape.needs_grad({&x}))
    tape.record(y, [&tape, x, out = y.detach(), rows, C](const Tensor& dy) {
      DNABERT_PROFILE_SCOPE("softmax.bwd");
      if (GradSink dx = tape.grad_sink(x)) {
        const auto& k = K();
        const float *py = out.f32(), *g = dy.f32();
        engine::parallel_for(rows, row_grain(C), [&](int64_t r0, int64_t r1) {
          k.softmax_bwd(py + r0 * C, g + r0 * C, dx.data + r0 * C, r1 - r0, C, 1.0f, dx.accumulate);
        });
      }
    });
  return y;
}

}  // namespace dnabert::ops
