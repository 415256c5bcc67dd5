// Tensor: a typed, strided view of a Storage block.
//
// Views (reshape, transpose, slice) share storage and copy nothing when the
// layout allows. A tensor that takes part in autograd carries an AutogradMeta
// shared by all handles to it; see engine/tape.h.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/arena.h"
#include "engine/dims.h"
#include "engine/dtype.h"

namespace dnabert::engine {

struct AutogradMeta;

class Tensor {
 public:
  Tensor() = default;

  static Tensor empty(const Dims& shape, Arena* arena = nullptr, DType dtype = DType::F32);
  static Tensor zeros(const Dims& shape, Arena* arena = nullptr, DType dtype = DType::F32);
  static Tensor full(const Dims& shape, float value, Arena* arena = nullptr);
  // A contiguous f32 tensor holding `values` (for tests and small constants).
  static Tensor from_vector(const Dims& shape, const std::vector<float>& values, Arena* arena = nullptr);
  static Tensor from_ints(const Dims& shape, const std::vector<int32_t>& values, Arena* arena = nullptr);

  bool defined() const { return storage_ != nullptr; }
  const Dims& shape() const { return shape_; }
  const Dims& strides() const { return strides_; }
  int rank() const { return shape_.size(); }
  int64_t dim(int i) const { return shape_.at(i); }
  int64_t numel() const { return shape_.numel(); }
  DType dtype() const { return dtype_; }
  int64_t offset() const { return offset_; }
  bool is_contiguous() const;
  Arena* arena() const { return storage_ ? storage_arena_ : nullptr; }
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  // Typed element pointers; they check the dtype.
  float* f32() const;
  int32_t* i32() const;
  uint16_t* bf16() const;  // raw bf16 bits
  void* raw() const;

  // ---- views (no autograd; ops/view.h has the differentiable ones) ----
  // A view when contiguous, a copy otherwise. One extent may be -1.
  Tensor reshape(const Dims& shape) const;
  Tensor transpose(int a, int b) const;
  // Elements [start, end) of dimension `dim`.
  Tensor slice(int dim, int64_t start, int64_t end) const;
  // This tensor if contiguous, else a contiguous copy.
  Tensor contiguous() const;
  Tensor clone() const;
  // Same data, no autograd history.
  Tensor detach() const;

  void fill(float value) const;
  // Copies `src` (same shape, any strides) into this tensor.
  void copy_from(const Tensor& src) const;
  std::vector<float> to_vector() const;
  // "f32 [2, 3]"
  std::string str() const;

  // ---- autograd ----
  bool requires_grad() const;
  // Marks a leaf (an input or a parameter) whose gradient is wanted.
  Tensor& set_requires_grad(bool on = true);
  const std::shared_ptr<AutogradMeta>& meta() const { return meta_; }
  void set_meta(std::shared_ptr<AutogradMeta> m) { meta_ = std::move(m); }
  // The accumulated gradient, or an undefined tensor if none has arrived.
  Tensor grad() const;

 private:
  std::shared_ptr<Storage> storage_;
  Arena* storage_arena_ = nullptr;
  int64_t offset_ = 0;  // in elements
  Dims shape_;
  Dims strides_;  // in elements
  DType dtype_ = DType::F32;
  std::shared_ptr<AutogradMeta> meta_;
};

// Row-major strides for a shape.
Dims contiguous_strides(const Dims& shape);

struct AutogradMeta {
  bool requires_grad = false;
  bool is_leaf = true;  // leaves keep their gradient after backward
  Tensor grad;          // undefined until the first gradient arrives
};

}  // namespace dnabert::engine
