// models/training/optimizer: AdamW (HF and torch variants), the linear schedule,
// gradient clipping, accumulation scaling, checkpoint state, determinism.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/param_set.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "models/training/optimizer.h"

using namespace dnabert;
using namespace dnabert::models;
using engine::ParamSet;
using engine::Tensor;

namespace {

// ---- torch oracle: tests/oracle/adamw_reference.py (values after each of 6 updates) ----
// torch 1.13.0a0: /usr/bin/python3 tests/oracle/adamw_reference.py
const std::vector<double> kTorchGradNorms = {0.182801917, 2.32489991, 0.0718193427, 1.54294884, 0.368754655, 2.97290397};
const std::vector<std::vector<float>> kTorchAdamW = {
    {0.497502089f, 0.348353356f, 0.035368599f, -0.294250548f, -0.485479087f, -0.448379219f, -0.200399593f, 0.1418311f, 0.417356402f, 0.496592462f, 0.342273325f, 0.0269777104f, -0.30100596f, -0.487421811f, -0.444595575f, -0.192669094f, 0.149872676f, 0.421926975f, 0.495542437f, 0.336096555f, 0.0185791925f, -0.307676256f, -0.489226729f, -0.440686256f, -0.184884131f, 0.157871872f, 0.42637828f, 0.494352311f},
    {0.474730998f, 0.325635076f, 0.0138233863f, -0.314980567f, -0.506112337f, -0.441482544f, -0.184797034f, 0.157743797f, 0.43269828f, 0.512454152f, 0.36037761f, 0.0488059968f, -0.276930571f, -0.473844647f, -0.455590039f, -0.208538353f, 0.132053539f, 0.40286687f, 0.475417018f, 0.314791948f, -0.00439603999f, -0.331869721f, -0.485273689f, -0.423199654f, -0.166486323f, 0.175182387f, 0.442785949f, 0.511337459f},
    {0.437253326f, 0.289629668f, -0.0181763656f, -0.342495024f, -0.526195049f, -0.420959383f, -0.156237543f, 0.183978736f, 0.456112176f, 0.535531104f, 0.386442602f, 0.0801642388f, -0.245212868f, -0.46601665f, -0.478063971f, -0.236095399f, 0.102700382f, 0.372494519f, 0.444283158f, 0.282987893f, -0.0366343632f, -0.359203964f, -0.470875978f, -0.390979975f, -0.135356143f, 0.20247747f, 0.466921836f, 0.535150468f},
    {0.431709021f, 0.288371086f, -0.0133557366f, -0.330692232f, -0.506804049f, -0.394478172f, -0.140033796f, 0.188252985f, 0.453104109f, 0.528755307f, 0.378800869f, 0.0731011704f, -0.255548447f, -0.483886391f, -0.498121232f, -0.245684415f, 0.0987766683f, 0.371921569f, 0.446329296f, 0.287656158f, -0.0286094304f, -0.345594019f, -0.449059546f, -0.372340649f, -0.127590686f, 0.202262118f, 0.460870177f, 0.525788009f},
    {0.431188643f, 0.289194822f, -0.0100612286f, -0.324860364f, -0.499711543f, -0.389595032f, -0.139692694f, 0.184858933f, 0.447164059f, 0.521924376f, 0.37286219f, 0.0692694038f, -0.258927047f, -0.486777127f, -0.498594791f, -0.244181886f, 0.101090088f, 0.374644846f, 0.449320048f, 0.290853947f, -0.0252557434f, -0.342309862f, -0.447183251f, -0.370293111f, -0.12863028f, 0.198195979f, 0.454543531f, 0.518743157f},
    {0.42871666f, 0.286189765f, -0.0127832219f, -0.327167362f, -0.50211674f, -0.392953426f, -0.143238634f, 0.182400927f, 0.445658058f, 0.521406651f, 0.373828351f, 0.0721620768f, -0.255015105f, -0.482156754f, -0.49389708f, -0.241227731f, 0.101767719f, 0.37376672f, 0.447382599f, 0.288079798f, -0.0287949517f, -0.34660235f, -0.452005506f, -0.37294054f, -0.129869878f, 0.197651967f, 0.454297781f, 0.519177556f},
};
const std::vector<std::vector<float>> kHfAdamW = {
    {0.497502089f, 0.348353356f, 0.035368599f, -0.294250548f, -0.485479087f, -0.448379219f, -0.200399593f, 0.1418311f, 0.417356402f, 0.496592462f, 0.342273325f, 0.0269777104f, -0.30100596f, -0.487421811f, -0.444595575f, -0.192669094f, 0.149872676f, 0.421926975f, 0.495542437f, 0.336096555f, 0.0185791925f, -0.307676256f, -0.489226729f, -0.440686256f, -0.184884131f, 0.157871872f, 0.42637828f, 0.494352311f},
    {0.475278169f, 0.326228887f, 0.0145435678f, -0.313927591f, -0.504020452f, -0.441769689f, -0.185424581f, 0.157177597f, 0.432155639f, 0.511890233f, 0.359733522f, 0.0479593314f, -0.278205425f, -0.475245506f, -0.455044389f, -0.208059996f, 0.132471696f, 0.403274506f, 0.475864679f, 0.315360188f, -0.00349835679f, -0.329920977f, -0.485562801f, -0.423826128f, -0.167051688f, 0.174639776f, 0.442221195f, 0.510691106f},
    {0.438858509f, 0.291331291f, -0.016196901f, -0.339806497f, -0.521728575f, -0.422386557f, -0.158139348f, 0.182293117f, 0.454509556f, 0.533893466f, 0.384630531f, 0.0779100955f, -0.24807103f, -0.468137473f, -0.47647053f, -0.234827459f, 0.103775367f, 0.373522341f, 0.445392191f, 0.284365594f, -0.0345399603f, -0.355229527f, -0.47213456f, -0.392876983f, -0.137039036f, 0.200875267f, 0.46528241f, 0.533333302f},
    {0.433312535f, 0.290002823f, -0.0115201212f, -0.328270257f, -0.502902508f, -0.397068173f, -0.142560631f, 0.186380446f, 0.451461345f, 0.52715534f, 0.377093613f, 0.0710428134f, -0.258178264f, -0.485375941f, -0.495676368f, -0.24416475f, 0.0999233648f, 0.372958064f, 0.447409093f, 0.288962454f, -0.0266657583f, -0.341993928f, -0.451270342f, -0.374848962f, -0.129456386f, 0.200621545f, 0.459269613f, 0.524076998f},
    {0.432721317f, 0.290751398f, -0.00831003021f, -0.322541505f, -0.495946169f, -0.392244846f, -0.142176092f, 0.183052778f, 0.445590943f, 0.520397007f, 0.37123397f, 0.0673033595f, -0.261485904f, -0.48817867f, -0.496134669f, -0.242695913f, 0.102198206f, 0.375642627f, 0.450358957f, 0.292113006f, -0.0233726911f, -0.33879298f, -0.449457765f, -0.372757047f, -0.130429462f, 0.196625113f, 0.453015625f, 0.517111361f},
    {0.430257946f, 0.287769973f, -0.010996975f, -0.324800968f, -0.498287469f, -0.395486742f, -0.145611778f, 0.180640295f, 0.444087744f, 0.519862115f, 0.372170627f, 0.0701549426f, -0.257625639f, -0.483633876f, -0.491532713f, -0.239801452f, 0.102864899f, 0.374775976f, 0.448444009f, 0.289370418f, -0.0268684402f, -0.343022823f, -0.454190761f, -0.375295132f, -0.131624654f, 0.196083397f, 0.452752441f, 0.517516017f},
};

// The oracle's parameter set; a ParamSet pads each parameter to 16 elements,
// so the oracle's flat index i maps to `flat_index[i]` in our buffers.
struct ToyParams {
  ParamSet params;
  std::vector<int64_t> flat_index;
  ToyParams() {
    const std::vector<std::pair<std::string, engine::Dims>> decl = {{"enc.dense.weight", {3, 4}},
                                                                    {"enc.dense.bias", {3}},
                                                                    {"enc.LayerNorm.weight", {4}},
                                                                    {"enc.LayerNorm.bias", {4}},
                                                                    {"head.weight", {5}}};
    for (const auto& [name, shape] : decl) params.declare(name, shape);
    params.finalize();
    for (size_t p = 0; p < params.size(); ++p)
      for (int64_t j = 0; j < params[p].numel(); ++j) flat_index.push_back(params.offset(p) + j);
    for (size_t i = 0; i < flat_index.size(); ++i)
      params.values().f32()[flat_index[i]] = static_cast<float>(0.5 * std::cos(0.7 * static_cast<double>(i) + 0.1));
  }
  void set_grads(int step, double scale) {
    for (size_t i = 0; i < flat_index.size(); ++i)
      params.grads().f32()[flat_index[i]] =
          static_cast<float>(scale * std::sin(0.37 * static_cast<double>(i) + 1.3 * step + 0.2));
  }
  double value(size_t i) const { return params.values().f32()[flat_index[i]]; }
};

const std::vector<double> kOracleGradScales = {0.05, 0.6, 0.02, 0.4, 0.1, 0.8};

AdamWOptions exaggerated(AdamWVariant variant) {
  AdamWOptions o;
  o.lr = 0.05;
  o.eps = 1e-3;
  o.weight_decay = 0.3;
  o.warmup_steps = 2;
  o.total_steps = 6;
  o.variant = variant;
  return o;
}

// An independent AdamW in double: one parameter element at a time, straight
// from the formulas in optimizer.h (and the torch / HF sources).
struct ReferenceAdamW {
  AdamWOptions o;
  std::vector<double> p, m, v;
  std::vector<double> m_scale;  // the same average of |g|: the size f32 rounding in m scales with
  std::vector<bool> decay;
  int64_t t = 0;
  void step(std::vector<double> g, double grad_scale) {
    double sq = 0;
    for (double& x : g) {
      x *= grad_scale;
      sq += x * x;
    }
    const double norm = std::sqrt(sq);
    const double coef = o.max_grad_norm > 0 ? std::min(1.0, o.max_grad_norm / (norm + 1e-6)) : 1.0;
    const int64_t s = t;  // scheduler step before this update
    const double lambda = s < o.warmup_steps ? double(s) / std::max<int64_t>(1, o.warmup_steps)
                                             : std::max(0.0, double(o.total_steps - s) / (o.total_steps - o.warmup_steps));
    const double lr = o.lr * lambda;
    ++t;
    const double bc1 = 1 - std::pow(o.beta1, double(t)), bc2 = 1 - std::pow(o.beta2, double(t));
    for (size_t i = 0; i < p.size(); ++i) {
      const double gi = g[i] * coef;
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * gi;
      m_scale[i] = o.beta1 * m_scale[i] + (1 - o.beta1) * std::abs(gi);
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * gi * gi;
      const double wd = decay[i] ? o.weight_decay : 0.0;
      if (o.variant == AdamWVariant::kHuggingFace) {
        p[i] -= lr * std::sqrt(bc2) / bc1 * m[i] / (std::sqrt(v[i]) + o.eps);
        p[i] -= lr * wd * p[i];
      } else {
        p[i] *= 1 - lr * wd;
        p[i] -= lr / bc1 * m[i] / (std::sqrt(v[i] / bc2) + o.eps);
      }
    }
  }
};

ParamSet random_params(const std::vector<std::pair<std::string, engine::Dims>>& decl, uint64_t seed) {
  ParamSet params;
  for (const auto& [name, shape] : decl) params.declare(name, shape);
  params.finalize();
  engine::Rng rng(seed, 1);
  for (size_t p = 0; p < params.size(); ++p) {
    float* x = params[p].f32();
    for (int64_t j = 0; j < params[p].numel(); ++j) x[j] = static_cast<float>(0.5 * rng.normal());
  }
  return params;
}

void random_grads(const ParamSet& params, uint64_t seed, double scale) {
  engine::Rng rng(seed, 2);
  for (size_t p = 0; p < params.size(); ++p) {
    float* g = params[p].grad().f32();
    for (int64_t j = 0; j < params[p].numel(); ++j) g[j] = static_cast<float>(scale * rng.normal());
  }
}

}  // namespace

TEST_CASE("AdamW matches torch.optim.AdamW and HF's AdamW (torch oracle, 6 updates)") {
  for (auto variant : {AdamWVariant::kTorch, AdamWVariant::kHuggingFace}) {
    const auto& expected = variant == AdamWVariant::kTorch ? kTorchAdamW : kHfAdamW;
    CAPTURE(variant == AdamWVariant::kTorch ? "torch" : "hf");
    ToyParams toy;
    AdamW opt(toy.params, exaggerated(variant));
    for (int step = 0; step < 6; ++step) {
      CAPTURE(step);
      toy.set_grads(step, kOracleGradScales[step]);
      StepStats stats = opt.step();
      CHECK(stats.step == step + 1);
      CHECK(stats.grad_norm == doctest::Approx(kTorchGradNorms[step]).epsilon(1e-6));
      CHECK(stats.clip_coef == doctest::Approx(std::min(1.0, 1.0 / (kTorchGradNorms[step] + 1e-6))).epsilon(1e-6));
      // f32 arithmetic in both; the order of operations matches torch's kernels,
      // so differences are a few ulps of values ~0.5 (updates are ~1e-2).
      for (size_t i = 0; i < expected[step].size(); ++i) CHECK(std::abs(toy.value(i) - expected[step][i]) < 2e-6);
    }
  }
  // The variants really differ here (eps placement and decay order), so the
  // comparison above tells them apart.
  double max_diff = 0;
  for (size_t i = 0; i < kHfAdamW[5].size(); ++i) max_diff = std::max(max_diff, std::abs(double(kHfAdamW[5][i]) - kTorchAdamW[5][i]));
  CHECK(max_diff > 1e-3);
}

TEST_CASE("AdamW matches an independent double-precision AdamW") {
  const std::vector<std::pair<std::string, engine::Dims>> decl = {
      {"bert.encoder.layer.0.attention.self.query.weight", {24, 16}},
      {"bert.encoder.layer.0.attention.self.query.bias", {24}},
      {"bert.encoder.layer.0.attention.output.LayerNorm.weight", {16}},
      {"bert.encoder.layer.0.attention.output.LayerNorm.bias", {16}},
      {"cls.predictions.bias", {9}}};
  AdamWOptions dnabert_settings;  // lr 4e-4, β (0.9, 0.98), ε 1e-6, wd 0.01
  dnabert_settings.warmup_steps = 3;
  dnabert_settings.total_steps = 8;
  for (auto variant : {AdamWVariant::kHuggingFace, AdamWVariant::kTorch}) {
    AdamWOptions big = exaggerated(variant);
    big.total_steps = 8;
    dnabert_settings.variant = variant;
    for (const AdamWOptions& o : {dnabert_settings, big}) {
      CAPTURE(o.lr);
      CAPTURE(variant == AdamWVariant::kTorch);
      ParamSet params = random_params(decl, 5);
      AdamW opt(params, o);
      ReferenceAdamW ref;
      ref.o = o;
      for (size_t p = 0; p < params.size(); ++p)
        for (int64_t j = 0; j < params[p].numel(); ++j) {
          ref.p.push_back(params[p].f32()[j]);
          ref.decay.push_back(uses_weight_decay(params.name(p)));
        }
      ref.m.assign(ref.p.size(), 0.0);
      ref.m_scale.assign(ref.p.size(), 0.0);
      ref.v.assign(ref.p.size(), 0.0);
      for (int step = 0; step < 8; ++step) {
        // Alternating small and large gradients, so some updates clip; updates
        // 4..7 pass grad_scale 1/2 as gradient accumulation over two micro-batches would.
        random_grads(params, 100 + step, step % 2 ? 0.5 : 0.01);
        const double grad_scale = step >= 4 ? 0.5 : 1.0;
        std::vector<double> g;
        for (size_t p = 0; p < params.size(); ++p)
          for (int64_t j = 0; j < params[p].numel(); ++j) g.push_back(params[p].grad().f32()[j]);
        opt.step(grad_scale);
        ref.step(g, grad_scale);
      }
      size_t k = 0;
      double max_p = 0, max_m = 0, max_v = 0;
      for (size_t p = 0; p < params.size(); ++p)
        for (int64_t j = 0; j < params[p].numel(); ++j, ++k) {
          const int64_t flat = params.offset(p) + j;
          max_p = std::max(max_p, std::abs(params[p].f32()[j] - ref.p[k]));
          max_m = std::max(max_m, std::abs(opt.exp_avg().f32()[flat] - ref.m[k]) / ref.m_scale[k]);
          max_v = std::max(max_v, std::abs(opt.exp_avg_sq().f32()[flat] - ref.v[k]) / (std::abs(ref.v[k]) + 1e-9));
        }
      // Values are O(1) f32 (ulp 6e-8 to 2.4e-7) rounded once per update; a
      // wrong term moves them by at least lr·wd·|p| per update (8e-6 total at
      // DNABERT's settings, far more with the big ones).
      CHECK(max_p < 1e-6);
      // m can cancel to ~0, so its error is measured against the average of |g|.
      CHECK(max_m < 2e-6);
      CHECK(max_v < 2e-6);
    }
  }
}

TEST_CASE("weight decay follows HF's no_decay list by name") {
  CHECK(uses_weight_decay("bert.encoder.layer.0.attention.self.query.weight"));
  CHECK(uses_weight_decay("bert.embeddings.word_embeddings.weight"));
  CHECK(uses_weight_decay("cls.predictions.transform.dense.weight"));
  CHECK_FALSE(uses_weight_decay("bert.encoder.layer.0.attention.self.query.bias"));
  CHECK_FALSE(uses_weight_decay("bert.encoder.layer.3.output.LayerNorm.weight"));
  CHECK_FALSE(uses_weight_decay("bert.embeddings.LayerNorm.bias"));
  CHECK_FALSE(uses_weight_decay("cls.predictions.bias"));
  CHECK_FALSE(uses_weight_decay("cls.predictions.transform.LayerNorm.weight"));

  // With zero gradients the Adam step is 0/(0 + ε) = 0, so only decay acts:
  // decayed parameters shrink by exactly the factor (1 - lr·wd), others stay.
  ParamSet params = random_params({{"a.dense.weight", {40}}, {"a.dense.bias", {8}}, {"a.LayerNorm.weight", {8}}}, 9);
  const std::vector<float> before = params.values().to_vector();
  AdamWOptions o;
  o.lr = 0.1;
  o.weight_decay = 0.2;
  o.warmup_steps = 0;
  o.total_steps = 10;
  o.variant = AdamWVariant::kTorch;
  AdamW opt(params, o);
  opt.step();  // lr = 0.1 · λ(0) = 0.1 with no warmup
  const float keep = static_cast<float>(1.0 - 0.1 * 0.2);
  for (size_t p = 0; p < params.size(); ++p)
    for (int64_t j = 0; j < params[p].numel(); ++j) {
      const float b = before[params.offset(p) + j];
      CHECK(params[p].f32()[j] == (p == 0 ? b * keep : b));
    }
}

TEST_CASE("linear warmup then linear decay (HF get_linear_schedule_with_warmup)") {
  CHECK(linear_schedule(0, 100, 1000) == 0.0);
  CHECK(linear_schedule(25, 100, 1000) == 0.25);
  CHECK(linear_schedule(100, 100, 1000) == 1.0);
  CHECK(linear_schedule(550, 100, 1000) == 0.5);
  CHECK(linear_schedule(1000, 100, 1000) == 0.0);
  CHECK(linear_schedule(1200, 100, 1000) == 0.0);
  CHECK(linear_schedule(0, 0, 10) == 1.0);
  CHECK(linear_schedule(5, 0, 10) == 0.5);

  // Update t uses lr·λ(t - 1): DNABERT's first update has lr 0.
  ParamSet params = random_params({{"w", {4}}}, 1);
  AdamWOptions o;
  o.lr = 1e-3;
  o.warmup_steps = 4;
  o.total_steps = 8;
  AdamW opt(params, o);
  const std::vector<double> lrs = {0, 2.5e-4, 5e-4, 7.5e-4, 1e-3, 7.5e-4, 5e-4, 2.5e-4, 0, 0};
  for (double expected : lrs) {
    CHECK(opt.next_lr() == doctest::Approx(expected).epsilon(1e-12));
    random_grads(params, 3, 0.1);
    CHECK(opt.step().lr == doctest::Approx(expected).epsilon(1e-12));
  }
}

TEST_CASE("gradient clipping (torch clip_grad_norm_) and accumulation scale") {
  ParamSet params;
  params.declare("a", {2});
  params.declare("b", {1});
  params.finalize();
  params[0].grad().f32()[0] = 3.0f;
  params[0].grad().f32()[1] = 0.0f;
  params[1].grad().f32()[0] = -4.0f;
  CHECK(grad_norm(params) == 5.0);
  CHECK(grad_norm(params, 0.5) == 2.5);
  CHECK(clip_grad_norm(params, 1.0) == 5.0);
  const float coef = static_cast<float>(1.0 / (5.0 + 1e-6));
  CHECK(params[0].grad().f32()[0] == 3.0f * coef);
  CHECK(params[1].grad().f32()[0] == -4.0f * coef);
  CHECK(grad_norm(params) == doctest::Approx(1.0).epsilon(1e-6));
  // Below the threshold nothing changes, bit for bit.
  const std::vector<float> before = params.grads().to_vector();
  CHECK(clip_grad_norm(params, 2.0) == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(params.grads().to_vector() == before);

  // step(1/accum) on summed gradients equals step(1) on averaged ones (exact
  // for a power-of-two scale), and reports the scaled, pre-clip norm.
  const std::vector<std::pair<std::string, engine::Dims>> decl = {{"x.weight", {64}}, {"x.bias", {8}}};
  ParamSet summed = random_params(decl, 4), averaged = random_params(decl, 4);
  random_grads(summed, 8, 2.0);
  random_grads(averaged, 8, 1.0);
  AdamWOptions o;
  o.warmup_steps = 0;
  o.total_steps = 5;
  AdamW opt_s(summed, o), opt_a(averaged, o);
  StepStats s = opt_s.step(0.5), a = opt_a.step(1.0);
  CHECK(s.grad_norm == a.grad_norm);
  CHECK(s.grad_norm > 1.0);  // so clipping was active
  CHECK(s.clip_coef < 1.0);
  CHECK(summed.values().to_vector() == averaged.values().to_vector());
}

TEST_CASE("AdamW is bit-identical with 1 and 2 threads") {
  // Big enough for many norm chunks (8192) and update chunks (16384).
  const std::vector<std::pair<std::string, engine::Dims>> decl = {
      {"emb.weight", {300, 257}}, {"emb.LayerNorm.weight", {257}}, {"dense.weight", {129, 301}}, {"dense.bias", {129}}};
  auto run = [&](int threads) {
    engine::set_num_threads(threads);
    ParamSet params = random_params(decl, 12);
    AdamW opt(params, exaggerated(AdamWVariant::kHuggingFace));
    std::vector<double> norms;
    for (int step = 0; step < 4; ++step) {
      random_grads(params, 40 + step, 0.01 * (step + 1));
      norms.push_back(opt.step(0.5).grad_norm);
    }
    return std::tuple{params.values().to_vector(), opt.exp_avg().to_vector(), opt.exp_avg_sq().to_vector(), norms};
  };
  const int saved = engine::num_threads();
  const auto one = run(1), two = run(2);
  engine::set_num_threads(saved);
  CHECK(std::get<0>(one) == std::get<0>(two));
  CHECK(std::get<1>(one) == std::get<1>(two));
  CHECK(std::get<2>(one) == std::get<2>(two));
  for (int i = 0; i < 4; ++i) CHECK(std::memcmp(&std::get<3>(one)[i], &std::get<3>(two)[i], sizeof(double)) == 0);
}

TEST_CASE("moments and step restore from a checkpoint") {
  const std::vector<std::pair<std::string, engine::Dims>> decl = {{"a.weight", {33}}, {"a.bias", {5}}};
  AdamWOptions o;
  o.warmup_steps = 2;
  o.total_steps = 10;
  ParamSet params = random_params(decl, 2);
  AdamW opt(params, o);
  for (int step = 0; step < 3; ++step) {
    random_grads(params, step, 0.1);
    opt.step();
  }
  // "Checkpoint": values, moments, step.
  ParamSet restored = random_params(decl, 99);
  restored.values().copy_from(params.values());
  AdamW resumed(restored, o);
  resumed.load_state(opt.exp_avg().clone(), opt.exp_avg_sq().clone(), opt.step_count());
  CHECK(resumed.step_count() == 3);
  CHECK(resumed.next_lr() == opt.next_lr());
  for (int step = 3; step < 6; ++step) {
    random_grads(params, step, 0.1);
    random_grads(restored, step, 0.1);
    opt.step();
    resumed.step();
  }
  CHECK(restored.values().to_vector() == params.values().to_vector());
  CHECK(resumed.exp_avg().to_vector() == opt.exp_avg().to_vector());
  CHECK(resumed.exp_avg_sq().to_vector() == opt.exp_avg_sq().to_vector());

  CHECK_THROWS_WITH_AS(resumed.load_state(Tensor::zeros({7}), opt.exp_avg_sq(), 1),
                       "AdamW::load_state: moments must be f32 with 64 elements, got f32 [7]", Error);
}

TEST_CASE("non-finite gradients and bad options are reported") {
  ParamSet params = random_params({{"w", {4}}}, 1);
  AdamWOptions o;
  o.warmup_steps = 0;
  o.total_steps = 3;
  AdamW opt(params, o);
  const std::vector<float> before = params.values().to_vector();
  params[0].grad().f32()[2] = std::nanf("");
  CHECK_THROWS_WITH_AS(opt.step(), "AdamW: gradient norm is nan at update 1; parameters left unchanged", Error);
  CHECK(params.values().to_vector() == before);
  CHECK(opt.step_count() == 0);

  o.warmup_steps = 5;
  CHECK_THROWS_WITH_AS(AdamW(params, o),
                       "AdamW: need 0 <= warmup_steps <= total_steps and total_steps >= 1, got warmup_steps 5, "
                       "total_steps 3",
                       Error);
  o.warmup_steps = 0;
  o.beta2 = 1.0;
  CHECK_THROWS_WITH_AS(AdamW(params, o), "AdamW: beta2 must be in [0, 1), got 1", Error);
  ParamSet unfinished;
  unfinished.declare("w", {2});
  CHECK_THROWS_WITH_AS(AdamW(unfinished, AdamWOptions{}), "AdamW: the ParamSet must be finalized first", Error);
}
