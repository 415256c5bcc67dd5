#include "engine/param_set.h"

#include <cstring>

#include "base/error.h"

namespace dnabert::engine {

size_t ParamSet::declare(const std::string& name, const Dims& shape) {
  if (finalized()) throw Error("ParamSet: cannot declare '" + name + "' after finalize()");
  if (!index_.emplace(name, entries_.size()).second) throw Error("ParamSet: parameter '" + name + "' declared twice");
  Entry e{name, shape, total_, Tensor()};
  // Each parameter starts on a 64-byte boundary for aligned vector loads.
  total_ += (shape.numel() + 15) / 16 * 16;
  entries_.push_back(std::move(e));
  return entries_.size() - 1;
}

void ParamSet::finalize() {
  if (finalized()) return;
  values_ = Tensor::zeros({total_});
  grads_ = Tensor::zeros({total_});
  for (auto& e : entries_) {
    Tensor v = values_.slice(0, e.offset, e.offset + e.shape.numel()).reshape(e.shape);
    Tensor g = grads_.slice(0, e.offset, e.offset + e.shape.numel()).reshape(e.shape);
    v.set_requires_grad(true);
    v.meta()->grad = g;
    e.value = v;
  }
}

const Tensor& ParamSet::operator[](size_t i) const {
  if (!finalized()) throw Error("ParamSet: finalize() before using parameters");
  return entries_.at(i).value;
}

int64_t ParamSet::index_of(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? -1 : static_cast<int64_t>(it->second);
}

const Tensor& ParamSet::get(const std::string& name) const {
  int64_t i = index_of(name);
  if (i < 0) throw Error("ParamSet: no parameter named '" + name + "'");
  return (*this)[static_cast<size_t>(i)];
}

void ParamSet::zero_grad() const {
  if (finalized()) grads_.fill(0.0f);
}

}  // namespace dnabert::engine
