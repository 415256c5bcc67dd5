// Every op: a finite-difference gradient check (tests/gradcheck.h explains the
// tolerance), forward values against a double-precision reference, and the
// error a misuse raises. ctest runs this file once per kernel path.
#include <doctest/doctest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "engine/threads.h"
#include "ops/kernels/kernels.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace dnabert;
using namespace dnabert::testing;
using engine::Rng;

namespace {

Tensor ints(const Dims& shape, const std::vector<int32_t>& v) { return Tensor::from_ints(shape, v); }

void check_close(const std::vector<float>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  double worst = 0.0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double e = std::fabs(got[i] - want[i]) / std::max(1.0, std::fabs(want[i]));
    if (e > worst) worst = e, at = i;
  }
  INFO("worst relative error " << worst << " at " << at << ": got " << got[at] << " want " << want[at]);
  CHECK(worst <= tol);
}

// Naive double-precision attention for one batch: q, k, v [B, T, H].
std::vector<double> attention_ref(const Tensor& q, const Tensor& k, const Tensor& v, int NH,
                                  const std::vector<float>* mask) {
  const int64_t B = q.dim(0), T = q.dim(1), H = q.dim(2), D = H / NH;
  auto Q = q.to_vector(), Kv = k.to_vector(), V = v.to_vector();
  std::vector<double> out(static_cast<size_t>(B * T * H), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < NH; ++h)
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> s(static_cast<size_t>(T));
        double mx = -1e300;
        for (int64_t j = 0; j < T; ++j) {
          double d = 0;
          for (int64_t e = 0; e < D; ++e) d += double(Q[(b * T + i) * H + h * D + e]) * Kv[(b * T + j) * H + h * D + e];
          s[j] = d / std::sqrt(double(D)) + (mask ? (*mask)[b * T + j] : 0.0);
          mx = std::max(mx, s[j]);
        }
        double z = 0;
        for (auto& x : s) z += (x = std::exp(x - mx));
        for (int64_t e = 0; e < D; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < T; ++j) acc += s[j] / z * V[(b * T + j) * H + h * D + e];
          out[(b * T + i) * H + h * D + e] = acc;
        }
      }
  return out;
}

}  // namespace

TEST_CASE("linear: forward matches a double reference and gradients check") {
  Tensor x = random_tensor({2, 3, 5}, 1), w = random_tensor({4, 5}, 2), b = random_tensor({4}, 3);
  Arena arena;
  Tape tape(arena, Tape::Mode::Inference);
  auto y = ops::linear(tape, x, w, b).to_vector();
  auto X = x.to_vector(), Wv = w.to_vector(), Bv = b.to_vector();
  std::vector<double> want(24);
  for (int r = 0; r < 6; ++r)
    for (int o = 0; o < 4; ++o) {
      double s = Bv[o];
      for (int i = 0; i < 5; ++i) s += double(X[r * 5 + i]) * Wv[o * 5 + i];
      want[r * 4 + o] = s;
    }
  check_close(y, want, 1e-6);
  CHECK_GRADCHECK(gradcheck([](Tape& t, const std::vector<Tensor>& in) { return ops::linear(t, in[0], in[1], in[2]); },
                            {x, w, b}));
  // Without bias.
  CHECK_GRADCHECK(gradcheck([](Tape& t, const std::vector<Tensor>& in) { return ops::linear(t, in[0], in[1]); },
                            {random_tensor({7, 3}, 4), random_tensor({2, 3}, 5)}));
}

TEST_CASE("matmul: batched, every transpose combination") {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      const int64_t M = 3, N = 4, Kd = 5;
      Tensor a = random_tensor(ta ? Dims{2, Kd, M} : Dims{2, M, Kd}, 10);
      Tensor b = random_tensor(tb ? Dims{2, N, Kd} : Dims{2, Kd, N}, 11);
      Arena arena;
      Tape tape(arena, Tape::Mode::Inference);
      auto c = ops::matmul(tape, a, b, ta, tb).to_vector();
      auto A = a.to_vector(), Bv = b.to_vector();
      std::vector<double> want(2 * M * N);
      for (int64_t z = 0; z < 2; ++z)
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            double s = 0;
            for (int64_t kk = 0; kk < Kd; ++kk)
              s += double(A[z * M * Kd + (ta ? kk * M + i : i * Kd + kk)]) * Bv[z * Kd * N + (tb ? j * Kd + kk : kk * N + j)];
            want[z * M * N + i * N + j] = s;
          }
      check_close(c, want, 1e-6);
      CHECK_GRADCHECK(gradcheck(
          [ta, tb](Tape& t, const std::vector<Tensor>& in) { return ops::matmul(t, in[0], in[1], ta, tb); }, {a, b}));
    }
}

TEST_CASE("add and residual") {
  CHECK_GRADCHECK(gradcheck([](Tape& t, const std::vector<Tensor>& in) { return ops::add(t, in[0], in[1]); },
                            {random_tensor({3, 7}, 20), random_tensor({3, 7}, 21)}));
  // A residual: x + f(x) sends gradient along both paths into x.
  CHECK_GRADCHECK(gradcheck(
      [](Tape& t, const std::vector<Tensor>& in) { return ops::add(t, in[0], ops::gelu(t, in[0])); },
      {random_tensor({2, 9}, 22)}));
  CHECK_GRADCHECK(gradcheck([](Tape& t, const std::vector<Tensor>& in) { return ops::mul_scalar(t, in[0], -2.5f); },
                            {random_tensor({11}, 23)}));
}

TEST_CASE("gelu is the exact erf form") {
  Tensor x = Tensor::from_vector({6}, {-3.0f, -1.0f, -0.1f, 0.0f, 0.5f, 2.0f});
  Arena arena;
  Tape tape(arena, Tape::Mode::Inference);
  auto y = ops::gelu(tape, x).to_vector();
  std::vector<double> want;
  for (double v : {-3.0, -1.0, -0.1, 0.0, 0.5, 2.0}) want.push_back(0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))));
  check_close(y, want, 2e-6);
  // The tanh approximation differs from the exact form by ~1e-4 near ±1: make sure we are not using it.
  double tanh_approx = 0.5 * -1.0 * (1 + std::tanh(std::sqrt(2 / M_PI) * (-1.0 + 0.044715 * -1.0)));
  CHECK(std::fabs(y[1] - want[1]) < std::fabs(tanh_approx - want[1]) / 10);
  CHECK_GRADCHECK(gradcheck([](Tape& t, const std::vector<Tensor>& in) { return ops::gelu(t, in[0]); },
                            {random_tensor({4, 37}, 30, 2.0f)}));
}

TEST_CASE("tanh") {
  Tensor x = Tensor::from_vector({4}, {-2.0f, -0.3f, 0.0f, 1.5f});
  Arena arena;
  Tape tape(arena, Tape::Mode::Inference);
  check_close(ops::tanh(tape, x).to_vector(), {std::tanh(-2.0), std::tanh(-0.3), 0.0, std::tanh(1.5)}, 2e-6);
  CHECK_GRADCHECK(gradcheck([](Tape& t, const std::vector<Tensor>& in) { return ops::tanh(t, in[0]); },
                            {random_tensor({5, 13}, 31)}));
}

TEST_CASE("layer_norm with a configurable eps") {
  Tensor x = random_tensor({3, 10}, 40, 3.0f), g = random_tensor({10}, 41), b = random_tensor({10}, 42);
  for (float eps : {1e-12f, 0.5f}) {
    CAPTURE(eps);
    Arena arena;
    Tape tape(arena, Tape::Mode::Inference);
    auto y = ops::layer_norm(tape, x, g, b, eps).to_vector();
    auto X = x.to_vector(), G = g.to_vector(), Bv = b.to_vector();
    std::vector<double> want(30);
    for (int r = 0; r < 3; ++r) {
      double mu = 0, var = 0;
      for (int c = 0; c < 10; ++c) mu += X[r * 10 + c] / 10.0;
      for (int c = 0; c < 10; ++c) var += (X[r * 10 + c] - mu) * (X[r * 10 + c] - mu) / 10.0;
      for (int c = 0; c < 10; ++c) want[r * 10 + c] = (X[r * 10 + c] - mu) / std::sqrt(var + eps) * G[c] + Bv[c];
    }
    check_close(y, want, 2e-5);
  }
  CHECK_GRADCHECK(gradcheck(
      [](Tape& t, const std::vector<Tensor>& in) { return ops::layer_norm(t, in[0], in[1], in[2], 1e-12f); },
      {x, g, b}));
}

// Forward values and every input gradient of op(inputs), seeded with fixed
// random weights on the output, as raw floats for bit-exact comparisons.
static std::vector<std::vector<float>> values_and_grads(const OpFn& op, const std::vector<Tensor>& given) {
  std::vector<Tensor> in;
  for (const Tensor& t : given) {
    Tensor c = t.clone();
    c.set_requires_grad(true);
    in.push_back(c);
  }
  Arena arena;
  Tape tape(arena);
  Tensor y = op(tape, in);
  std::vector<std::vector<float>> out{y.to_vector()};
  tape.backward(y, random_tensor(y.shape(), 777, 1.0f, false));
  for (const Tensor& t : in) out.push_back(t.grad().to_vector());
  return out;
}

TEST_CASE("fused linear+GELU and residual+LayerNorm: gradients check, and bit-identical to the unfused ops") {
  // 70 rows: several fixed 32-row chunks in the bias and LayerNorm-parameter reductions.
  Tensor x = random_tensor({2, 35, 19}, 60), w = random_tensor({37, 19}, 61, 0.5f), b = random_tensor({37}, 62);
  const OpFn fused_gelu = [](Tape& t, const std::vector<Tensor>& in) { return ops::linear_gelu(t, in[0], in[1], in[2]); };
  const OpFn plain_gelu = [](Tape& t, const std::vector<Tensor>& in) {
    return ops::gelu(t, ops::linear(t, in[0], in[1], in[2]));
  };
  Tensor a = random_tensor({2, 35, 24}, 63, 2.0f), r = random_tensor({2, 35, 24}, 64), g = random_tensor({24}, 65),
         beta = random_tensor({24}, 66);
  const OpFn fused_ln = [](Tape& t, const std::vector<Tensor>& in) {
    return ops::add_layer_norm(t, in[0], in[1], in[2], in[3], 1e-12f);
  };
  const OpFn plain_ln = [](Tape& t, const std::vector<Tensor>& in) {
    return ops::layer_norm(t, ops::add(t, in[0], in[1]), in[2], in[3], 1e-12f);
  };
  // The residual of BERT: LayerNorm(f(x) + x), both paths into the same x.
  const OpFn fused_res = [](Tape& t, const std::vector<Tensor>& in) {
    return ops::add_layer_norm(t, ops::tanh(t, in[0]), in[0], in[1], in[2], 1e-12f);
  };
  const OpFn plain_res = [](Tape& t, const std::vector<Tensor>& in) {
    return ops::layer_norm(t, ops::add(t, ops::tanh(t, in[0]), in[0]), in[1], in[2], 1e-12f);
  };
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    engine::set_num_threads(threads);
    CHECK(values_and_grads(fused_gelu, {x, w, b}) == values_and_grads(plain_gelu, {x, w, b}));
    CHECK(values_and_grads(fused_ln, {a, r, g, beta}) == values_and_grads(plain_ln, {a, r, g, beta}));
    CHECK(values_and_grads(fused_res, {a, g, beta}) == values_and_grads(plain_res, {a, g, beta}));
  }
  engine::set_num_threads(0);
  CHECK_GRADCHECK(gradcheck(fused_gelu, {random_tensor({3, 6}, 67), random_tensor({5, 6}, 68, 0.5f),
                                         random_tensor({5}, 69)}));
  CHECK_GRADCHECK(gradcheck(fused_ln, {random_tensor({3, 7}, 70), random_tensor({3, 7}, 71), random_tensor({7}, 72),
                                       random_tensor({7}, 73)}));
  CHECK_GRADCHECK(gradcheck(fused_res, {random_tensor({2, 9}, 74), random_tensor({9}, 75), random_tensor({9}, 76)}));
  // Only one side of the sum wants a gradient.
  CHECK_GRADCHECK(gradcheck(fused_ln, {random_tensor({3, 7}, 77, 1.0f, false), random_tensor({3, 7}, 78),
                                       random_tensor({7}, 79), random_tensor({7}, 80)}));
}

TEST_CASE("bf16 on oneDNN: linear converts x, w and dy once and gives the bits of converting in every product") {
  // With gemm_bf16in (--precision bf16 --backend onednn) linear hands one bf16
  // copy of each operand to its three products; matmul converts its fp32
  // operands inside every gemm call. Same products, same layouts (dx = dy·w,
  // dw = dyᵀ·x), so the same bits, also when two layers read the same x (the
  // second one's dx accumulates, beta = 1). 200 rows × 96 × 257: over the 2^22
  // multiply-adds from which oneDNN's matmul runs.
  namespace k = ops::kernels;
  k::select_backend(k::Backend::OneDnn);
  k::select_precision(k::Precision::BF16);
  REQUIRE((k::active().gemm_bf16in != nullptr));
  Tensor x = random_tensor({200, 96}, 90), w = random_tensor({257, 96}, 91, 0.5f),
         w2 = random_tensor({257, 96}, 92, 0.5f), b = random_tensor({257}, 93);
  const OpFn two_linears = [](Tape& t, const std::vector<Tensor>& in) {
    return ops::add(t, ops::linear(t, in[0], in[1]), ops::linear(t, in[0], in[2]));
  };
  const OpFn two_matmuls = [](Tape& t, const std::vector<Tensor>& in) {
    return ops::add(t, ops::matmul(t, in[0], in[1], false, true), ops::matmul(t, in[0], in[2], false, true));
  };
  const OpFn fused_gelu = [](Tape& t, const std::vector<Tensor>& in) { return ops::linear_gelu(t, in[0], in[1], in[2]); };
  const OpFn plain_gelu = [](Tape& t, const std::vector<Tensor>& in) {
    return ops::gelu(t, ops::linear(t, in[0], in[1], in[2]));
  };
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    engine::set_num_threads(threads);
    CHECK(values_and_grads(two_linears, {x, w, w2}) == values_and_grads(two_matmuls, {x, w, w2}));
    CHECK(values_and_grads(fused_gelu, {x, w, b}) == values_and_grads(plain_gelu, {x, w, b}));
  }
  engine::set_num_threads(0);
  {
    // The bias, added in the matmul's own pass (oneDNN's bias argument), gives
    // add_bias's bits; at inference linear_gelu writes GELU over it in place.
    Arena arena;
    Tape tape(arena, Tape::Mode::Inference);
    auto m = ops::matmul(tape, x, w, false, true).to_vector();
    const auto bv = b.to_vector();
    for (size_t i = 0; i < m.size(); ++i) m[i] += bv[i % bv.size()];
    CHECK(ops::linear(tape, x, w, b).to_vector() == m);
    CHECK(ops::linear_gelu(tape, x, w, b).to_vector() == ops::gelu(tape, Tensor::from_vector({200, 257}, m)).to_vector());
  }
  const auto bf16 = values_and_grads(two_linears, {x, w, w2});
  k::select_precision(k::Precision::F32);
  k::select_backend(k::Backend::Auto);
  // And bf16 really happened: fp32 gives other values, within bf16's error.
  const auto f32 = values_and_grads(two_linears, {x, w, w2});
  REQUIRE(f32.size() == bf16.size());
  for (size_t i = 0; i < f32.size(); ++i) {
    CAPTURE(i);
    CHECK(f32[i] != bf16[i]);
    double err = 0, scale = 0;
    for (size_t j = 0; j < f32[i].size(); ++j) {
      err = std::max(err, std::fabs(double(f32[i][j]) - bf16[i][j]));
      scale = std::max(scale, std::fabs(double(f32[i][j])));
    }
    CHECK(err < 2e-2 * scale);
  }
}

TEST_CASE("softmax") {
  Tensor x = random_tensor({4, 9}, 50, 2.0f);
  Arena arena;
  Tape tape(arena, Tape::Mode::Inference);
  auto y = ops::softmax(tape, x).to_vector();
  auto X = x.to_vector();
  std::vector<double> want(36);
  for (int r = 0; r < 4; ++r) {
    double z = 0;
    for (int c = 0; c < 9; ++c) z += std::exp(double(X[r * 9 + c]));
    for (int c = 0; c < 9; ++c) want[r * 9 + c] = std::exp(double(X[r * 9 + c])) / z;
  }
  check_close(y, want, 1e-6);
  CHECK_GRADCHECK(gradcheck([](Tape& t, const std::vector<Tensor>& in) { return ops::softmax(t, in[0]); }, {x}));
}

TEST_CASE("attention with an additive padding mask") {
  const int64_t B = 2, T = 5, H = 6;
  const int NH = 2;
  Tensor q = random_tensor({B, T, H}, 60), k = random_tensor({B, T, H}, 61), v = random_tensor({B, T, H}, 62);
  // Batch 0 is full; batch 1 has two padded positions.
  Tensor mask01 = ints({B, T}, {1, 1, 1, 1, 1, 1, 1, 1, 0, 0});
  Arena arena;
  Tape tape(arena, Tape::Mode::Inference);
  Tensor mask = ops::additive_mask(tape, mask01);
  CHECK(mask.to_vector()[9] == -FLT_MAX);
  std::vector<float> mv = mask.to_vector();
  check_close(ops::attention(tape, q, k, v, NH, mask).to_vector(), attention_ref(q, k, v, NH, &mv), 1e-5);
  check_close(ops::attention(tape, q, k, v, NH, Tensor()).to_vector(), attention_ref(q, k, v, NH, nullptr), 1e-5);

  // Padded keys get no attention: changing them changes nothing in batch 1.
  Tensor k2 = k.clone(), v2 = v.clone();
  for (int64_t i = (1 * T + 3) * H; i < B * T * H; ++i) k2.f32()[i] += 5.0f, v2.f32()[i] -= 7.0f;
  auto o1 = ops::attention(tape, q, k, v, NH, mask).to_vector();
  auto o2 = ops::attention(tape, q, k2, v2, NH, mask).to_vector();
  for (int64_t i = T * H; i < B * T * H; ++i) CHECK(o1[i] == o2[i]);

  CHECK_GRADCHECK(gradcheck(
      [mask](Tape& t, const std::vector<Tensor>& in) { return ops::attention(t, in[0], in[1], in[2], NH, mask); },
      {q, k, v}));
  // With dropout on the probabilities (a fixed key, so the mask is the same in every evaluation).
  CHECK_GRADCHECK(gradcheck(
      [mask](Tape& t, const std::vector<Tensor>& in) {
        return ops::attention(t, in[0], in[1], in[2], NH, mask, 0.3f, Rng(5, 6));
      },
      {q, k, v}));
}

TEST_CASE("attention over several tiles, with fully padded key tiles") {
  // T = 300: the forward pass's key tiles are 128, 128 and 44 wide, the backward's 64 (4 of them)
  // and 44. In batch 1 the keys from 40 on are padding, so its second and third forward tiles are
  // masked out entirely; batch 0 has no padding (its mask is skipped).
  const int64_t B = 2, T = 300, H = 4;
  const int NH = 2;
  Tensor q = random_tensor({B, T, H}, 160, 1.5f), k = random_tensor({B, T, H}, 161, 1.5f),
         v = random_tensor({B, T, H}, 162);
  std::vector<int32_t> m(B * T, 1);
  for (int64_t t = 40; t < T; ++t) m[T + t] = 0;
  Arena arena;
  Tape tape(arena, Tape::Mode::Inference);
  Tensor mask = ops::additive_mask(tape, ints({B, T}, m));
  std::vector<float> mv = mask.to_vector();
  check_close(ops::attention(tape, q, k, v, NH, mask).to_vector(), attention_ref(q, k, v, NH, &mv), 2e-5);
  // The gradient check on a smaller slice of the same layout: T = 140 is two forward tiles
  // (128 + 12) and three backward ones (64 + 64 + 12).
  Tensor q2 = random_tensor({1, 140, 2}, 163), k2 = random_tensor({1, 140, 2}, 164),
         v2 = random_tensor({1, 140, 2}, 165);
  std::vector<int32_t> m2(140, 1);
  for (int t = 136; t < 140; ++t) m2[t] = 0;
  Tensor mask2 = ops::additive_mask(tape, ints({1, 140}, m2));
  CHECK_GRADCHECK(gradcheck(
      [mask2](Tape& t, const std::vector<Tensor>& in) {
        return ops::attention(t, in[0], in[1], in[2], 1, mask2, 0.2f, Rng(3, 4));
      },
      {q2, k2, v2}));
}

TEST_CASE("attention on selected query rows equals those rows of the full result, dropout included") {
  // T = 150: forward key tiles 128 + 22, backward 64 + 64 + 22. Batch 0 keeps rows spread over
  // all three query tiles (with runs and gaps, so dropout is drawn run by run), batch 1 one row
  // in a padded sequence, batch 2 none (its keys and values still get gradients: zero).
  const int64_t B = 3, T = 150, H = 8;
  const int NH = 2;
  Tensor q = random_tensor({B, T, H}, 170, 1.5f), k = random_tensor({B, T, H}, 171, 1.5f),
         v = random_tensor({B, T, H}, 172);
  std::vector<int32_t> m(B * T, 1);
  for (int64_t t = 120; t < T; ++t) m[T + t] = 0;
  std::vector<int32_t> sel = {0, 1, 2, 5, 63, 64, 65, 100, 127, 128, 149, T + 7};
  Arena arena;
  Tape tape(arena);  // training: dropout on
  Tensor mask = ops::additive_mask(tape, ints({B, T}, m)), rows = ints({int64_t(sel.size())}, sel);
  Tensor qsel = Tensor::empty({int64_t(sel.size()), H});
  for (size_t n = 0; n < sel.size(); ++n)
    for (int64_t c = 0; c < H; ++c) qsel.f32()[n * H + c] = q.f32()[sel[n] * H + c];
  const auto full = ops::attention(tape, q, k, v, NH, mask, 0.25f, Rng(11, 12)).to_vector();
  const auto part = ops::attention(tape, qsel, k, v, NH, mask, 0.25f, Rng(11, 12), rows).to_vector();
  REQUIRE(part.size() == sel.size() * H);
  int64_t changed = 0;
  for (size_t n = 0; n < sel.size(); ++n)
    for (int64_t c = 0; c < H; ++c) {
      CAPTURE(n);
      CHECK(part[n * H + c] == full[sel[n] * H + c]);  // bit for bit
    }
  // Dropout did change the outputs, so the equality above covered its masks.
  const auto plain = ops::attention(tape, q, k, v, NH, mask).to_vector();
  for (size_t i = 0; i < full.size(); ++i) changed += full[i] != plain[i];
  CHECK(changed > int64_t(full.size()) / 2);
  // Gradients of q (the selected rows), k and v, with dropout, on a smaller layout (the check
  // costs two evaluations per input element): T = 70 is backward tiles 64 + 6, rows in both.
  const std::vector<int32_t> sel2 = {1, 2, 40, 64, 69, 70 + 3};
  Tensor rows2 = ints({int64_t(sel2.size())}, sel2), q2 = random_tensor({int64_t(sel2.size()), 4}, 173),
         k2 = random_tensor({2, 70, 4}, 174), v2 = random_tensor({2, 70, 4}, 175);
  CHECK_GRADCHECK(gradcheck(
      [rows2](Tape& t, const std::vector<Tensor>& in) {
        return ops::attention(t, in[0], in[1], in[2], NH, Tensor(), 0.25f, Rng(11, 12), rows2);
      },
      {q2, k2, v2}));
  CHECK_THROWS_WITH_AS(ops::attention(tape, qsel, k, v, NH, mask, 0.0f, Rng(), ints({int64_t(sel.size())}, std::vector<int32_t>(sel.size(), 3))),
                       "attention: rows must be ascending positions in [0, B·T = 450); row 1 is 3", ShapeError);
  CHECK_THROWS_WITH_AS(ops::attention(tape, q, k, v, NH, mask, 0.0f, Rng(), rows),
                       "attention: q [3, 150, 8] must be [N, H] = [12, 8] for 12 rows and k [3, 150, 8]", ShapeError);
}

TEST_CASE("dropout on gathered rows takes the masks those rows have in the whole tensor") {
  const int64_t N = 40, C = 37;
  Tensor x = random_tensor({N, C}, 180);
  const std::vector<int32_t> sel = {0, 3, 4, 5, 17, 39};
  Tensor xs = Tensor::empty({int64_t(sel.size()), C});
  for (size_t n = 0; n < sel.size(); ++n)
    for (int64_t c = 0; c < C; ++c) xs.f32()[n * C + c] = x.f32()[sel[n] * C + c];
  xs.set_requires_grad(true);
  Arena arena;
  Tape tape(arena);
  Tensor rows = ints({int64_t(sel.size())}, sel);
  const auto full = ops::dropout(tape, x, 0.3f, Rng(5, 9, 1000)).to_vector();
  const auto part = ops::dropout(tape, xs, 0.3f, Rng(5, 9, 1000), rows).to_vector();
  int64_t zeros = 0;
  for (size_t n = 0; n < sel.size(); ++n)
    for (int64_t c = 0; c < C; ++c) {
      CHECK(part[n * C + c] == full[sel[n] * C + c]);
      zeros += part[n * C + c] == 0.0f;
    }
  CHECK(zeros > 30);  // ~0.3 of 222
  CHECK(zeros < 100);
  CHECK_GRADCHECK(gradcheck(
      [rows](Tape& t, const std::vector<Tensor>& in) { return ops::dropout(t, in[0], 0.3f, Rng(5, 9, 1000), rows); },
      {xs}));
  CHECK_THROWS_WITH_AS(ops::dropout(tape, x, 0.3f, Rng(), rows),
                       "dropout: rows i32 [6] must be contiguous i32 [N] for x [N, C], got x [40, 37]", ShapeError);
}

TEST_CASE("embedding: gather forward, scatter-add backward with repeated ids") {
  Tensor table = random_tensor({6, 4}, 70);
  Tensor ids = ints({2, 3}, {5, 0, 5, 2, 2, 2});
  Arena arena;
  Tape tape(arena, Tape::Mode::Inference);
  auto y = ops::embedding(tape, ids, table).to_vector();
  auto tv = table.to_vector();
  for (int c = 0; c < 4; ++c) {
    CHECK(y[0 * 4 + c] == tv[5 * 4 + c]);
    CHECK(y[4 * 4 + c] == tv[2 * 4 + c]);
  }
  CHECK_GRADCHECK(
      gradcheck([ids](Tape& t, const std::vector<Tensor>& in) { return ops::embedding(t, ids, in[0]); }, {table}));
  CHECK_THROWS_WITH_AS(ops::embedding(tape, ints({1}, {6}), table),
                       "embedding: id 6 at position 0 is outside the table [6, 4]", ShapeError);
}

TEST_CASE("dropout: rate, scaling, determinism and gradient") {
  Tensor x = Tensor::full({100000}, 1.0f);
  Arena arena;
  Tape tape(arena);
  auto y = ops::dropout(tape, x, 0.1f, Rng(42, 3)).to_vector();
  int64_t zeros = 0;
  for (float v : y) {
    if (v == 0.0f) ++zeros;
    else CHECK(v == doctest::Approx(1.0f / 0.9f).epsilon(1e-6));
  }
  // Binomial(1e5, 0.1): sd ≈ 95, so ±500 is over 5 sd.
  CHECK(std::abs(zeros - 10000) < 500);
  CHECK(ops::dropout(tape, x, 0.1f, Rng(42, 3)).to_vector() == y);
  // Element i is kept iff the scalar Philox's uniform number first + i is ≥ p,
  // whatever the counter's offset within a Philox block (the kernel batches blocks).
  for (uint64_t first : {0ull, 1ull, 6ull, (1ull << 32) - 3}) {
    CAPTURE(first);
    const float p = 0.3f;
    auto z = ops::dropout(tape, Tensor::full({1000}, 1.0f), p, Rng(7, 0xABCDEF12345ull, first)).to_vector();
    int64_t mismatches = 0;
    for (size_t i = 0; i < z.size(); ++i)
      mismatches += (z[i] != 0.0f) != (engine::philox_uniform(7, 0xABCDEF12345ull, first + i) >= p);
    CHECK(mismatches == 0);
  }
  CHECK(ops::dropout(tape, x, 0.1f, Rng(42, 4)).to_vector() != y);
  Tape infer(arena, Tape::Mode::Inference);
  CHECK(ops::dropout(infer, x, 0.1f, Rng(42, 3)).to_vector() == x.to_vector());
  CHECK_GRADCHECK(gradcheck(
      [](Tape& t, const std::vector<Tensor>& in) { return ops::dropout(t, in[0], 0.4f, Rng(9, 1)); },
      {random_tensor({3, 17}, 71)}));
  CHECK_THROWS_WITH_AS(ops::dropout(tape, x, 1.0f, Rng()), "dropout: probability must be in [0, 1), got 1.000000",
                       ShapeError);
}

TEST_CASE("dropout's saved mask: every element of a [B, T, C] tensor, and both backward paths") {
  // Rows of C = 45 columns (not a multiple of 32: the bit rows are padded),
  // forward against the scalar Philox; backward gives dy·keep/(1 - p) from the
  // saved bits, also when the gradient accumulates.
  const float p = 0.25f, s = 1.0f / (1.0f - p);
  const uint64_t seed = 3, stream = 77, first = 5;
  Tensor x = random_tensor({3, 4, 45}, 91);
  Tensor w = random_tensor({3, 4, 45}, 92);
  const auto xv = x.to_vector(), wv = w.to_vector();
  for (bool twice : {false, true}) {
    CAPTURE(twice);
    Arena arena;
    Tape tape(arena);
    Tensor xg = x.clone().set_requires_grad(true);
    Tensor y = ops::dropout(tape, xg, p, Rng(seed, stream, first));
    const auto yv = y.to_vector();
    int64_t wrong = 0;
    for (size_t i = 0; i < yv.size(); ++i) {
      const bool keep = engine::philox_uniform(seed, stream, first + i) >= p;
      wrong += yv[i] != (keep ? xv[i] * s : 0.0f);
    }
    CHECK(wrong == 0);
    // twice: y + x, so x's gradient arrives from two ops and one of them accumulates.
    tape.backward(twice ? ops::add(tape, y, xg) : y, w);
    const auto g = xg.grad().to_vector();
    int64_t wrong_grad = 0;
    for (size_t i = 0; i < g.size(); ++i) {
      const bool keep = engine::philox_uniform(seed, stream, first + i) >= p;
      const float want = keep ? wv[i] * s : 0.0f;
      wrong_grad += g[i] != (twice ? want + wv[i] : want);
    }
    CHECK(wrong_grad == 0);
  }
}

TEST_CASE("cross_entropy with ignored positions") {
  Tensor logits = random_tensor({5, 7}, 80, 2.0f);
  Tensor labels = ints({5}, {3, -100, 0, 6, -100});
  Arena arena;
  Tape tape(arena, Tape::Mode::Inference);
  const float loss = ops::cross_entropy(tape, logits, labels).to_vector()[0];
  auto L = logits.to_vector();
  double want = 0;
  for (int r : {0, 2, 3}) {
    int lab = r == 0 ? 3 : (r == 2 ? 0 : 6);
    double z = 0;
    for (int c = 0; c < 7; ++c) z += std::exp(double(L[r * 7 + c]));
    want += std::log(z) - L[r * 7 + lab];
  }
  CHECK(loss == doctest::Approx(want / 3).epsilon(1e-6));
  CHECK_GRADCHECK(gradcheck(
      [labels](Tape& t, const std::vector<Tensor>& in) { return ops::cross_entropy(t, in[0], labels); }, {logits}));
  // Ignored rows get exactly zero gradient.
  {
    Tape t(arena);
    Tensor lg = logits.clone().set_requires_grad(true);
    t.backward(ops::cross_entropy(t, lg, labels));
    auto g = lg.grad().to_vector();
    for (int c = 0; c < 7; ++c) CHECK(g[1 * 7 + c] == 0.0f);
  }
  // All ignored: loss 0.
  CHECK(ops::cross_entropy(tape, logits, ints({5}, {-100, -100, -100, -100, -100})).to_vector()[0] == 0.0f);
  CHECK_THROWS_WITH_AS(ops::cross_entropy(tape, logits, ints({5}, {0, 7, 0, 0, 0})),
                       "cross_entropy: label 7 at row 1 is outside [0, 7) and is not the ignore index -100",
                       ShapeError);
}

TEST_CASE("mse_loss") {
  Tensor p = random_tensor({4, 3}, 90), t = random_tensor({4, 3}, 91, 1.0f, false);
  Arena arena;
  Tape tape(arena, Tape::Mode::Inference);
  auto P = p.to_vector(), Tv = t.to_vector();
  double want = 0;
  for (size_t i = 0; i < P.size(); ++i) want += (double(P[i]) - Tv[i]) * (double(P[i]) - Tv[i]) / 12.0;
  CHECK(ops::mse_loss(tape, p, t).to_vector()[0] == doctest::Approx(want).epsilon(1e-6));
  CHECK_GRADCHECK(gradcheck([t](Tape& tp, const std::vector<Tensor>& in) { return ops::mse_loss(tp, in[0], t); }, {p}));
}

TEST_CASE("sigmoid with binary cross-entropy") {
  Tensor x = Tensor::from_vector({6}, {-30.0f, -2.0f, -0.5f, 0.0f, 1.0f, 25.0f});
  Tensor t = Tensor::from_vector({6}, {0.0f, 1.0f, 0.0f, 1.0f, 1.0f, 0.0f});
  Arena arena;
  Tape tape(arena, Tape::Mode::Inference);
  double want = 0;
  auto X = x.to_vector(), Tv = t.to_vector();
  for (int i = 0; i < 6; ++i) {
    double s = 1 / (1 + std::exp(-double(X[i])));
    // log(1 - s) written stably for the saturated entries.
    double l1 = -std::log1p(std::exp(-double(X[i]))), l0 = -double(X[i]) - std::log1p(std::exp(-double(X[i])));
    (void)s;
    want -= Tv[i] * l1 + (1 - Tv[i]) * l0;
  }
  CHECK(ops::bce_with_logits(tape, x, t).to_vector()[0] == doctest::Approx(want / 6).epsilon(1e-5));
  CHECK_GRADCHECK(gradcheck(
      [t](Tape& tp, const std::vector<Tensor>& in) { return ops::bce_with_logits(tp, in[0], t); },
      {random_tensor({6}, 92, 2.0f)}));
}

TEST_CASE("differentiable reshape and slice") {
  CHECK_GRADCHECK(gradcheck(
      [](Tape& t, const std::vector<Tensor>& in) { return ops::gelu(t, ops::reshape(t, in[0], {3, -1})); },
      {random_tensor({2, 3, 2}, 100)}));
  CHECK_GRADCHECK(gradcheck(
      [](Tape& t, const std::vector<Tensor>& in) { return ops::tanh(t, ops::slice(t, in[0], 1, 1, 3)); },
      {random_tensor({2, 4, 3}, 101)}));
}

TEST_CASE("misuse names the op and the shapes") {
  Arena arena;
  Tape tape(arena);
  Tensor x = random_tensor({4, 8}, 1), w = random_tensor({16, 7}, 2);
  CHECK_THROWS_WITH_AS(ops::linear(tape, x, w), "linear: x [4, 8] does not match weight [16, 7] (in_features 7)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(ops::add(tape, x, random_tensor({8, 4}, 3)),
                       "add: a [4, 8] and b [8, 4] must have the same shape", ShapeError);
  CHECK_THROWS_WITH_AS(ops::matmul(tape, x, random_tensor({4, 8}, 3)),
                       "matmul: inner dimensions differ: a [4, 8] · b [4, 8]", ShapeError);
  CHECK_THROWS_WITH_AS(ops::layer_norm(tape, x, random_tensor({7}, 4), random_tensor({7}, 5), 1e-12f),
                       "layer_norm: gamma [7] and beta [7] must be [8] for x [4, 8]", ShapeError);
  CHECK_THROWS_WITH_AS(ops::linear_gelu(tape, x, random_tensor({16, 8}, 9), Tensor()), "linear_gelu: needs a bias",
                       ShapeError);
  CHECK_THROWS_WITH_AS(ops::add_layer_norm(tape, x, random_tensor({8, 4}, 3), random_tensor({8}, 4),
                                           random_tensor({8}, 5), 1e-12f),
                       "add_layer_norm: a [4, 8] and b [8, 4] must have the same shape", ShapeError);
  CHECK_THROWS_WITH_AS(ops::attention(tape, random_tensor({1, 2, 6}, 6), random_tensor({1, 2, 6}, 7),
                                      random_tensor({1, 2, 6}, 8), 4, Tensor()),
                       "attention: hidden size 6 of q [1, 2, 6] is not divisible by 4 heads", ShapeError);
  CHECK_THROWS_WITH_AS(ops::gelu(tape, x.transpose(0, 1)), "gelu: x f32 [8, 4] must be contiguous (strides [1, 8])",
                       ShapeError);
  CHECK_THROWS_WITH_AS(tape.backward(ops::gelu(tape, x)), "backward: loss must hold one element, got f32 [4, 8]",
                       ShapeError);
}
