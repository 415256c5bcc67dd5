#include "ops/embedding.h"

#include <algorithm>
#include <cstring>

#include "ops/common.h"

namespace dnabert::ops {

Tensor embedding(Tape& tape, const Tensor& ids, const Tensor& table, int32_t padding_idx) {
  DNABERT_PROFILE_SCOPE("embedding.fwd");
  constexpr const char* op = "embedding";
  if (!ids.defined() || ids.dtype() != DType::I32 || !ids.is_contiguous())
    fail(op, "ids must be contiguous i32, got " + (ids.defined() ? ids.str() : std::string("undefined")));
  check_f32(op, "table", table);
  if (table.rank() != 2) fail(op, "table " + table.shape().str() + " must be [vocab, hidden]");
  const int64_t V = table.dim(0), H = table.dim(1), n = ids.numel();
  const int32_t* pid = ids.i32();
  for (int64_t i = 0; i < n; ++i)
    if (pid[i] < 0 || pid[i] >= V)
      fail(op, "id " + std::to_string(pid[i]) + " at position " + std::to_string(i) + " is outside the table " +
                   table.shape().str());
  Dims yshape = ids.shape();
  yshape.push_back(H);
  Tensor y = Tensor::empty(yshape, &tape.arena());
  const float* pt = table.f32();
  float* py = y.f32();
  engine::parallel_for(n, row_grain(H), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) std::memcpy(py + i * H, pt + static_cast<int64_t>(pid[i]) * H, H * sizeof(float));
  });
  if (tape.needs_grad({&table}))
    tape.record(y, [&tape, ids, table, n, V, H, padding_idx](const Tensor& dy) {
      DNABERT_PROFILE_SCOPE("embedding.bwd");
      GradSink dt = tape.grad_sink(table);
      if (!dt) return;
      if (!dt.accumulate) std::fill(dt.data, dt.data + V * H, 0.0f);
      const auto& k = K();
      const int32_t* pid = ids.i32();
      const float* g = dy.f32();
      // Threads own column ranges, so every row sums its positions in order.
      engine::parallel_for(H, n * H < kElemGrain ? H : 64, [&](int64_t c0, int64_t c1) {
        for (int64_t i = 0; i < n; ++i)
          if (pid[i] != padding_idx)
            k.scale(g + i * H + c0, 1.0f, dt.data + static_cast<int64_t>(pid[i]) * H + c0, c1 - c0, true);
      });
    });
  return y;
}

}  // namespace dnabert::ops
