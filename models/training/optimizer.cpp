#include "models/training/optimizer.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "base/error.h"
#include "engine/threads.h"
#include "ops/kernels/kernels.h"

namespace dnabert::models {

namespace {

// Elements per partial sum of the gradient norm. Fixed, so the partials, and
// their in-order total, do not depend on the thread count.
constexpr int64_t kNormChunk = 8192;
// Elements per parallel chunk of the (elementwise, order-free) update.
constexpr int64_t kUpdateGrain = 16384;

std::string num(double x) {
  std::ostringstream s;
  s << x;
  return s.str();
}

void check_finalized(const char* what, const engine::ParamSet& params) {
  if (!params.finalized()) throw Error(std::string(what) + ": the ParamSet must be finalized first");
}

}  // namespace

double linear_schedule(int64_t step, int64_t warmup_steps, int64_t total_steps) {
  if (step < warmup_steps) return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup_steps));
  return std::max(0.0, static_cast<double>(total_steps - step) /
                           static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps)));
}

bool uses_weight_decay(const std::string& name) {
  return name.find("bias") == std::string::npos && name.find("LayerNorm.weight") == std::string::npos;
}

double grad_norm(const engine::ParamSet& params, double grad_scale) {
  check_finalized("grad_norm", params);
  const int64_t n = params.numel();
  const float* g = params.grads().f32();
  const int64_t chunks = (n + kNormChunk - 1) / kNormChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  const auto& kernels = ops::kernels::active();
  engine::parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t i0 = c * kNormChunk, i1 = std::min(n, (c + 1) * kNormChunk);
      // Eight running sums in a fixed order (kernels.h): independent chains
      // that vectorise (one chain was bound by the add latency).
      partial[static_cast<size_t>(c)] = kernels.sumsq8(g + i0, i1 - i0);
    }
  });
  double total = 0.0;
  for (double s : partial) total += s;
  return std::abs(grad_scale) * std::sqrt(total);
}

double clip_grad_norm(const engine::ParamSet& params, double max_norm) {
  const double norm = grad_norm(params);
  // torch 1.13: clip_coef = max_norm / (norm + 1e-6), clamped to at most 1.
  const float coef = static_cast<float>(std::min(1.0, max_norm / (norm + 1e-6)));
  if (coef != 1.0f) {
    float* g = params.grads().f32();
    engine::parallel_for(params.numel(), kUpdateGrain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) g[i] *= coef;
    });
  }
  return norm;
}

AdamW::AdamW(const engine::ParamSet& params, AdamWOptions options) : params_(params), options_(options) {
  check_finalized("AdamW", params);
  const AdamWOptions& o = options_;
  if (!(o.lr >= 0)) throw Error("AdamW: lr must be >= 0, got " + num(o.lr));
  if (!(o.beta1 >= 0 && o.beta1 < 1)) throw Error("AdamW: beta1 must be in [0, 1), got " + num(o.beta1));
  if (!(o.beta2 >= 0 && o.beta2 < 1)) throw Error("AdamW: beta2 must be in [0, 1), got " + num(o.beta2));
  if (!(o.eps > 0)) throw Error("AdamW: eps must be > 0, got " + num(o.eps));
  if (!(o.weight_decay >= 0)) throw Error("AdamW: weight_decay must be >= 0, got " + num(o.weight_decay));
  if (o.total_steps < 1 || o.warmup_steps < 0 || o.warmup_steps > o.total_steps)
    throw Error("AdamW: need 0 <= warmup_steps <= total_steps and total_steps >= 1, got warmup_steps " +
                std::to_string(o.warmup_steps) + ", total_steps " + std::to_string(o.total_steps));
  for (size_t i = 0; i < params.size(); ++i) {
    const int64_t begin = params.offset(i);
    segments_.push_back({begin, begin + params[i].numel(), uses_weight_decay(params.name(i))});
  }
  std::sort(segments_.begin(), segments_.end(), [](const Segment& a, const Segment& b) { return a.begin < b.begin; });
  exp_avg_ = engine::Tensor::zeros({params.numel()});
  exp_avg_sq_ = engine::Tensor::zeros({params.numel()});
}

double AdamW::next_lr() const {
  return options_.lr * linear_schedule(step_, options_.warmup_steps, options_.total_steps);
}

StepStats AdamW::step(double grad_scale) {
  const AdamWOptions& o = options_;
  StepStats stats;
  stats.grad_norm = grad_norm(params_, grad_scale);
  if (!std::isfinite(stats.grad_norm))
    throw Error("AdamW: gradient norm is " + num(stats.grad_norm) + " at update " + std::to_string(step_ + 1) +
                "; parameters left unchanged");
  if (o.max_grad_norm > 0) stats.clip_coef = std::min(1.0, o.max_grad_norm / (stats.grad_norm + 1e-6));
  stats.lr = next_lr();
  stats.step = ++step_;

  // Scalars in double, cast once; the per-element arithmetic is f32 like
  // torch's, in the kernel table's adamw (vectorised per ISA).
  const double t = static_cast<double>(step_);
  const double bc1 = 1.0 - std::pow(o.beta1, t), bc2 = 1.0 - std::pow(o.beta2, t);
  const bool hf = o.variant == AdamWVariant::kHuggingFace;
  const ops::kernels::AdamWScalars scalars{
      .g_scale = static_cast<float>(static_cast<float>(grad_scale) * static_cast<float>(stats.clip_coef)),
      .b1 = static_cast<float>(o.beta1),
      .b2 = static_cast<float>(o.beta2),
      .one_minus_b1 = static_cast<float>(1.0 - o.beta1),
      .one_minus_b2 = static_cast<float>(1.0 - o.beta2),
      .eps = static_cast<float>(o.eps),
      .step_size = static_cast<float>(hf ? stats.lr * std::sqrt(bc2) / bc1 : stats.lr / bc1),
      .sqrt_bc2 = static_cast<float>(std::sqrt(bc2)),
      .decay = static_cast<float>(stats.lr * o.weight_decay),       // HF: p -= (lr·wd)·p
      .keep = static_cast<float>(1.0 - stats.lr * o.weight_decay),  // torch: p *= 1 - lr·wd
      .hf = hf};

  float* p = params_.values().f32();
  const float* grad = params_.grads().f32();
  float* m = exp_avg_.f32();
  float* v = exp_avg_sq_.f32();
  const auto& kernels = ops::kernels::active();
  // Each chunk of the flat buffer visits the parameter segments it overlaps.
  engine::parallel_for(params_.numel(), kUpdateGrain, [&](int64_t c0, int64_t c1) {
    auto seg = std::upper_bound(segments_.begin(), segments_.end(), c0,
                                [](int64_t x, const Segment& s) { return x < s.end; });
    for (; seg != segments_.end() && seg->begin < c1; ++seg) {
      const int64_t i0 = std::max(c0, seg->begin), i1 = std::min(c1, seg->end);
      kernels.adamw(p + i0, grad + i0, m + i0, v + i0, i1 - i0, scalars, seg->decay && o.weight_decay > 0);
    }
  });
  return stats;
}

void AdamW::load_state(const engine::Tensor& exp_avg, const engine::Tensor& exp_avg_sq, int64_t step) {
  for (const engine::Tensor* t : {&exp_avg, &exp_avg_sq})
    if (!t->defined() || t->dtype() != engine::DType::F32 || t->numel() != params_.numel())
      throw Error("AdamW::load_state: moments must be f32 with " + std::to_string(params_.numel()) +
                  " elements, got " + (t->defined() ? t->str() : std::string("an undefined tensor")));
  if (step < 0) throw Error("AdamW::load_state: step must be >= 0, got " + std::to_string(step));
  exp_avg_.copy_from(exp_avg.reshape({params_.numel()}));
  exp_avg_sq_.copy_from(exp_avg_sq.reshape({params_.numel()}));
  step_ = step;
}

}  // namespace dnabert::models
