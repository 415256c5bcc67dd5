#include "engine/tensor.h"

#include <cstring>

#include "base/error.h"
#include "engine/threads.h"

namespace dnabert::engine {

Dims contiguous_strides(const Dims& shape) {
  Dims s = Dims::of_rank(shape.size());
  int64_t acc = 1;
  for (int i = shape.size() - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

Tensor Tensor::empty(const Dims& shape, Arena* arena, DType dtype) {
  for (int64_t e : shape)
    if (e < 0) throw ShapeError("Tensor::empty: negative extent in " + shape.str());
  Tensor t;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  t.storage_arena_ = arena;
  t.storage_ = std::make_shared<Storage>(static_cast<size_t>(shape.numel()) * dtype_size(dtype), arena);
  return t;
}

Tensor Tensor::zeros(const Dims& shape, Arena* arena, DType dtype) {
  Tensor t = empty(shape, arena, dtype);
  std::memset(t.raw(), 0, static_cast<size_t>(t.numel()) * dtype_size(dtype));
  return t;
}

Tensor Tensor::full(const Dims& shape, float value, Arena* arena) {
  Tensor t = empty(shape, arena);
  t.fill(value);
  return t;
}

Tensor Tensor::from_vector(const Dims& shape, const std::vector<float>& values, Arena* arena) {
  if (static_cast<int64_t>(values.size()) != shape.numel())
    throw ShapeError("Tensor::from_vector: " + std::to_string(values.size()) + " values for shape " + shape.str());
  Tensor t = empty(shape, arena);
  std::memcpy(t.raw(), values.data(), values.size() * sizeof(float));
  return t;
}

Tensor Tensor::from_ints(const Dims& shape, const std::vector<int32_t>& values, Arena* arena) {
  if (static_cast<int64_t>(values.size()) != shape.numel())
    throw ShapeError("Tensor::from_ints: " + std::to_string(values.size()) + " values for shape " + shape.str());
  Tensor t = empty(shape, arena, DType::I32);
  std::memcpy(t.raw(), values.data(), values.size() * sizeof(int32_t));
  return t;
}

bool Tensor::is_contiguous() const {
  int64_t acc = 1;
  for (int i = rank() - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[i] != acc) return false;
    acc *= shape_[i];
  }
  return true;
}

void* Tensor::raw() const {
  if (!storage_) throw ShapeError("Tensor: use of an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

float* Tensor::f32() const {
  if (dtype_ != DType::F32) throw ShapeError(std::string("Tensor: expected f32, tensor is ") + str());
  return static_cast<float*>(raw());
}

int32_t* Tensor::i32() const {
  if (dtype_ != DType::I32) throw ShapeError(std::string("Tensor: expected i32, tensor is ") + str());
  return static_cast<int32_t*>(raw());
}

uint16_t* Tensor::bf16() const {
  if (dtype_ != DType::BF16) throw ShapeError(std::string("Tensor: expected bf16, tensor is ") + str());
  return static_cast<uint16_t*>(raw());
}

Tensor Tensor::reshape(const Dims& shape) const {
  Dims s = shape;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) throw ShapeError("reshape: more than one -1 in " + shape.str());
      infer = i;
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel() % known != 0)
      throw ShapeError("reshape: cannot reshape " + shape_.str() + " to " + shape.str());
    s[infer] = numel() / known;
  }
  if (s.numel() != numel()) throw ShapeError("reshape: cannot reshape " + shape_.str() + " to " + shape.str());
  Tensor base = is_contiguous() ? *this : contiguous();
  Tensor v = base.detach();
  v.shape_ = s;
  v.strides_ = contiguous_strides(s);
  return v;
}

Tensor Tensor::transpose(int a, int b) const {
  int r = rank();
  int ia = a < 0 ? a + r : a, ib = b < 0 ? b + r : b;
  if (ia < 0 || ia >= r || ib < 0 || ib >= r)
    throw ShapeError("transpose: dims " + std::to_string(a) + ", " + std::to_string(b) + " out of range for " + shape_.str());
  Tensor v = detach();
  std::swap(v.shape_[ia], v.shape_[ib]);
  std::swap(v.strides_[ia], v.strides_[ib]);
  return v;
}

Tensor Tensor::slice(int dim, int64_t start, int64_t end) const {
  int r = rank();
  int d = dim < 0 ? dim + r : dim;
  if (d < 0 || d >= r) throw ShapeError("slice: dim " + std::to_string(dim) + " out of range for " + shape_.str());
  if (start < 0 || end > shape_[d] || start > end)
    throw ShapeError("slice: [" + std::to_string(start) + ", " + std::to_string(end) + ") out of range for dim " +
                     std::to_string(dim) + " of " + shape_.str());
  Tensor v = detach();
  v.offset_ += start * strides_[d];
  v.shape_[d] = end - start;
  return v;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape_, arena(), dtype_);
  out.copy_from(*this);
  return out;
}

Tensor Tensor::detach() const {
  Tensor v = *this;
  v.meta_.reset();
  return v;
}

void Tensor::fill(float value) const {
  float* p = f32();
  if (!is_contiguous()) throw ShapeError("fill: tensor must be contiguous, got strides " + strides_.str());
  parallel_for(numel(), 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = value;
  });
}

void Tensor::copy_from(const Tensor& src) const {
  if (src.shape_ != shape_) throw ShapeError("copy_from: shape " + src.shape_.str() + " into " + shape_.str());
  if (src.dtype_ != dtype_) throw ShapeError("copy_from: dtype " + src.str() + " into " + str());
  size_t es = dtype_size(dtype_);
  auto* dst = static_cast<char*>(raw());
  const auto* s = static_cast<const char*>(src.raw());
  if (is_contiguous() && src.is_contiguous()) {
    std::memcpy(dst, s, static_cast<size_t>(numel()) * es);
    return;
  }
  // General strided copy: walk the destination in row-major order.
  int r = rank();
  int64_t n = numel();
  int64_t inner = r ? shape_[r - 1] : 1;
  int64_t rows = inner ? n / inner : 0;
  parallel_for(rows, 64, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      int64_t rem = row, doff = 0, soff = 0;
      for (int i = r - 2; i >= 0; --i) {
        int64_t idx = rem % shape_[i];
        rem /= shape_[i];
        doff += idx * strides_[i];
        soff += idx * src.strides_[i];
      }
      int64_t ds = r ? strides_[r - 1] : 1, ss = r ? src.strides_[r - 1] : 1;
      for (int64_t j = 0; j < inner; ++j)
        std::memcpy(dst + (doff + j * ds) * es, s + (soff + j * ss) * es, es);
    }
  });
}

std::vector<float> Tensor::to_vector() const {
  Tensor c = contiguous();
  const float* p = c.f32();
  return std::vector<float>(p, p + c.numel());
}

std::string Tensor::str() const { return std::string(dtype_name(dtype_)) + " " + shape_.str(); }

bool Tensor::requires_grad() const { return meta_ && meta_->requires_grad; }

Tensor& Tensor::set_requires_grad(bool on) {
  if (!meta_) meta_ = std::make_shared<AutogradMeta>();
  meta_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return meta_ ? meta_->grad : Tensor(); }

}  // namespace dnabert::engine
