#include "ops/linear.h"

#include <algorithm>

#include "ops/common.h"

namespace dnabert::ops {

Tensor linear(Tape& tape, const Tensor& x, const Tensor& w, const Tensor& b) {
  constexpr const char* op = "linear";
  check_f32(op, "x", x);
  check_f32(op, "weight", w);
  check_rank_at_least(op, "x", x, 1);
  if (w.rank() != 2) fail(op, "weight " + w.shape().str() + " must be [out, in]");
  const int64_t in = w.dim(1), out = w.dim(0);
  if (x.dim(-1) != in)
    fail(op, "x " + x.shape().str() + " does not match weight " + w.shape().str() + " (in_features " +
                 std::to_string(in) + ")");
  if (b.defined()) {
    check_f32(op, "bias", b);
    if (b.rank() != 1 || b.dim(0) != out)
      fail(op, "bias " + b.shape().str() + " does not match weight " + w.shape().str());
  }
  const int64_t rows = x.numel() / (in ? in : 1);
  Dims yshape = x.shape();
  yshape[yshape.size() - 1] = out;
  Tensor y = Tensor::empty(yshape, &tape.arena());
  const auto& k = K();
  // x: [rows, in], w: [out, in] -> y: [rows, out]
  k.gemm(false, true, rows, out, in, 1.0f, x.f32(), in, w.f32(), in, 0.0f, y.f32(), out);
  if (b.defined()) {
    const float* bp = b.f32();
    float* yp = y.f32();
    engine::parallel_for(rows, row_grain(out), [&](int64_t r0, int64_t r1) { k.add_bias(yp + r0 * out, bp, r1 - r0, out); });
  }
  if (tape.needs_grad({&x, &w, &b})) {
    tape.record(y, [&tape, x, w, b, rows, in, out](const Tensor& dy) {
      const auto& k = K();
      if (GradSink dx = tape.grad_sink(x))
        k.gemm(false, false, rows, in, out, 1.0f, dy.f32(), out, w.f32(), in, dx.accumulate ? 1.0f : 0.0f, dx.data,
               in);
      if (GradSink dw = tape.grad_sink(w))
        k.gemm(true, false, out, in, rows, 1.0f, dy.f32(), out, x.f32(), in, dw.accumulate ? 1.0f : 0.0f, dw.data,
               in);
      if (b.defined())
        if (GradSink db = tape.grad_sink(b)) {
          if (!db.accumulate) std::fill(db.data, db.data + out, 0.0f);
          const float* g = dy.f32();
          reduce_rows_fixed(tape, rows, out, db.data,
                            [&](int64_t r0, int64_t r1, float* part) { k.sum_rows(g + r0 * out, r1 - r0, out, part); });
        }
    });
  }
  return y;
}

namespace {

struct MatmulDims {
  int64_t batch, M, N, K, lda, ldb;
};

MatmulDims matmul_dims(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  constexpr const char* op = "matmul";
  check_f32(op, "a", a);
  check_f32(op, "b", b);
  check_rank_at_least(op, "a", a, 2);
  if (a.rank() != b.rank()) fail(op, "a " + a.shape().str() + " and b " + b.shape().str() + " differ in rank");
  int64_t batch = 1;
  for (int i = 0; i < a.rank() - 2; ++i) {
    if (a.dim(i) != b.dim(i))
      fail(op, "batch dimensions of a " + a.shape().str() + " and b " + b.shape().str() + " differ");
    batch *= a.dim(i);
  }
  const int64_t M = ta ? a.dim(-1) : a.dim(-2), Ka = ta ? a.dim(-2) : a.dim(-1);
  const int64_t Kb = tb ? b.dim(-1) : b.dim(-2), N = tb ? b.dim(-2) : b.dim(-1);
  if (Ka != Kb)
    fail(op, "inner dimensions differ: a " + a.shape().str() + (ta ? "ᵀ" : "") + " · b " + b.shape().str() +
                 (tb ? "ᵀ" : ""));
  return {batch, M, N, Ka, a.dim(-1), b.dim(-1)};
}

// c_i = alpha op(a_i) op(b_i) + beta c_i for every batch entry i.
void batched_gemm(bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t Kd, const float* a, int64_t lda,
                  int64_t a_stride, const float* b, int64_t ldb, int64_t b_stride, float beta, float* c, int64_t ldc,
                  int64_t c_stride) {
  const auto& k = K();
  // Batches run in parallel (each GEMM then runs on one thread); a single
  // product uses the GEMM's own threading. Either way, every element sums
  // over K in the same order.
#pragma omp parallel for schedule(static) if (batch > 1)
  for (int64_t i = 0; i < batch; ++i)
    k.gemm(ta, tb, M, N, Kd, 1.0f, a + i * a_stride, lda, b + i * b_stride, ldb, beta, c + i * c_stride, ldc);
}

}  // namespace

Tensor matmul(Tape& tape, const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const MatmulDims d = matmul_dims(a, b, ta, tb);
  Dims cshape = a.shape();
  cshape[cshape.size() - 2] = d.M;
  cshape[cshape.size() - 1] = d.N;
  Tensor c = Tensor::empty(cshape, &tape.arena());
  const int64_t sa = d.M * d.K, sb = d.K * d.N, sc = d.M * d.N;
  batched_gemm(ta, tb, d.batch, d.M, d.N, d.K, a.f32(), d.lda, sa, b.f32(), d.ldb, sb, 0.0f, c.f32(), d.N, sc);
  if (tape.needs_grad({&a, &b})) {
    tape.record(c, [&tape, a, b, ta, tb, d, sa, sb, sc](const Tensor& dc) {
      const float* g = dc.f32();
      if (GradSink da = tape.grad_sink(a)) {
        const float beta = da.accumulate ? 1.0f : 0.0f;
        if (!ta)  // da[M,K] = dc · op(b)ᵀ
          batched_gemm(false, !tb, d.batch, d.M, d.K, d.N, g, d.N, sc, b.f32(), d.ldb, sb, beta, da.data, d.K, sa);
        else  // da[K,M] = op(b) · dcᵀ
          batched_gemm(tb, true, d.batch, d.K, d.M, d.N, b.f32(), d.ldb, sb, g, d.N, sc, beta, da.data, d.M, sa);
      }
      if (GradSink db = tape.grad_sink(b)) {
        const float beta = db.accumulate ? 1.0f : 0.0f;
        if (!tb)  // db[K,N] = op(a)ᵀ · dc
          batched_gemm(!ta, false, d.batch, d.K, d.N, d.M, a.f32(), d.lda, sa, g, d.N, sc, beta, db.data, d.N, sb);
        else  // db[N,K] = dcᵀ · op(a)
          batched_gemm(true, ta, d.batch, d.N, d.K, d.M, g, d.N, sc, a.f32(), d.lda, sa, beta, db.data, d.K, sb);
      }
    });
  }
  return c;
}

}  // namespace dnabert::ops
