#include "ops/common.h"

namespace dnabert::ops {

void fail(const char* op, const std::string& message) { throw ShapeError(std::string(op) + ": " + message); }

void check_f32(const char* op, const char* what, const Tensor& t) {
  if (!t.defined()) fail(op, std::string(what) + " is undefined");
  if (t.dtype() != DType::F32) fail(op, std::string(what) + " is " + t.str() + ", expected f32");
  if (!t.is_contiguous())
    fail(op, std::string(what) + " " + t.str() + " must be contiguous (strides " + t.strides().str() + ")");
}

void check_rank_at_least(const char* op, const char* what, const Tensor& t, int rank) {
  if (t.rank() < rank)
    fail(op, std::string(what) + " " + t.str() + " needs at least " + std::to_string(rank) + " dimensions");
}

void check_same_shape(const char* op, const char* what_a, const Tensor& a, const char* what_b, const Tensor& b) {
  if (a.shape() != b.shape())
    fail(op, std::string(what_a) + " " + a.shape().str() + " and " + what_b + " " + b.shape().str() +
                 " must have the same shape");
}

void accumulate(const GradSink& dst, const float* src, int64_t n) {
  const auto& k = K();
  engine::parallel_for(n, kElemGrain, [&](int64_t b, int64_t e) {
    k.scale(src + b, 1.0f, dst.data + b, e - b, dst.accumulate);
  });
}

}  // namespace dnabert::ops
