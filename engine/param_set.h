// ParamSet: every parameter of a model in one flat buffer, and every gradient
// in a second buffer of the same layout (llm.c's design). Each parameter is a
// view into them, so the optimiser is one loop over the flat buffers and a
// gradient allreduce is one call.
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/arena.h"
#include "engine/tensor.h"

namespace dnabert::engine {

class ParamSet {
 public:
  // Declares a parameter; call before finalize(). Returns its index.
  size_t declare(const std::string& name, const Dims& shape);
  // Allocates the flat buffers (values zeroed) and creates the views.
  void finalize();
  bool finalized() const { return values_.defined(); }

  size_t size() const { return entries_.size(); }
  const std::string& name(size_t i) const { return entries_.at(i).name; }
  // The parameter, a leaf that requires a gradient; its gradient is a view into grads().
  const Tensor& operator[](size_t i) const;
  const Tensor& get(const std::string& name) const;
  int64_t index_of(const std::string& name) const;  // -1 if absent

  // Flat 1-D views of all values and all gradients.
  const Tensor& values() const { return values_; }
  const Tensor& grads() const { return grads_; }
  int64_t numel() const { return total_; }
  // Start of parameter i within the flat buffers.
  int64_t offset(size_t i) const { return entries_.at(i).offset; }

  void zero_grad() const;

 private:
  struct Entry {
    std::string name;
    Dims shape;
    int64_t offset = 0;
    Tensor value;
  };
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> index_;  // name -> position in entries_
  int64_t total_ = 0;
  Tensor values_, grads_;
};

}  // namespace dnabert::engine
