// Training that blows up must stop with an error, not report success: a
// learning rate far too high, a regression label of 1e20. A stray class label
// is warned of, naming the class and the example.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "tests/test_util.h"

using namespace dnabert::testing;
namespace fs = std::filesystem;

namespace {

const std::string kLambda = source_path("tests/data/genomes/lambda_phage.fa.gz");
const std::string kPretrain =
    "pretrain --fasta " + kLambda + " --k 3 --config tiny --max-len 24 --batch 4 --eval-every 0 --eval-batches 1";


// A CSV of `n` random 30-base sequences; label(i) gives row i's label.
std::string csv(const std::string& name, int n, const std::function<std::string(int)>& label) {
  std::mt19937 rng(7);
  std::string text = "sequence,label\n";
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < 30; ++j) text += "ACGT"[rng() % 4];
    text += "," + label(i) + "\n";
  }
  return write_file(name, text);
}

// A 1-step pretrained tiny 3-mer model to fine-tune from.
std::string base_model() {
  static const std::string dir = [] {
    const std::string out = scratch_dir("base");
    const CliRun r = run_cli(kPretrain + " --steps 1 --out " + out);
    REQUIRE_MESSAGE(r.status == 0, r.output);
    return out + "/model";
  }();
  return dir;
}

}  // namespace

TEST_CASE("pretrain with a learning rate that blows the loss up stops with an error and writes no model") {
  const std::string out = scratch_dir("lr30");
  const CliRun r = run_cli(kPretrain + " --steps 60 --warmup 1 --save-every 5 --lr 30 --out " + out);
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(has(r.output, "pretrain: training diverged at step "));
  CHECK(has(r.output, "Lower --lr (now 30)"));
  CHECK_FALSE(fs::exists(out + "/model"));  // no model from a diverged run
  CHECK(fs::exists(out + "/log.jsonl"));
}

TEST_CASE("fine-tuning on a regression label of 1e20 stops at the infinite loss") {
  const std::string train = csv("reg_train.csv", 40, [](int i) { return i == 5 ? std::string("1e20") : "0.5"; });
  const std::string dev = csv("reg_dev.csv", 8, [](int) { return std::string("0.5"); });
  const std::string before = slurp(train), out = scratch_dir("reg");
  const CliRun r = run_cli("finetune --init " + base_model() + " --train " + train + " --dev " + dev +
                           " --task regression --epochs 1 --batch 8 --out " + out);
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(has(r.output, "finetune: training diverged at step "));
  CHECK(has(r.output, "the loss is inf"));
  CHECK(has(r.output, "rescale the labels"));
  CHECK_FALSE(fs::exists(out + "/best/model.safetensors"));
  CHECK(slurp(train) == before);
}

TEST_CASE("a stray class label is warned of, naming the class and the example") {
  const std::string train = csv("cls_train.csv", 300, [](int i) { return i == 6 ? std::string("abc") : std::to_string(i % 2); });
  const std::string dev = csv("cls_dev.csv", 20, [](int i) { return std::to_string(i % 2); });
  const CliRun r = run_cli("finetune --init " + base_model() + " --train " + train + " --dev " + dev +
                           " --epochs 1 --batch 32 --out " + scratch_dir("stray"));
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(has(r.output, "warning: " + train + ": class 'abc' has only 1 of 300 examples (example 7)"));
  CHECK(has(r.output, "warning: " + dev + ": class 'abc' of the training set never occurs here"));
  // The balanced classes draw no warning.
  CHECK_FALSE(has(r.output, "class '0' has only"));
  CHECK_FALSE(has(r.output, "class '1' has only"));
}
