// Dims: a small fixed-capacity list of extents or strides (no heap allocation).
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "base/error.h"

namespace dnabert::engine {

class Dims {
 public:
  static constexpr int kMaxRank = 6;

  Dims() = default;
  Dims(std::initializer_list<int64_t> values) {
    if (values.size() > kMaxRank) throw ShapeError("Dims: rank " + std::to_string(values.size()) + " exceeds 6");
    for (int64_t v : values) d_[n_++] = v;
  }
  static Dims of_rank(int rank, int64_t fill = 0) {
    if (rank < 0 || rank > kMaxRank) throw ShapeError("Dims: bad rank " + std::to_string(rank));
    Dims r;
    r.n_ = rank;
    for (int i = 0; i < rank; ++i) r.d_[i] = fill;
    return r;
  }

  int size() const { return n_; }
  int64_t operator[](int i) const { return d_[i]; }
  int64_t& operator[](int i) { return d_[i]; }
  // Negative index counts from the end, as in Python.
  int64_t at(int i) const {
    int j = i < 0 ? i + n_ : i;
    if (j < 0 || j >= n_) throw ShapeError("Dims: index " + std::to_string(i) + " out of range for " + str());
    return d_[j];
  }
  int64_t back() const { return d_[n_ - 1]; }
  const int64_t* begin() const { return d_.data(); }
  const int64_t* end() const { return d_.data() + n_; }

  void push_back(int64_t v) {
    if (n_ == kMaxRank) throw ShapeError("Dims: rank exceeds 6");
    d_[n_++] = v;
  }
  int64_t numel() const {
    int64_t p = 1;
    for (int i = 0; i < n_; ++i) p *= d_[i];
    return p;
  }
  bool operator==(const Dims& o) const {
    if (n_ != o.n_) return false;
    for (int i = 0; i < n_; ++i)
      if (d_[i] != o.d_[i]) return false;
    return true;
  }
  bool operator!=(const Dims& o) const { return !(*this == o); }

  // "[2, 3, 4]"
  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < n_; ++i) {
      if (i) s += ", ";
      s += std::to_string(d_[i]);
    }
    return s + "]";
  }

 private:
  std::array<int64_t, kMaxRank> d_{};
  int n_ = 0;
};

}  // namespace dnabert::engine
