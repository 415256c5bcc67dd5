// The tape end to end: a 2-layer MLP learns a task, and a forward + backward
// pass through every op is bit-identical with 1, 2 and 3 threads.
#include <doctest/doctest.h>

#include <cstring>

#include "engine/param_set.h"
#include "engine/threads.h"
#include "ops/ops.h"
#include "tests/gradcheck.h"

using namespace dnabert;
using namespace dnabert::engine;

TEST_CASE("a 2-layer MLP trained through the tape learns two interleaved spirals") {
  // 2 classes × 100 points on interleaved spirals (not linearly separable).
  const int64_t N = 200, hidden = 32;
  std::vector<float> xs;
  std::vector<int32_t> ys;
  Rng noise(3, 0);
  for (int64_t i = 0; i < N; ++i) {
    const int cls = static_cast<int>(i % 2);
    const double r = 0.1 + 0.9 * static_cast<double>(i / 2) / (N / 2), a = 2.5 * M_PI * r + cls * M_PI;
    xs.push_back(static_cast<float>(r * std::cos(a) + 0.02 * noise.normal()));
    xs.push_back(static_cast<float>(r * std::sin(a) + 0.02 * noise.normal()));
    ys.push_back(cls);
  }
  Tensor x = Tensor::from_vector({N, 2}, xs), y = Tensor::from_ints({N}, ys);

  ParamSet params;
  const size_t w1 = params.declare("w1", {hidden, 2}), b1 = params.declare("b1", {hidden}),
               w2 = params.declare("w2", {hidden, hidden}), b2 = params.declare("b2", {hidden}),
               w3 = params.declare("w3", {2, hidden}), b3 = params.declare("b3", {2});
  params.finalize();
  Rng init(11, 0);
  for (size_t i : {w1, w2, w3}) {
    float* p = params[i].f32();
    const double scale = 1.0 / std::sqrt(static_cast<double>(params[i].dim(1)));
    for (int64_t j = 0; j < params[i].numel(); ++j) p[j] = static_cast<float>(init.normal() * scale * 2.0);
  }
  Arena arena;
  auto loss_of = [&](Tape& tape) {
    Tensor h = ops::tanh(tape, ops::linear(tape, x, params[w1], params[b1]));
    h = ops::tanh(tape, ops::linear(tape, h, params[w2], params[b2]));
    return ops::cross_entropy(tape, ops::linear(tape, h, params[w3], params[b3]), y);
  };
  float first = 0, last = 0;
  // Full-batch gradient descent with momentum.
  std::vector<float> velocity(static_cast<size_t>(params.numel()), 0.0f);
  for (int step = 0; step < 1500; ++step) {
    Tape tape(arena);
    Tensor loss = loss_of(tape);
    if (step == 0) first = loss.to_vector()[0];
    last = loss.to_vector()[0];
    params.zero_grad();
    tape.backward(loss);
    float* v = params.values().f32();
    const float* g = params.grads().f32();
    for (int64_t j = 0; j < params.numel(); ++j) {
      velocity[j] = 0.9f * velocity[j] - 0.1f * g[j];
      v[j] += velocity[j];
    }
  }
  MESSAGE("spiral MLP: loss " << first << " -> " << last);
  CHECK(first > 0.6f);   // chance level is ln 2 = 0.693
  CHECK(last < 0.05f);   // stated target
  Tape eval(arena, Tape::Mode::Inference);
  CHECK(loss_of(eval).to_vector()[0] == doctest::Approx(last).epsilon(0.2));
}

namespace {

// One forward + backward through every op; returns loss and all gradients.
std::vector<float> run_everything(int threads) {
  set_num_threads(threads);
  const int64_t B = 2, T = 96, H = 128, V = 50;
  ParamSet p;
  const size_t emb = p.declare("emb", {V, H}), wq = p.declare("wq", {H, H}), wk = p.declare("wk", {H, H}),
               wv = p.declare("wv", {H, H}), bq = p.declare("bq", {H}), g = p.declare("ln.g", {H}),
               be = p.declare("ln.b", {H}), wo = p.declare("wo", {V, H}), wr = p.declare("wr", {1, H});
  p.finalize();
  Rng init(5, 0);
  float* pv = p.values().f32();
  for (int64_t i = 0; i < p.numel(); ++i) pv[i] = static_cast<float>(init.normal() * 0.1);
  std::vector<int32_t> ids(B * T), labels(B * T), mask(B * T, 1);
  for (int64_t i = 0; i < B * T; ++i) {
    ids[i] = static_cast<int32_t>(init.below(V));
    labels[i] = i % 3 == 0 ? -100 : static_cast<int32_t>(init.below(V));
  }
  for (int64_t t = 70; t < T; ++t) mask[T + t] = 0;  // padding in the second sequence
  Arena arena;
  Tape tape(arena);
  Tensor idt = Tensor::from_ints({B, T}, ids), lab = Tensor::from_ints({B * T}, labels);
  Tensor am = ops::additive_mask(tape, Tensor::from_ints({B, T}, mask));
  Tensor h = ops::embedding(tape, idt, p[emb]);
  h = ops::dropout(tape, h, 0.1f, Rng(1, 1));
  Tensor q = ops::linear(tape, h, p[wq], p[bq]), k = ops::linear(tape, h, p[wk]), v = ops::linear(tape, h, p[wv]);
  Tensor a = ops::attention(tape, q, k, v, 4, am, 0.1f, Rng(1, 2));
  h = ops::layer_norm(tape, ops::add(tape, h, ops::gelu(tape, a)), p[g], p[be], 1e-12f);
  h = ops::add_layer_norm(tape, ops::linear_gelu(tape, h, p[wk], p[bq]), h, p[g], p[be], 1e-12f);  // the fused ops
  Tensor logits = ops::linear(tape, ops::reshape(tape, h, {B * T, H}), p[wo]);
  Tensor ce = ops::cross_entropy(tape, ops::softmax(tape, logits), lab);
  Tensor pooled = ops::tanh(tape, ops::slice(tape, h, 1, 0, 1));
  Tensor reg = ops::linear(tape, ops::reshape(tape, pooled, {B, H}), p[wr]);
  Tensor mse = ops::mse_loss(tape, reg, Tensor::full({B, 1}, 0.5f));
  Tensor bce = ops::bce_with_logits(tape, reg, Tensor::full({B, 1}, 1.0f));
  Tensor loss = ops::add(tape, ops::add(tape, ce, mse), ops::mul_scalar(tape, bce, 0.5f));
  tape.backward(loss);
  std::vector<float> out = loss.to_vector();
  auto grads = p.grads().to_vector();
  out.insert(out.end(), grads.begin(), grads.end());
  return out;
}

}  // namespace

TEST_CASE("forward and backward are bit-identical with 1, 2 and 3 threads") {
  std::vector<float> one = run_everything(1);
  std::vector<float> two = run_everything(2);
  std::vector<float> three = run_everything(3);
  set_num_threads(0);
  REQUIRE(one.size() == two.size());
  CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(one.data(), three.data(), one.size() * sizeof(float)) == 0);
  // And the gradients are not trivially zero.
  double norm = 0;
  for (size_t i = 1; i < one.size(); ++i) norm += double(one[i]) * one[i];
  CHECK(norm > 1e-6);
}
