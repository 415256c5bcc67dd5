#include "ops/linear.h"

#include <algorithm>

#include "ops/common.h"

namespace dnabert::ops {

namespace {

struct LinearDims {
  int64_t rows, in, out;
};

LinearDims check_linear(const char* op, const Tensor& x, const Tensor& w, const Tensor& b) {
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
  return {x.numel() / (in ? in : 1), in, out};
}

// x's shape with its last dimension `out`: the shape of a linear layer's output.
Dims out_shape(const Tensor& x, const LinearDims& d) {
  Dims shape = x.shape();
  shape[shape.size() - 1] = d.out;
  return shape;
}

// With --precision bf16 on oneDNN (the table has gemm_bf16in), a linear
// layer converts each operand to bf16 once: x and w in the forward pass,
// kept for the backward one, and dy there. gemm would convert every operand
// of every product again (x and w twice, dy twice), a memory-bound pass
// over each operand per product. Both tensors are undefined on every other
// table.
struct Bf16Operands {
  Tensor x, w;
  bool on() const { return x.defined(); }
};

// src [rows, cols] (contiguous) rounded to bf16, in the tape's arena.
Tensor bf16_copy(Tape& tape, const float* src, const Dims& shape, int64_t rows, int64_t cols) {
  Tensor t = Tensor::empty(shape, &tape.arena(), DType::BF16);
  const auto& k = K();
  uint16_t* dst = t.bf16();
  engine::parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) {
    k.to_bf16(src + r0 * cols, dst + r0 * cols, (r1 - r0) * cols);
  });
  return t;
}

Bf16Operands bf16_operands(Tape& tape, const Tensor& x, const Tensor& w, const LinearDims& d) {
  if (!K().gemm_bf16in) return {};
  return {bf16_copy(tape, x.f32(), x.shape(), d.rows, d.in), bf16_copy(tape, w.f32(), w.shape(), d.out, d.in)};
}

// Whether linear_product can add the bias in the GEMM's pass: the native
// fp32 table's gemm_bias, or gemm_bf16in on bf16 operands.
bool bias_in_product(const Bf16Operands& b16) { return b16.on() || K().gemm_bias; }

// y[rows, out] = x · wᵀ, shaped by out_shape; with a bias (only where
// bias_in_product) y = x · wᵀ + b in the same pass.
Tensor linear_product(Tape& tape, const Tensor& x, const Tensor& w, const LinearDims& d, const float* bias,
                      const Bf16Operands& b16) {
  Tensor y = Tensor::empty(out_shape(x, d), &tape.arena());
  if (b16.on())
    K().gemm_bf16in(false, true, d.rows, d.out, d.in, 1.0f, b16.x.bf16(), d.in, b16.w.bf16(), d.in, 0.0f, y.f32(),
                    d.out, bias);
  else if (bias)
    K().gemm_bias(false, true, d.rows, d.out, d.in, x.f32(), d.in, w.f32(), d.in, bias, y.f32(), d.out, nullptr);
  else
    K().gemm(false, true, d.rows, d.out, d.in, 1.0f, x.f32(), d.in, w.f32(), d.in, 0.0f, y.f32(), d.out);
  return y;
}

// dx = dy·w and dw (+)= dyᵀ·x, for whichever of x and w want a gradient.
void linear_backward_gemms(Tape& tape, const Tensor& x, const Tensor& w, const float* dy, const LinearDims& d,
                           const Bf16Operands& b16) {
  const auto& k = K();
  GradSink dx = tape.grad_sink(x), dw = tape.grad_sink(w);
  if (b16.on() && (dx || dw)) {
    const Tensor dyb = bf16_copy(tape, dy, out_shape(x, d), d.rows, d.out);
    if (dx)
      k.gemm_bf16in(false, false, d.rows, d.in, d.out, 1.0f, dyb.bf16(), d.out, b16.w.bf16(), d.in,
                    dx.accumulate ? 1.0f : 0.0f, dx.data, d.in, nullptr);
    if (dw)
      k.gemm_bf16in(true, false, d.out, d.in, d.rows, 1.0f, dyb.bf16(), d.out, b16.x.bf16(), d.in,
                    dw.accumulate ? 1.0f : 0.0f, dw.data, d.in, nullptr);
    return;
  }
  if (dx)
    k.gemm(false, false, d.rows, d.in, d.out, 1.0f, dy, d.out, w.f32(), d.in, dx.accumulate ? 1.0f : 0.0f, dx.data,
           d.in);
  if (dw)
    k.gemm(true, false, d.out, d.in, d.rows, 1.0f, dy, d.out, x.f32(), d.in, dw.accumulate ? 1.0f : 0.0f, dw.data,
           d.in);
}

// db (+)= Σ_rows of the per-chunk partial sums that `chunk(r0, r1, partial)` adds up.
template <class ChunkFn>
void bias_grad(Tape& tape, const GradSink& db, const LinearDims& d, ChunkFn chunk) {
  if (!db) return;
  if (!db.accumulate) std::fill(db.data, db.data + d.out, 0.0f);
  reduce_rows_fixed(tape, d.rows, d.out, db.data, chunk);
}

// linear_gelu's backward: dpre = dy ⊙ GELU'(pre), the bias gradient in the
// same pass, then the linear layer's two GEMMs.
void record_linear_gelu_backward(Tape& tape, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& pre,
                                 Tensor& y, const LinearDims& d, const Bf16Operands& b16) {
  tape.record(y, [&tape, x, w, b, pre, d, b16](const Tensor& dy) {
    DNABERT_PROFILE_SCOPE("linear_gelu.bwd");
    const auto& k = K();
    Tensor dpre = Tensor::empty(pre.shape(), &tape.arena());
    const float *pp = pre.f32(), *g = dy.f32();
    float* dp = dpre.f32();
    GradSink db = tape.grad_sink(b);
    if (db) {
      // GELU's backward and the bias gradient in one pass over dy.
      bias_grad(tape, db, d, [&](int64_t r0, int64_t r1, float* part) {
        k.gelu_bwd_bias(pp + r0 * d.out, g + r0 * d.out, dp + r0 * d.out, r1 - r0, d.out, part);
      });
    } else {
      engine::parallel_for(d.rows, row_grain(d.out), [&](int64_t r0, int64_t r1) {
        k.gelu_bwd_bias(pp + r0 * d.out, g + r0 * d.out, dp + r0 * d.out, r1 - r0, d.out, nullptr);
      });
    }
    linear_backward_gemms(tape, x, w, dp, d, b16);
  });
}

}  // namespace

Tensor linear(Tape& tape, const Tensor& x, const Tensor& w, const Tensor& b) {
  DNABERT_PROFILE_SCOPE("linear.fwd");
  const LinearDims d = check_linear("linear", x, w, b);
  const Bf16Operands b16 = bf16_operands(tape, x, w, d);
  const bool fused = b.defined() && bias_in_product(b16);
  Tensor y = linear_product(tape, x, w, d, fused ? b.f32() : nullptr, b16);
  if (b.defined() && !fused) {
    const auto& k = K();
    const float* bp = b.f32();
    float* yp = y.f32();
    engine::parallel_for(d.rows, row_grain(d.out),
                         [&](int64_t r0, int64_t r1) { k.add_bias(yp + r0 * d.out, bp, r1 - r0, d.out); });
  }
  if (tape.needs_grad({&x, &w, &b})) {
    tape.record(y, [&tape, x, w, b, d, b16](const Tensor& dy) {
      DNABERT_PROFILE_SCOPE("linear.bwd");
      linear_backward_gemms(tape, x, w, dy.f32(), d, b16);
      const auto& k = K();
      const float* g = dy.f32();
      if (b.defined())
        bias_grad(tape, tape.grad_sink(b), d,
                  [&](int64_t r0, int64_t r1, float* part) { k.sum_rows(g + r0 * d.out, r1 - r0, d.out, part); });
    });
  }
  return y;
}

Tensor linear_gelu(Tape& tape, const Tensor& x, const Tensor& w, const Tensor& b) {
  DNABERT_PROFILE_SCOPE("linear_gelu.fwd");
  constexpr const char* op = "linear_gelu";
  const LinearDims d = check_linear(op, x, w, b);
  if (!b.defined()) fail(op, "needs a bias");
  const bool grad = tape.needs_grad({&x, &w, &b});
  // pre = x·wᵀ + b is kept for the backward pass; at inference GELU overwrites it.
  const auto& kt = K();
  if (kt.gemm_bias) {
    // Bias and GELU in the GEMM's epilogue; at inference GELU is written in
    // place of pre (act = C).
    Tensor pre = Tensor::empty(out_shape(x, d), &tape.arena());
    Tensor y_grad = grad ? Tensor::empty(pre.shape(), &tape.arena()) : Tensor();
    kt.gemm_bias(false, true, d.rows, d.out, d.in, x.f32(), d.in, w.f32(), d.in, b.f32(), pre.f32(), d.out,
                 grad ? y_grad.f32() : pre.f32());
    if (!grad) return pre;
    record_linear_gelu_backward(tape, x, w, b, pre, y_grad, d, {});
    return y_grad;
  }
  const Bf16Operands b16 = bf16_operands(tape, x, w, d);
  const bool fused = bias_in_product(b16);
  Tensor pre = linear_product(tape, x, w, d, fused ? b.f32() : nullptr, b16);
  Tensor y = grad ? Tensor::empty(pre.shape(), &tape.arena()) : pre;
  {
    const auto& k = K();
    const float* bp = b.f32();
    float *pp = pre.f32(), *yp = y.f32();
    engine::parallel_for(d.rows, row_grain(d.out), [&](int64_t r0, int64_t r1) {
      if (fused)  // pre has its bias: GELU only (bias_gelu_fwd's arithmetic is add_bias then gelu_fwd)
        k.gelu_fwd(pp + r0 * d.out, yp + r0 * d.out, (r1 - r0) * d.out);
      else
        k.bias_gelu_fwd(pp + r0 * d.out, bp, yp + r0 * d.out, r1 - r0, d.out);
    });
  }
  if (grad) record_linear_gelu_backward(tape, x, w, b, pre, y, d, b16);
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
  // Batches run in parallel (each GEMM then runs on one thread, handed out
  // as threads come free, as attention's heads); a single product uses the
  // GEMM's own threading. Either way, every element sums over K in the same order.
#pragma omp parallel for schedule(dynamic, 1) if (batch > 1)
  for (int64_t i = 0; i < batch; ++i)
    k.gemm(ta, tb, M, N, Kd, 1.0f, a + i * a_stride, lda, b + i * b_stride, ldb, beta, c + i * c_stride, ldc);
}

}  // namespace

Tensor matmul(Tape& tape, const Tensor& a, const Tensor& b, bool ta, bool tb) {
  DNABERT_PROFILE_SCOPE("matmul.fwd");
  const MatmulDims d = matmul_dims(a, b, ta, tb);
  Dims cshape = a.shape();
  cshape[cshape.size() - 2] = d.M;
  cshape[cshape.size() - 1] = d.N;
  Tensor c = Tensor::empty(cshape, &tape.arena());
  const int64_t sa = d.M * d.K, sb = d.K * d.N, sc = d.M * d.N;
  batched_gemm(ta, tb, d.batch, d.M, d.N, d.K, a.f32(), d.lda, sa, b.f32(), d.ldb, sb, 0.0f, c.f32(), d.N, sc);
  if (tape.needs_grad({&a, &b})) {
    tape.record(c, [&tape, a, b, ta, tb, d, sa, sb, sc](const Tensor& dc) {
      DNABERT_PROFILE_SCOPE("matmul.bwd");
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
