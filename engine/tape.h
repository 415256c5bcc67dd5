// Tape: reverse-mode autograd as a list of closures (micrograd's design).
//
// Each op computes its output, then (when recording and any input needs a
// gradient) records a closure that reads the output's gradient and adds into
// its inputs' gradients. Recording happens in execution order, so replaying
// the list backwards is a valid topological order: no graph sort is needed.
//
// Inference mode records nothing, so intermediates die as soon as the caller
// drops them and their blocks go straight back to the arena.
#pragma once
#include <functional>
#include <vector>

#include "engine/arena.h"
#include "engine/tensor.h"

namespace dnabert::engine {

// Where a backward kernel writes a gradient: `accumulate` is false when the
// gradient buffer is fresh (the kernel overwrites it) and true when it already
// holds a partial sum (the kernel adds to it).
struct GradSink {
  float* data = nullptr;
  bool accumulate = false;
  explicit operator bool() const { return data != nullptr; }
};

class Tape {
 public:
  enum class Mode { Train, Inference };

  explicit Tape(Arena& arena, Mode mode = Mode::Train) : arena_(&arena), mode_(mode) {}
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  Arena& arena() const { return *arena_; }
  bool recording() const { return mode_ == Mode::Train; }
  bool training() const { return mode_ == Mode::Train; }
  size_t size() const { return nodes_.size(); }

  // True when `inputs` has a tensor that needs a gradient and the tape records.
  bool needs_grad(std::initializer_list<const Tensor*> inputs) const;

  // Marks `out` as produced by a recorded op and records `backward`, which
  // runs once during backward(), with d(loss)/d(out), if `out` received one.
  using BackwardFn = std::function<void(const Tensor& grad_out)>;
  void record(Tensor& out, BackwardFn backward);

  // Seeds d(loss)/d(loss) = 1 and replays the tape in reverse. Leaves keep
  // their gradients; intermediate gradients and saved tensors are freed as
  // soon as they have been used. The tape is empty afterwards.
  void backward(const Tensor& loss);
  // The same, seeding d(·)/d(output) = grad_output (a tensor of output's shape),
  // i.e. the gradient of Σ grad_output ⊙ output.
  void backward(const Tensor& output, const Tensor& grad_output);

  // Gradient-ready marks, for overlapping work with the backward pass (the
  // gradient exchange across MPI ranks): a model calls
  // mark_grads_ready_from(offset) in its forward pass just before the first op
  // that reads the parameters stored from `offset` on in its flat gradient
  // buffer, when no op recorded after the mark reads a parameter stored below
  // `offset` except ones recorded before the mark too. When the backward pass
  // reaches the mark, every op recorded after it has run, so the gradients from
  // `offset` on are final, and the hook set by set_grads_ready_hook (if any)
  // is called with `offset`. Marks cost nothing without a hook.
  using GradsReadyFn = std::function<void(int64_t offset)>;
  void set_grads_ready_hook(GradsReadyFn hook) { grads_ready_ = std::move(hook); }
  void mark_grads_ready_from(int64_t offset);

  // Drops every recorded closure (and the activations they hold).
  void clear() { nodes_.clear(); }

  // The gradient buffer of `t`, created on first use. Used by backward closures.
  GradSink grad_sink(const Tensor& t);

 private:
  struct Node {
    std::shared_ptr<AutogradMeta> out;  // null for a gradient-ready mark
    BackwardFn backward;
    int64_t ready_offset = -1;  // a mark's offset
  };
  Arena* arena_;
  Mode mode_;
  std::vector<Node> nodes_;
  GradsReadyFn grads_ready_;
};

}  // namespace dnabert::engine
