// DNABERT-viz attention scores: the [CLS] attention recomputed from the layer
// inputs against a naive full-softmax computation, the k-mer -> nucleotide
// spreading and L2 norm by hand, and `dnabert attention` end to end (streamed
// .npy with more sequences than a batch, heatmaps, bad flags).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "engine/rng.h"
#include "io/formats/npy.h"
#include "models/analysis/interpret.h"
#include "models/network/loading.h"
#include "tests/test_util.h"
#include "tests/tiny_model.h"
#include "tokenizer/kmer.h"

using namespace dnabert;
using namespace dnabert::testing;

namespace {

// softmax(Q Kᵀ/√D + mask) for every row and head, in double, then row 0 summed
// over heads: the textbook computation the streamlined one must match.
std::vector<double> naive_cls_attention(const models::Bert& model, const models::BertInputs& in, int layer) {
  engine::Arena arena;
  engine::Tape tape(arena, engine::Tape::Mode::Inference);
  std::vector<engine::Tensor> layers;
  model.encode(tape, in, {}, &layers);
  const auto& cfg = model.config();
  const int64_t B = in.input_ids.dim(0), T = in.input_ids.dim(1), H = cfg.hidden_size, NH = cfg.num_attention_heads;
  const int64_t D = H / NH;
  const engine::Tensor x = layers[static_cast<size_t>(layer)].contiguous();
  const std::string pre = "bert.encoder.layer." + std::to_string(layer) + ".attention.self.";
  auto project = [&](const std::string& name) {
    const engine::Tensor w = model.params().get(pre + name + ".weight"), b = model.params().get(pre + name + ".bias");
    std::vector<double> out(static_cast<size_t>(B * T * H));
    for (int64_t r = 0; r < B * T; ++r)
      for (int64_t o = 0; o < H; ++o) {
        double s = b.f32()[o];
        for (int64_t i = 0; i < H; ++i) s += double(x.f32()[r * H + i]) * w.f32()[o * H + i];
        out[static_cast<size_t>(r * H + o)] = s;
      }
    return out;
  };
  const std::vector<double> q = project("query"), k = project("key");
  std::vector<double> cls(static_cast<size_t>(B * T), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < NH; ++h)
      for (int64_t row = 0; row < T; ++row) {
        std::vector<double> s(static_cast<size_t>(T));
        double mx = -1e300, z = 0;
        for (int64_t t = 0; t < T; ++t) {
          double v = 0;
          for (int64_t d = 0; d < D; ++d) v += q[static_cast<size_t>((b * T + row) * H + h * D + d)] * k[static_cast<size_t>((b * T + t) * H + h * D + d)];
          v = v / std::sqrt(double(D)) + (in.attention_mask.i32()[b * T + t] ? 0.0 : -1e30);
          s[static_cast<size_t>(t)] = v, mx = std::max(mx, v);
        }
        for (double& v : s) z += (v = std::exp(v - mx));
        if (row == 0)
          for (int64_t t = 0; t < T; ++t) cls[static_cast<size_t>(b * T + t)] += s[static_cast<size_t>(t)] / z;
      }
  return cls;
}

}  // namespace

TEST_CASE("[CLS] attention matches a naive full softmax, with padding, per layer and summed over heads") {
  const std::string dir = tiny_model_dir("interp_model", 2, 11);
  models::LoadedModel lm = models::load_model(dir, models::Heads::None);
  // Two sequences of different lengths: the second row is padded.
  tokenizer::KmerTokenizer tok(lm.vocab);
  const auto a = tok.encode("ACGTTGCAAGTCCGAT").ids, b = tok.encode("TTGACCA").ids;
  const int64_t T = static_cast<int64_t>(a.size());
  std::vector<int32_t> ids(static_cast<size_t>(2 * T), 0), mask(static_cast<size_t>(2 * T), 0);
  std::copy(a.begin(), a.end(), ids.begin());
  std::copy(b.begin(), b.end(), ids.begin() + T);
  std::fill(mask.begin(), mask.begin() + T, 1);
  std::fill(mask.begin() + T, mask.begin() + T + static_cast<int64_t>(b.size()), 1);
  engine::Arena arena;
  models::BertInputs in{engine::Tensor::from_ints({2, T}, ids, &arena), engine::Tensor(),
                        engine::Tensor::from_ints({2, T}, mask, &arena)};
  for (int layer = 0; layer < 2; ++layer) {
    const std::vector<double> want = naive_cls_attention(*lm.model, in, layer);
    const std::vector<float> got = models::cls_attention(*lm.model, in, {layer, layer, {}}, arena);
    REQUIRE(got.size() == want.size());
    double row_sum = 0, spread = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-5));
      if (i < static_cast<size_t>(T)) row_sum += got[i], spread = std::max(spread, std::fabs(got[i] - 4.0 / T));
    }
    CHECK(row_sum == doctest::Approx(4.0).epsilon(1e-5));  // 4 heads, each a distribution
    CHECK(spread > 0.05);                                   // far from uniform: the check can fail
    for (int64_t t = static_cast<int64_t>(b.size()); t < T; ++t) CHECK(got[static_cast<size_t>(T + t)] == 0.0f);
  }
  // Heads 1 and 3 of layers 0..1 = the sum of the four single (layer, head) maps.
  const auto both = models::cls_attention(*lm.model, in, {0, 1, {1, 3}}, arena);
  std::vector<float> sum(both.size(), 0.0f);
  for (int l = 0; l < 2; ++l)
    for (int h : {1, 3}) {
      const auto one = models::cls_attention(*lm.model, in, {l, l, {h}}, arena);
      for (size_t i = 0; i < sum.size(); ++i) sum[i] += one[i];
    }
  for (size_t i = 0; i < sum.size(); ++i) CHECK(both[i] == doctest::Approx(sum[i]).epsilon(1e-6));
}

TEST_CASE("k-mer scores spread over nucleotides as a mean by coverage, then L2-normalised") {
  const float kmers[] = {1, 2, 3, 4};
  // k = 3: nucleotide i is covered by k-mers max(0, i-2)..min(3, i).
  const std::vector<float> want = {1, 1.5f, 2, 3, 3.5f, 4};
  CHECK(models::spread_kmer_scores(kmers, 3) == want);
  CHECK(models::spread_kmer_scores(std::span<const float>(kmers, 1), 6) == std::vector<float>(6, 1.0f));
  std::vector<float> v = {3, 4};
  models::l2_normalize(v);
  CHECK(v[0] == doctest::Approx(0.6));
  CHECK(v[1] == doctest::Approx(0.8));
  std::vector<float> zero = {0, 0};
  models::l2_normalize(zero);
  CHECK(zero == std::vector<float>{0, 0});
  CHECK(models::bases_of("ACG CGT GTA", tokenizer::Input::Sentence) == "ACGTA");
  CHECK(models::bases_of("ACGTA", tokenizer::Input::Sequence) == "ACGTA");
}

TEST_CASE("--layers and --heads parse ranges, negatives and lists, and reject the rest") {
  auto s = models::parse_attention_spec("", "", 4, 4);
  CHECK(s.first_layer == 3);
  CHECK(s.last_layer == 3);
  CHECK(s.heads.empty());
  s = models::parse_attention_spec("1..-1", "0,2", 4, 4);
  CHECK(s.first_layer == 1);
  CHECK(s.last_layer == 3);
  CHECK(s.heads == std::vector<int>{0, 2});
  CHECK(error_of([] { models::parse_attention_spec("4", "", 4, 4); }) == "--layers: layer 4 is outside 0..3");
  CHECK(error_of([] { models::parse_attention_spec("3..1", "", 4, 4); }) == "--layers: '3..1' is an empty range");
  CHECK(error_of([] { models::parse_attention_spec("x", "", 4, 4); }) == "--layers: 'x' is not an integer");
  CHECK(error_of([] { models::parse_attention_spec("", "1,9", 4, 4); }) == "--heads: head 9 is outside 0..3");
}

TEST_CASE("dnabert attention streams [N, L] scores (N > batch), draws heatmaps, and matches the library") {
  const std::string dir = tiny_model_dir("interp_cli_model", 2, 12);
  engine::Rng rng(3, 1);
  std::string text = "sequence,label\n";
  std::vector<std::string> seqs;
  for (int i = 0; i < 7; ++i) {
    std::string s;
    for (int j = 0; j < 20 + 3 * i; ++j) s += "ACGT"[rng.below(4)];
    seqs.push_back(s);
    text += s + "," + std::to_string(i % 2) + "\n";
  }
  const std::string csv = write_file("interp.csv", text), out = temp_path("interp_out/atten.npy");
  std::filesystem::create_directories(temp_path("interp_out"));
  const CliRun r = run_cli("attention --model " + dir + " --input " + csv + " --out " + out + " --batch 3 --plot 2 --layers 0..1");
  REQUIRE_MESSAGE(r.status == 0, r.output);
  const engine::Tensor a = io::read_npy(out);
  const int64_t width = 20 + 3 * 6;
  REQUIRE(a.shape() == engine::Dims{7, width});
  models::LoadedModel lm = models::load_model(dir, models::Heads::None);
  tokenizer::KmerTokenizer tok(lm.vocab);
  engine::Arena arena;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const auto want = models::nucleotide_attention(*lm.model, {tok.encode(seqs[i]).ids}, 3, {0, 1, {}}, arena)[0];
    REQUIRE(want.size() == seqs[i].size());
    double norm = 0;
    for (int64_t j = 0; j < width; ++j) {
      const float got = a.f32()[static_cast<int64_t>(i) * width + j];
      if (j < static_cast<int64_t>(want.size())) {
        CHECK(got == doctest::Approx(want[static_cast<size_t>(j)]).epsilon(1e-5));
        norm += double(got) * got;
      } else {
        CHECK(got == 0.0f);  // zero padding after the sequence
      }
    }
    CHECK(norm == doctest::Approx(1.0).epsilon(1e-5));
  }
  CHECK(std::filesystem::exists(temp_path("interp_out/atten_0.svg")));
  CHECK(std::filesystem::exists(temp_path("interp_out/atten_1.svg")));
  CHECK_FALSE(std::filesystem::exists(temp_path("interp_out/atten_2.svg")));
  CHECK(slurp(temp_path("interp_out/atten_0.svg")).find(">" + std::string(1, seqs[0][0]) + "</text>") != std::string::npos);

  const CliRun bad = run_cli("attention --model " + dir + " --input " + csv + " --out " + out + " --heads 7");
  CHECK(bad.status == 2);
  CHECK(bad.output.find("--heads: head 7 is outside 0..3") != std::string::npos);
}
