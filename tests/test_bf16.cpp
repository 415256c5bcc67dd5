// --precision bf16 end to end: the tiny BERT fixture (tests/test_bert.cpp)
// runs forward and backward with bf16 GEMMs and stays close to fp32. The
// GEMM kernels themselves are tested in tests/test_kernels.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "io/formats/safetensors.h"
#include "models/network/bert.h"
#include "ops/kernels/kernels.h"
#include "tests/test_util.h"

using namespace dnabert;
using engine::Tensor;
namespace k = dnabert::ops::kernels;

namespace {

const std::string kFixtures = std::string(DNABERT_SOURCE_DIR) + "/tests/fixtures/";

// max |a - b| / max |b|: the error relative to the tensor's scale.
double rel_error(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    num = std::max(num, std::fabs(double(got[i]) - want[i]));
    den = std::max(den, std::fabs(double(want[i])));
  }
  return num / den;
}

struct Run {
  std::vector<float> logits, loss, grad;  // grad: every parameter gradient, concatenated
};

// Forward (logits, MLM loss) and backward of the fixture model at one precision.
Run run_bert(k::Precision precision) {
  k::select_precision(precision);
  io::SafetensorsFile f = io::read_safetensors(kFixtures + "bert_tiny_mlm.safetensors");
  models::Bert bert(models::BertConfig::load(kFixtures + "bert_tiny_config.json"), models::Heads::MaskedLM);
  std::vector<io::NamedTensor> weights;
  for (const auto& [name, t] : f.tensors) weights.push_back({name, t});
  bert.load_weights(weights, "bert_tiny_mlm.safetensors");
  engine::Arena arena;
  engine::Tape tape(arena);
  Tensor hidden = bert.encode(
      tape, {f.tensors.at("input_ids"), f.tensors.at("token_type_ids"), f.tensors.at("attention_mask")}, {});
  Tensor logits;
  Tensor loss = bert.mlm_loss(tape, hidden, f.tensors.at("labels"), &logits);
  bert.params().zero_grad();
  tape.backward(loss);
  Run r{logits.to_vector(), loss.to_vector(), {}};
  for (size_t i = 0; i < bert.params().size(); ++i) {
    auto g = bert.params()[i].grad().to_vector();
    r.grad.insert(r.grad.end(), g.begin(), g.end());
  }
  k::select_precision(k::Precision::F32);
  return r;
}

}  // namespace

TEST_CASE("a BERT forward and backward in bf16 stays close to fp32") {
  const k::Isa isa = k::selected_isa();
  const std::string path = std::string(k::isa_name(isa)) + " " + k::bf16_gemm_kind(isa);
  CAPTURE(path);
  const Run f32 = run_bert(k::Precision::F32), bf16 = run_bert(k::Precision::BF16);
  const double e_logits = rel_error(bf16.logits, f32.logits), e_loss = rel_error(bf16.loss, f32.loss),
               e_grad = rel_error(bf16.grad, f32.grad);
  MESSAGE("bf16 vs fp32, relative to each tensor's largest entry: logits " << e_logits << ", loss " << e_loss
                                                                          << ", gradients " << e_grad);
  // Bound: rounding both inputs of a product moves it by at most 2·2^-9
  // relative, so one GEMM output moves by at most 2^-8 ≈ 0.0039 of Σ|a·b|.
  // Logits come out of 2 layers × 6 GEMMs + the head's 2, each adding its
  // share to what LayerNorm carries forward: 14 × 2^-8 ≈ 0.055 in the worst
  // case where every error adds up in one direction; random signs make the
  // typical error ~10× smaller. 0.03 lies between.
  CHECK(e_logits < 0.03);
  CHECK(e_loss < 0.03);
  CHECK(e_grad < 0.06);  // the backward pass runs two GEMMs per forward one: about twice the bound
  // And bf16 was really used: fp32 would agree to ~1e-6.
  CHECK(e_logits > 1e-4);
}

TEST_CASE("--precision is a global flag, shown by --version, and rejects unknown names") {
  using dnabert::testing::run_cli;
  const std::string kind = k::bf16_gemm_kind(k::selected_isa());
  auto r = run_cli("--precision bf16 --backend native --version");
  CHECK(r.status == 0);
  CHECK(r.output.find("gemm backend native, precision bf16 (" + kind + ")") != std::string::npos);
  r = run_cli("--precision bf16 --backend onednn --version");
  CHECK(r.output.find("gemm backend onednn, precision bf16 (oneDNN matmul") != std::string::npos);
  r = run_cli("--version");
  CHECK(r.output.find("precision f32,") != std::string::npos);
  r = run_cli("--version --precision fp32");  // after the flag that runs, as after a subcommand
  CHECK(r.output.find("precision f32,") != std::string::npos);
  r = run_cli("--precision fp16 --version");
  CHECK(r.status == 2);
  CHECK(r.output.find("dnabert: error: unknown precision 'fp16' (choose f32 or bf16)") != std::string::npos);
}
