#include "models/training/divergence.h"

#include <cmath>
#include <cstdio>

#include "base/error.h"

namespace dnabert::models {

namespace {
std::string num(double v) {
  char s[32];
  std::snprintf(s, sizeof s, "%.4g", v);
  return s;
}
}  // namespace

DivergenceGuard::DivergenceGuard(std::string command, std::function<std::string()> advice)
    : command_(std::move(command)), advice_(std::move(advice)) {}

void DivergenceGuard::check(int64_t step, double loss) {
  const std::string at = command_ + ": training diverged at step " + std::to_string(step) + ": ";
  if (!std::isfinite(loss)) throw Error(at + "the loss is " + num(loss) + "; " + advice_());
  if (!have_first_) {
    first_ = loss;
    have_first_ = true;
  }
  recent_.push_back(loss);
  recent_sum_ += loss;
  if (static_cast<int>(recent_.size()) > kWindow) {
    recent_sum_ -= recent_.front();
    recent_.pop_front();
  }
  if (static_cast<int>(recent_.size()) < kWindow) return;
  const double now = recent_sum_ / kWindow;
  if (now > kFactor * first_ + 1)
    throw Error(at + "the loss averaged " + num(now) + " over the last " + std::to_string(kWindow) +
                " steps, against " + num(first_) + " at the first; " + advice_());
}

}  // namespace dnabert::models
