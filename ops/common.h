// Helpers shared by the ops: argument checks with readable errors, and the
// fixed-order reductions that keep results independent of the thread count.
#pragma once
#include <algorithm>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/profile.h"
#include "engine/tape.h"
#include "engine/tensor.h"
#include "engine/threads.h"
#include "ops/kernels/kernels.h"

namespace dnabert::ops {

using engine::Dims;
using engine::DType;
using engine::GradSink;
using engine::Tape;
using engine::Tensor;

// The active kernel table.
inline const kernels::KernelTable& K() { return kernels::active(); }

// Throws "op: what tensor is f32 [2, 3], expected ..." style errors.
[[noreturn]] void fail(const char* op, const std::string& message);
// Checks that `t` is defined, f32 and contiguous; `what` names the argument.
void check_f32(const char* op, const char* what, const Tensor& t);
void check_rank_at_least(const char* op, const char* what, const Tensor& t, int rank);
void check_same_shape(const char* op, const char* what_a, const Tensor& a, const char* what_b, const Tensor& b);

// Rows per chunk for reductions over rows. Fixed, so partial sums never
// depend on the number of threads.
constexpr int64_t kReduceRows = 32;

// Column sums in a fixed order: rows are cut into kReduceRows chunks, each
// chunk's partial row (width `width`) is produced by `chunk(r0, r1, partial)`
// into a zeroed buffer, and the partials are added into `out` in chunk order.
template <class ChunkFn>
void reduce_rows_fixed(Tape& tape, int64_t rows, int64_t width, float* out, ChunkFn chunk) {
  const int64_t chunks = (rows + kReduceRows - 1) / kReduceRows;
  if (chunks == 0) return;
  Tensor partial = Tensor::zeros({chunks, width}, &tape.arena());
  float* p = partial.f32();
  // How chunks are grouped onto threads does not change any partial sum.
  const int64_t chunk_grain = std::max<int64_t>(1, (int64_t{1} << 14) / (kReduceRows * std::max<int64_t>(width, 1)));
  engine::parallel_for(chunks, chunk_grain, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      int64_t r0 = c * kReduceRows, r1 = r0 + kReduceRows < rows ? r0 + kReduceRows : rows;
      chunk(r0, r1, p + c * width);
    }
  });
  const auto& k = K();
  engine::parallel_for(width, 1024, [&](int64_t w0, int64_t w1) {
    for (int64_t c = 0; c < chunks; ++c) k.scale(p + c * width + w0, 1.0f, out + w0, w1 - w0, true);
  });
}

// Σ over n elements in a fixed order: fixed chunks of `kSumChunk` reduced by
// `chunk(i0, i1)` (returning double), combined sequentially.
constexpr int64_t kSumChunk = 8192;
template <class ChunkFn>
double sum_fixed(int64_t n, ChunkFn chunk) {
  const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> partial(static_cast<size_t>(chunks));
  engine::parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      int64_t i0 = c * kSumChunk, i1 = i0 + kSumChunk < n ? i0 + kSumChunk : n;
      partial[static_cast<size_t>(c)] = chunk(i0, i1);
    }
  });
  double s = 0.0;
  for (double v : partial) s += v;
  return s;
}

// Dropout keep bits (kernels' dropout_keep_bits) of `rows` rows × `cols` whose
// row r is row pos[r] of a Philox index space with rows `stride` apart (pos
// null: row r): element (r, c) takes index base + pos[r]·stride + c and its
// bit goes to bits[r·ldb + c / 32]. One kernel call per run of consecutive
// positions, which generates several short rows' numbers together.
template <class Index>
void keep_bits_rows(const Index* pos, int64_t rows, int64_t cols, float p, uint64_t seed, uint64_t stream,
                    uint64_t base, uint64_t stride, uint32_t* bits, int64_t ldb) {
  for (int64_t r0 = 0, r1; r0 < rows; r0 = r1) {
    for (r1 = r0 + 1; r1 < rows && (!pos || pos[r1] == pos[r1 - 1] + 1);) ++r1;
    const uint64_t at = static_cast<uint64_t>(pos ? pos[r0] : r0);
    K().dropout_keep_bits(r1 - r0, cols, p, seed, stream, base + at * stride, stride, bits + r0 * ldb, ldb);
  }
}

// dst (+)= src over n elements, in parallel fixed chunks.
void accumulate(const GradSink& dst, const float* src, int64_t n);

// Grain for elementwise loops: big enough to amortise a parallel region.
constexpr int64_t kElemGrain = 1 << 14;
// Rows per task for row-wise kernels with `cols` columns (about kElemGrain elements).
inline int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, kElemGrain / std::max<int64_t>(cols, 1)); }

}  // namespace dnabert::ops
