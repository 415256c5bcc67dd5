// BERT against an independent PyTorch implementation of HF BertForMaskedLM
// (tests/oracle/bert_reference.py wrote tests/fixtures/bert_tiny_mlm.safetensors):
// logits, loss and every parameter gradient; plus the config file format.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "base/error.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "io/formats/safetensors.h"
#include "models/network/bert.h"
#include "models/training/optimizer.h"
#include "ops/ops.h"
#include "tests/tiny_model.h"

using namespace dnabert;
using engine::Tensor;

namespace {

const std::string kFixtures = std::string(DNABERT_SOURCE_DIR) + "/tests/fixtures/";

double max_abs(const Tensor& t) {
  double m = 0;
  for (float v : t.to_vector()) m = std::max(m, std::fabs(double(v)));
  return m;
}

// max |a - b| / max(max |b|, floor): the error relative to the tensor's scale
// (an element-wise ratio would blow up on entries that are zero in the reference).
double rel_error(const Tensor& got, const Tensor& want, double floor = 0) {
  REQUIRE(got.numel() == want.numel());
  auto a = got.to_vector(), b = want.to_vector();
  double num = 0;
  for (size_t i = 0; i < a.size(); ++i) num = std::max(num, std::fabs(double(a[i]) - b[i]));
  const double den = std::max(max_abs(want), floor);
  return den > 0 ? num / den : num;
}



struct Fixture {
  io::SafetensorsFile file;
  models::BertConfig config;
  const Tensor& operator[](const std::string& name) const {
    auto it = file.tensors.find(name);
    REQUIRE_MESSAGE(it != file.tensors.end(), "fixture has no tensor " << name);
    return it->second;
  }
};

Fixture load_fixture() {
  Fixture f{io::read_safetensors(kFixtures + "bert_tiny_mlm.safetensors"),
            models::BertConfig::load(kFixtures + "bert_tiny_config.json")};
  return f;
}

// Every parameter gradient within 1e-4 of the reference, relative to that
// tensor's largest entry. The attention key biases are the exception that needs
// a floor: softmax ignores a shift that is constant along a row, so their exact
// gradient is 0 and both sides hold only rounding noise; there the bound is
// 1e-4 of 1e-3 × the largest gradient entry in the model.

std::vector<io::NamedTensor> weights_of(const Fixture& f) {
  std::vector<io::NamedTensor> w;
  for (const auto& [name, t] : f.file.tensors) w.push_back({name, t});
  return w;
}

void check_gradients(const engine::ParamSet& ps, const Fixture& f) {
  double global = 0;
  for (size_t i = 0; i < ps.size(); ++i) global = std::max(global, max_abs(f["grad." + ps.name(i)]));
  REQUIRE(global > 0);
  for (size_t i = 0; i < ps.size(); ++i) {
    CAPTURE(ps.name(i));
    CHECK(rel_error(ps[i].grad(), f["grad." + ps.name(i)], 1e-3 * global) < 1e-4);
  }
}

}  // namespace

TEST_CASE("BertForMaskedLM matches the PyTorch reference: logits, loss and every gradient") {
  Fixture f = load_fixture();
  models::Bert bert(f.config, models::Heads::MaskedLM);
  bert.load_weights(weights_of(f), "bert_tiny_mlm.safetensors");
  engine::Arena arena;
  engine::Tape tape(arena);
  models::BertInputs in{f["input_ids"], f["token_type_ids"], f["attention_mask"]};
  std::vector<Tensor> layers;
  Tensor hidden = bert.encode(tape, in, {}, &layers);
  REQUIRE(layers.size() == 3);
  for (size_t i = 0; i < layers.size(); ++i) {
    CAPTURE(i);
    CHECK(rel_error(layers[i], f["hidden." + std::to_string(i)]) < 1e-5);
  }
  Tensor logits = bert.mlm_logits(tape, hidden);
  const Tensor& labels = f["labels"];
  Tensor loss = ops::cross_entropy(tape, logits, labels.reshape({-1}));
  CHECK(rel_error(logits, f["logits"]) < 1e-5);
  CHECK(rel_error(loss, f["loss"]) < 1e-5);
  tape.backward(loss);
  check_gradients(bert.params(), f);
}

TEST_CASE("the gathered masked-LM loss equals the loss over all positions") {
  Fixture f = load_fixture();
  models::Bert bert(f.config, models::Heads::MaskedLM);
  bert.load_weights(weights_of(f), "fixture");
  engine::Arena arena;
  engine::Tape tape(arena);
  Tensor hidden = bert.encode(tape, {f["input_ids"], f["token_type_ids"], f["attention_mask"]}, {});
  Tensor loss = bert.mlm_loss(tape, hidden, f["labels"]);
  CHECK(rel_error(loss, f["loss"]) < 1e-5);
  tape.backward(loss);
  check_gradients(bert.params(), f);
}

TEST_CASE("mlm_forward (last layer on the labelled rows only) matches the PyTorch reference") {
  Fixture f = load_fixture();
  models::Bert bert(f.config, models::Heads::MaskedLM);
  bert.load_weights(weights_of(f), "fixture");
  engine::Arena arena;
  engine::Tape tape(arena);
  Tensor loss = bert.mlm_forward(tape, {f["input_ids"], f["token_type_ids"], f["attention_mask"]}, f["labels"], {});
  CHECK(rel_error(loss, f["loss"]) < 1e-5);
  tape.backward(loss);
  check_gradients(bert.params(), f);
}

TEST_CASE("with dropout, mlm_forward equals the full encode's loss and gradients, and classify on [CLS] rows too") {
  Fixture f = load_fixture();
  models::BertConfig c = f.config;
  c.hidden_dropout_prob = 0.2f;
  c.attention_probs_dropout_prob = 0.2f;
  c.num_labels = 3;
  models::Bert bert(c, models::Heads::Both);
  bert.init(5);
  const models::BertInputs in{f["input_ids"], f["token_type_ids"], f["attention_mask"]};
  const models::DropoutKey key{9, 4};
  engine::Arena arena;
  auto grads = [&]() {
    std::vector<Tensor> g;
    for (size_t i = 0; i < bert.params().size(); ++i) g.push_back(bert.params()[i].grad().clone());
    return g;
  };
  auto compare = [&](const Tensor& loss_full, const std::vector<Tensor>& g_full, const Tensor& loss_rows,
                     const std::vector<Tensor>& g_rows) {
    CHECK(rel_error(loss_rows, loss_full) < 1e-6);
    double global = 0;
    for (const Tensor& t : g_full) global = std::max(global, max_abs(t));
    REQUIRE(global > 0);
    for (size_t i = 0; i < g_full.size(); ++i) {
      CAPTURE(bert.params().name(i));
      CHECK(rel_error(g_rows[i], g_full[i], 1e-3 * global) < 1e-5);
    }
  };
  Tensor full, rows;
  std::vector<Tensor> g_full, g_rows;
  {
    engine::Tape tape(arena);
    Tensor loss = bert.mlm_loss(tape, bert.encode(tape, in, key), f["labels"]);
    bert.params().zero_grad();
    tape.backward(loss);
    full = loss.clone();
    g_full = grads();
  }
  {
    engine::Tape tape(arena);
    Tensor loss = bert.mlm_forward(tape, in, f["labels"], key);
    bert.params().zero_grad();
    tape.backward(loss);
    rows = loss.clone();
    g_rows = grads();
  }
  // Dropout is on: a different key gives a different loss, so the masks did line up.
  {
    engine::Tape tape(arena);
    CHECK(std::fabs(bert.mlm_forward(tape, in, f["labels"], {9, 5}).to_vector()[0] - rows.to_vector()[0]) > 1e-4);
  }
  compare(full, g_full, rows, g_rows);
  // Classification on [CLS]: the full encode against encode(rows = cls_rows).
  const int64_t B = in.input_ids.dim(0), T = in.input_ids.dim(1);
  std::vector<int32_t> y(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) y[static_cast<size_t>(b)] = static_cast<int32_t>(b % 3);
  for (int pass = 0; pass < 2; ++pass) {
    engine::Tape tape(arena);
    Tensor hidden = pass == 0 ? bert.encode(tape, in, key) : bert.encode(tape, in, key, nullptr, models::Bert::cls_rows(tape, B, T));
    Tensor loss = ops::cross_entropy(tape, bert.classify(tape, hidden, key), Tensor::from_ints({B}, y, &arena));
    bert.params().zero_grad();
    tape.backward(loss);
    (pass == 0 ? full : rows) = loss.clone();
    (pass == 0 ? g_full : g_rows) = grads();
  }
  compare(full, g_full, rows, g_rows);
}

TEST_CASE("a model memorises one batch: loss falls through the whole stack with AdamW") {
  Fixture f = load_fixture();
  models::BertConfig c = f.config;
  models::Bert bert(c, models::Heads::MaskedLM);
  bert.init(3);
  models::AdamWOptions ao;
  ao.lr = 3e-3;
  ao.warmup_steps = 5;
  ao.total_steps = 100;
  models::AdamW opt(bert.params(), ao);
  engine::Arena arena;
  double first = 0, last = 0;
  for (int step = 0; step < 100; ++step) {
    engine::Tape tape(arena);
    Tensor hidden = bert.encode(tape, {f["input_ids"], f["token_type_ids"], f["attention_mask"]}, {1, uint64_t(step)});
    Tensor loss = bert.mlm_loss(tape, hidden, f["labels"]);
    (step == 0 ? first : last) = loss.to_vector()[0];
    bert.params().zero_grad();
    tape.backward(loss);
    opt.step();
  }
  MESSAGE("memorising one batch: loss " << first << " -> " << last);
  CHECK(first == doctest::Approx(std::log(69.0)).epsilon(0.05));
  CHECK(last < 0.5);
}

TEST_CASE("BertConfig reads and writes HF config.json") {
  models::BertConfig c = models::BertConfig::load(std::string(DNABERT_SOURCE_DIR) + "/tests/fixtures/bert_tiny_config.json");
  CHECK(c.hidden_size == 32);
  CHECK(c.num_hidden_layers == 2);
  CHECK(c.layer_norm_eps == doctest::Approx(1e-12));
  CHECK(c.extra["pad_token_id"] == 0);  // unknown keys survive a round trip
  nlohmann::json j = c.to_json();
  CHECK(j["architectures"][0] == "BertForMaskedLM");
  CHECK(models::BertConfig::from_json(j).to_json() == j);
  models::BertConfig base = models::BertConfig::preset("base", 4101);
  CHECK(base.num_hidden_layers == 12);
  CHECK(base.hidden_size == 768);
  CHECK(base.intermediate_size == 3072);
  CHECK(base.max_position_embeddings == 512);
  // DNABERT-6 with its MLM head, the tied decoder counted once: embeddings 4101·768 + 512·768 + 2·768 + 2·768,
  // 12 layers of 7,087,872 (4 × (768² + 768) + 2 × 1536 + 768·3072 + 3072 + 3072·768 + 768), head 768² + 768 + 1536 + 4101.
  CHECK(base.parameter_count() == 89'196'549);
  models::BertConfig tiny = models::BertConfig::preset("tiny", 4101);
  CHECK((tiny.num_hidden_layers == 4 && tiny.hidden_size == 256 && tiny.num_attention_heads == 4 &&
         tiny.intermediate_size == 1024));
  models::BertConfig small = models::BertConfig::preset("small", 4101);
  CHECK((small.num_hidden_layers == 6 && small.hidden_size == 512 && small.num_attention_heads == 8 &&
         small.intermediate_size == 2048));
  CHECK_THROWS_WITH_AS(models::BertConfig::from_json(nlohmann::json{{"hidden_size", 30}, {"num_attention_heads", 4}}, "c.json"),
                       "c.json: hidden_size 30 is not divisible by num_attention_heads 4", Error);
  CHECK_THROWS_WITH_AS(models::BertConfig::from_json(nlohmann::json{{"hidden_size", "big"}}, "c.json"),
                       "c.json: field 'hidden_size': expected an integer in 1..2147483647, got \"big\"", Error);
  CHECK_THROWS_WITH_AS(models::BertConfig::from_json(nlohmann::json{{"hidden_act", "relu"}}, "c.json"),
                       "c.json: hidden_act 'relu' is not supported (only the exact \"gelu\" of BERT)", Error);
  CHECK_THROWS_WITH_AS(models::BertConfig::preset("huge", 69), doctest::Contains("unknown model preset 'huge'"),
                       UsageError);
}

TEST_CASE("loading weights names what is missing or mis-shaped") {
  Fixture f = load_fixture();
  models::Bert bert(f.config, models::Heads::MaskedLM);
  auto w = weights_of(f);
  std::erase_if(w, [](const io::NamedTensor& t) { return t.name == "cls.predictions.bias"; });
  for (auto& t : w)
    if (t.name == "bert.embeddings.LayerNorm.weight") t.tensor = Tensor::zeros({31});
  CHECK_THROWS_WITH_AS(bert.load_weights(w, "m.safetensors"),
                       "m.safetensors: tensor bert.embeddings.LayerNorm.weight has shape [31], expected [32]; "
                       "missing tensor cls.predictions.bias",
                       Error);
}

TEST_CASE("a second training step of the same shape takes all its memory from the arena's cache") {
  Fixture f = load_fixture();
  models::Bert bert(f.config, models::Heads::MaskedLM);
  bert.load_weights(weights_of(f), "fixture");
  engine::Arena arena;
  auto step = [&] {
    engine::Tape tape(arena);
    Tensor hidden = bert.encode(tape, {f["input_ids"], f["token_type_ids"], f["attention_mask"]}, {1, 0});
    bert.params().zero_grad();
    tape.backward(bert.mlm_loss(tape, hidden, f["labels"]));
  };
  step();
  const engine::ArenaStats first = arena.stats();
  step();
  const engine::ArenaStats second = arena.stats();
  CHECK(first.in_use_bytes == 0);
  CHECK(second.reserved_bytes == first.reserved_bytes);  // no block obtained from the OS, so no page faulted in
  CHECK(second.allocations - first.allocations == second.cache_hits - first.cache_hits);
  CHECK(second.allocations > first.allocations);
}

TEST_CASE("the constructor and init draw one normal sequence over the weights in order, the same bits with 1 and 2 threads") {
  // Bert::init draws chunks of a tensor on any thread from the sequence's
  // counter (4 Philox words per normal); this is the sequential pass it
  // must equal. 6-mer word embeddings (4101 x 32) span several chunks.
  models::BertConfig c = testing::tiny_config(2);
  c.vocab_size = 4101;
  const int saved = engine::num_threads();
  engine::set_num_threads(1);
  models::Bert one(c, models::Heads::Both, 9);  // the constructor's init
  engine::set_num_threads(2);
  models::Bert two(c, models::Heads::Both);
  two.init(9);
  engine::set_num_threads(saved);
  engine::Rng rng(9, engine::mix_stream(0x1417));
  int64_t drawn = 0;
  for (size_t i = 0; i < one.params().size(); ++i) {
    const std::string& name = one.params().name(i);
    const int64_t n = one.params()[i].numel();
    std::vector<float> want(static_cast<size_t>(n));
    if (name.find("LayerNorm.weight") != std::string::npos) {
      std::fill(want.begin(), want.end(), 1.0f);
    } else if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) {
      std::fill(want.begin(), want.end(), 0.0f);
    } else {
      for (auto& x : want) x = static_cast<float>(rng.normal() * c.initializer_range);
      drawn += n;
    }
    if (name == "bert.embeddings.word_embeddings.weight")
      std::fill(want.begin(), want.begin() + c.hidden_size, 0.0f);  // [PAD]
    CAPTURE(name);
    CHECK(std::memcmp(one.params()[i].f32(), want.data(), sizeof(float) * want.size()) == 0);
    CHECK(std::memcmp(two.params()[i].f32(), want.data(), sizeof(float) * want.size()) == 0);
  }
  CHECK(drawn > 4101 * c.hidden_size);  // more than the word embeddings, which alone exceed a chunk (65536)
  CHECK(rng.counter() == 4 * static_cast<uint64_t>(drawn));
}
