// Stops a training run whose loss has left the rails, before the step that
// would apply it: a loss that is NaN or infinite, or a mean over the last
// kWindow steps above kFactor × (the first step's loss) + 1. The first step's
// loss is the model's before any update, the scale a sane run stays below
// (ln V for a masked LM, ln C for C classes); a mean over the first steps
// would already hold the blow-up of a too-high learning rate. A run that
// diverges must not end in a saved model and exit status 0.
//
// Every rank calls check() with the same (all-reduced) loss, so every rank
// stops at the same step.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <string>

namespace dnabert::models {

class DivergenceGuard {
 public:
  static constexpr int kWindow = 10;
  static constexpr double kFactor = 10;

  // `command` prefixes the message; `advice()` ends it (what to change, what
  // is kept), asked for only when the run has diverged.
  DivergenceGuard(std::string command, std::function<std::string()> advice);
  // `step` is the 1-based number of the update about to be applied.
  // Throws dnabert::Error naming the step, the loss and the advice.
  void check(int64_t step, double loss);

 private:
  std::string command_;
  std::function<std::string()> advice_;
  double first_ = 0;
  bool have_first_ = false;
  std::deque<double> recent_;
  double recent_sum_ = 0;
};

}  // namespace dnabert::models
