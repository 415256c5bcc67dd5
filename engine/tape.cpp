#include "engine/tape.h"

#include "base/error.h"

namespace dnabert::engine {

bool Tape::needs_grad(std::initializer_list<const Tensor*> inputs) const {
  if (!recording()) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

void Tape::record(Tensor& out, BackwardFn backward) {
  auto meta = std::make_shared<AutogradMeta>();
  meta->requires_grad = true;
  meta->is_leaf = false;
  out.set_meta(meta);
  nodes_.push_back(Node{std::move(meta), std::move(backward)});
}

void Tape::mark_grads_ready_from(int64_t offset) {
  if (recording()) nodes_.push_back(Node{nullptr, nullptr, offset});
}

GradSink Tape::grad_sink(const Tensor& t) {
  const auto& meta = t.meta();
  if (!meta || !meta->requires_grad) return {};
  if (meta->grad.defined()) return {meta->grad.f32(), true};
  meta->grad = Tensor::empty(t.shape(), arena_);
  return {meta->grad.f32(), false};
}

void Tape::backward(const Tensor& loss) {
  if (!loss.defined() || loss.numel() != 1)
    throw ShapeError("backward: loss must hold one element, got " + (loss.defined() ? loss.str() : "undefined"));
  if (!loss.requires_grad()) throw ShapeError("backward: loss does not depend on anything that requires a gradient");
  backward(loss, Tensor::full(loss.shape(), 1.0f, arena_));
}

void Tape::backward(const Tensor& output, const Tensor& grad_output) {
  if (!output.requires_grad()) throw ShapeError("backward: output does not depend on anything that requires a gradient");
  if (grad_output.shape() != output.shape())
    throw ShapeError("backward: gradient " + grad_output.str() + " does not match output " + output.str());
  GradSink seed = grad_sink(output);
  const float* g = grad_output.contiguous().f32();
  for (int64_t i = 0; i < output.numel(); ++i) seed.data[i] = seed.accumulate ? seed.data[i] + g[i] : g[i];
  for (size_t i = nodes_.size(); i-- > 0;) {
    Node& node = nodes_[i];
    if (!node.out) {  // a gradient-ready mark
      if (grads_ready_) grads_ready_(node.ready_offset);
      continue;
    }
    if (node.out->grad.defined()) node.backward(node.out->grad);
    // Free what this node held: its saved inputs and its output's gradient.
    node.backward = nullptr;
    node.out->grad = Tensor();
    node.out.reset();
  }
  nodes_.clear();
}

}  // namespace dnabert::engine
