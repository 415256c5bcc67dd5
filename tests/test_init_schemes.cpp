// The structured starting points of models/network/init_schemes.h: composed k-mer
// embeddings are sums of per-position base vectors, sinusoidal positions are
// Vaswani et al.'s codes, both at the per-element scale of HF's N(0, range)
// rows; and pretrain records them (and a dropout override) in its resume
// fingerprint while config.json keeps the config's dropout.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "base/error.h"
#include "models/network/bert.h"
#include "models/network/config.h"
#include "models/network/init_schemes.h"
#include "models/training/pretrain.h"
#include "tests/test_util.h"

using namespace dnabert;
using namespace dnabert::testing;

namespace {

models::BertConfig small_config(int k) {
  models::BertConfig c = models::BertConfig::preset("tiny", (1 << (2 * k)) + 5);
  c.num_hidden_layers = 1;
  c.hidden_size = 64;
  c.num_attention_heads = 2;
  c.intermediate_size = 64;
  c.max_position_embeddings = 48;
  return c;
}

// id of a k-mer written with the vocabulary's digits A=0, T=1, C=2, G=3.
int64_t kmer_id(const std::string& s) {
  int64_t v = 0;
  for (char ch : s) v = v * 4 + std::string("ATCG").find(ch);
  return v + 5;
}

}  // namespace

TEST_CASE("composed k-mer embeddings: a sum of per-position base vectors at the scale of a normal row") {
  const int k = 4;
  models::BertConfig c = small_config(k);
  models::Bert normal(c, models::Heads::MaskedLM, 3), composed(c, models::Heads::MaskedLM, 3);
  models::compose_kmer_embeddings(composed, k, 3);
  const int64_t H = c.hidden_size;
  const float* w = composed.params().get("bert.embeddings.word_embeddings.weight").f32();
  const float* w0 = normal.params().get("bert.embeddings.word_embeddings.weight").f32();
  auto row = [&](const std::string& kmer) { return w + kmer_id(kmer) * H; };
  // Changing the first base moves every k-mer by the same vector, whatever the other bases.
  const float *a1 = row("ATCG"), *b1 = row("GTCG"), *a2 = row("ACCA"), *b2 = row("GCCA");
  for (int64_t h = 0; h < H; ++h) CHECK((b1[h] - a1[h]) == doctest::Approx(b2[h] - a2[h]).epsilon(1e-5));
  // ... and changing a different position moves it by another vector.
  const float* c1 = row("ATCT");
  double dot = 0, n1 = 0, n2 = 0;
  for (int64_t h = 0; h < H; ++h) {
    dot += double(b1[h] - a1[h]) * (c1[h] - a1[h]);
    n1 += double(b1[h] - a1[h]) * (b1[h] - a1[h]);
    n2 += double(c1[h] - a1[h]) * (c1[h] - a1[h]);
  }
  CHECK(std::abs(dot) / std::sqrt(n1 * n2) < 0.5);
  // Special tokens keep their draws ([PAD] stays zero); k-mer rows have RMS ≈ initializer_range.
  for (int64_t i = 0; i < 5 * H; ++i) CHECK(w[i] == w0[i]);
  for (int64_t h = 0; h < H; ++h) CHECK(w[h] == 0.0f);
  double ss = 0;
  const int64_t n = (int64_t{1} << (2 * k)) * H;
  for (int64_t i = 5 * H; i < 5 * H + n; ++i) ss += double(w[i]) * w[i];
  CHECK(std::sqrt(ss / double(n)) == doctest::Approx(c.initializer_range).epsilon(0.15));
  // A vocabulary of another k is refused.
  CHECK_THROWS_AS(models::compose_kmer_embeddings(composed, 3, 3), Error);
}

TEST_CASE("sinusoidal positions: a one-step shift is the same rotation at every position") {
  models::BertConfig c = small_config(3);
  models::Bert m(c, models::Heads::MaskedLM, 1);
  models::sinusoidal_positions(m);
  const int64_t H = c.hidden_size, P = c.max_position_embeddings;
  const float* w = m.params().get("bert.embeddings.position_embeddings.weight").f32();
  const double amp = c.initializer_range * std::sqrt(2.0);
  CHECK(w[0] == 0.0f);                                   // sin(0)
  CHECK(w[1] == doctest::Approx(amp).epsilon(1e-6));     // cos(0)
  CHECK(w[1 * H + 0] == doctest::Approx(amp * std::sin(1.0)).epsilon(1e-6));
  for (int64_t i = 0; i < H; i += 2) {
    const double f = std::pow(10000.0, -double(i) / double(H)), cs = std::cos(f), sn = std::sin(f);
    for (int64_t p = 0; p + 1 < P; ++p) {
      const double s0 = w[p * H + i], c0 = w[p * H + i + 1];
      CHECK(w[(p + 1) * H + i] == doctest::Approx(s0 * cs + c0 * sn).epsilon(1e-4).scale(amp));
      CHECK(w[(p + 1) * H + i + 1] == doctest::Approx(c0 * cs - s0 * sn).epsilon(1e-4).scale(amp));
    }
  }
}

TEST_CASE("apply_init_schemes names the choices it refuses") {
  models::BertConfig c = small_config(3);
  models::Bert m(c, models::Heads::MaskedLM, 1);
  CHECK_THROWS_WITH_AS(models::apply_init_schemes(m, 3, 1, "xavier", "normal"), doctest::Contains("--embedding-init"),
                       UsageError);
  CHECK_THROWS_WITH_AS(models::apply_init_schemes(m, 3, 1, "normal", "rope"), doctest::Contains("--position-init"),
                       UsageError);
}

TEST_CASE("pretrain: init schemes and a dropout override are part of the run's identity") {
  models::PretrainOptions o;
  o.fasta = {std::string(DNABERT_SOURCE_DIR) + "/tests/data/genomes/lambda_phage.fa.gz"};
  o.k = 3;
  o.config = small_config(3);
  o.max_len = 32;
  o.batch = 4;
  o.steps = 4;
  o.warmup = 1;
  o.lr = 1e-3;
  o.eval_every = 2;
  o.eval_batches = 1;
  o.save_every = 2;
  o.keep_last = 0;
  o.shuffle_buffer = 8;
  o.seed = 5;
  o.embedding_init = "composed";
  o.position_init = "sinusoidal";
  o.dropout = 0;
  o.out = scratch_dir("init_schemes_run");
  models::PretrainResult r = models::pretrain(o);
  CHECK(r.steps_done == 4);
  // config.json keeps the config's dropout for fine-tuning.
  models::BertConfig saved = models::BertConfig::load(o.out + "/model/config.json");
  CHECK(saved.hidden_dropout_prob == doctest::Approx(0.1f));
  CHECK(saved.attention_probs_dropout_prob == doctest::Approx(0.1f));
  // The same run resumed from step 2 ends with the same bytes.
  models::PretrainOptions again = o;
  again.out = scratch_dir("init_schemes_resumed");
  again.resume = o.out + "/checkpoint-2";
  models::pretrain(again);
  CHECK(slurp(o.out + "/model/model.safetensors") == slurp(again.out + "/model/model.safetensors"));
  // Resuming with another init scheme or dropout is refused.
  for (int change = 0; change < 3; ++change) {
    models::PretrainOptions bad = o;
    bad.out = scratch_dir("init_schemes_bad");
    bad.resume = o.out + "/checkpoint-2";
    if (change == 0) bad.embedding_init = "normal";
    if (change == 1) bad.position_init = "normal";
    if (change == 2) bad.dropout = 0.1f;
    CHECK_THROWS_WITH_AS(models::pretrain(bad), doctest::Contains("different settings"), Error);
  }
  // With dropout 0 and the structured init, the run differs from the default one.
  models::PretrainOptions plain = o;
  plain.embedding_init = plain.position_init = "normal";
  plain.dropout = -1;
  plain.out = scratch_dir("init_schemes_plain");
  models::pretrain(plain);
  CHECK(slurp(o.out + "/model/model.safetensors") != slurp(plain.out + "/model/model.safetensors"));
}
