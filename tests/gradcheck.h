// Finite-difference gradient checks for ops.
//
// For an op y = f(x1, x2, ...) we take L = Σ w ⊙ y with fixed random weights
// w, get ∂L/∂x from the tape (seeding ∂L/∂y = w), and compare every element
// with the central difference (L(x + h) - L(x - h)) / 2h, L summed in double.
//
// Tolerance: the forward pass runs in f32, so each evaluation of L carries a
// rounding error of about ε·S (ε = 6e-8, S = Σ|w ⊙ y| ≲ 1e2 here), which the
// difference quotient amplifies to ε·S/h ≈ 6e-4 for h = 1e-2; the truncation
// error is O(h²) ≈ 1e-4 for these smooth functions with O(1) inputs. So we
// allow |analytic - numeric| ≤ atol + rtol·|numeric| with atol = 2e-3·max(1,
// max|numeric|) and rtol = 1e-2: two orders of magnitude below the size of a
// wrong gradient (a missing factor or term changes it by O(1)).
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "engine/tape.h"

namespace dnabert::testing {

using engine::Arena;
using engine::Dims;
using engine::Tape;
using engine::Tensor;

inline Tensor random_tensor(const Dims& shape, uint64_t seed, float scale = 1.0f, bool requires_grad = true) {
  engine::Rng rng(seed, 7);
  std::vector<float> v(static_cast<size_t>(shape.numel()));
  for (auto& x : v) x = static_cast<float>(rng.normal()) * scale;
  Tensor t = Tensor::from_vector(shape, v);
  if (requires_grad) t.set_requires_grad(true);
  return t;
}

using OpFn = std::function<Tensor(Tape&, const std::vector<Tensor>&)>;

struct GradCheckResult {
  double max_abs_error = 0.0;
  double max_numeric = 0.0;
  int64_t checked = 0;
  int64_t failures = 0;
  std::string first_failure;
};

inline double weighted_sum(const Tensor& y, const std::vector<float>& w) {
  std::vector<float> v = y.to_vector();
  double s = 0.0;
  for (size_t i = 0; i < v.size(); ++i) s += static_cast<double>(v[i]) * w[i];
  return s;
}

// Checks ∂L/∂x for every input that requires a gradient.
inline GradCheckResult gradcheck(const OpFn& f, const std::vector<Tensor>& given, double h = 1e-2,
                                 double rtol = 1e-2, double atol_rel = 2e-3) {
  // Fresh copies: gradients must not accumulate across checks of the same tensors.
  std::vector<Tensor> inputs;
  for (const Tensor& t : given) {
    Tensor c = t.clone();
    if (t.requires_grad()) c.set_requires_grad(true);
    inputs.push_back(c);
  }
  Arena arena;
  std::vector<float> w;
  {
    Tape tape(arena);
    Tensor y = f(tape, inputs);
    REQUIRE(y.requires_grad());
    engine::Rng rng(1234, 99);
    w.resize(static_cast<size_t>(y.numel()));
    for (auto& x : w) x = static_cast<float>(rng.normal());
    tape.backward(y, Tensor::from_vector(y.shape(), w));
  }
  GradCheckResult r;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor& x = inputs[i];
    if (!x.requires_grad()) continue;
    Tensor g = x.grad();
    REQUIRE_MESSAGE(g.defined(), "input " << i << " received no gradient");
    std::vector<float> analytic = g.to_vector();
    float* px = x.f32();
    std::vector<double> numeric(analytic.size());
    for (int64_t j = 0; j < x.numel(); ++j) {
      const float saved = px[j];
      Tape tape(arena, Tape::Mode::Train);  // train mode so dropout is active, as in the analytic pass
      px[j] = saved + static_cast<float>(h);
      const double lp = weighted_sum(f(tape, inputs), w);
      px[j] = saved - static_cast<float>(h);
      const double lm = weighted_sum(f(tape, inputs), w);
      px[j] = saved;
      tape.clear();
      // The actual step, since saved ± h is rounded to f32.
      numeric[static_cast<size_t>(j)] = (lp - lm) / (static_cast<double>(saved + static_cast<float>(h)) -
                                                     static_cast<double>(saved - static_cast<float>(h)));
      r.max_numeric = std::max(r.max_numeric, std::fabs(numeric[static_cast<size_t>(j)]));
    }
    const double atol = atol_rel * std::max(1.0, r.max_numeric);
    for (size_t j = 0; j < analytic.size(); ++j) {
      const double err = std::fabs(analytic[j] - numeric[j]);
      r.max_abs_error = std::max(r.max_abs_error, err);
      ++r.checked;
      if (err > atol + rtol * std::fabs(numeric[j])) {
        if (r.failures++ == 0)
          r.first_failure = "input " + std::to_string(i) + " element " + std::to_string(j) + ": analytic " +
                            std::to_string(analytic[j]) + " numeric " + std::to_string(numeric[j]);
      }
    }
  }
  return r;
}

#define CHECK_GRADCHECK(result)                                                                       \
  do {                                                                                                \
    const auto& r_ = (result);                                                                        \
    INFO("checked " << r_.checked << " elements, max |error| " << r_.max_abs_error << ", max |numeric| " \
                    << r_.max_numeric << "; " << r_.first_failure);                                  \
    CHECK(r_.checked > 0);                                                                            \
    CHECK(r_.failures == 0);                                                                          \
  } while (0)

}  // namespace dnabert::testing
