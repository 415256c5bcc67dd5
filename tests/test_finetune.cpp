// Fine-tuning and prediction end to end on a small model: the model learns an
// easy motif task, the outputs are written, the best checkpoint reloads, and
// `dnabert predict` reproduces the test metrics that finetune reported.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "engine/rng.h"
#include "io/checkpoint.h"
#include "models/bert.h"
#include "models/finetune.h"
#include "tests/test_util.h"
#include "tokenizer/vocab.h"

using namespace dnabert;
using namespace dnabert::testing;
namespace fs = std::filesystem;

namespace {

// A randomly initialised 3-mer model directory (fine-tuning does not need pretraining to run).
std::string micro_model(const std::string& name) {
  models::BertConfig c = models::BertConfig::preset("tiny", 69);
  c.num_hidden_layers = 2;
  c.hidden_size = 32;
  c.num_attention_heads = 2;
  c.intermediate_size = 64;
  c.max_position_embeddings = 64;
  c.hidden_dropout_prob = c.attention_probs_dropout_prob = 0.0f;
  models::Bert bert(c, models::Heads::MaskedLM);
  bert.init(5);
  io::CheckpointData d;
  d.config = c.to_json();
  for (size_t i = 0; i < bert.params().size(); ++i) d.weights.push_back({bert.params().name(i), bert.params()[i]});
  d.vocab_text = tokenizer::Vocab::kmer(3).to_text();
  const std::string dir = temp_path(name);
  io::write_checkpoint(dir, d);
  return dir;
}

// GUE-style CSV: 40 random bases; label 1 iff GGGGGGGG was written at a random place.
std::string motif_csv(const std::string& name, int n, uint64_t seed) {
  engine::Rng rng(seed, 1);
  std::string text = "sequence,label\n";
  for (int i = 0; i < n; ++i) {
    std::string s;
    for (int j = 0; j < 40; ++j) s += "ACGT"[rng.below(4)];
    const int label = i % 2;
    if (label) s.replace(rng.below(32), 8, "GGGGGGGG");
    text += s + "," + std::to_string(label) + "\n";
  }
  return write_file(name, text);
}

}  // namespace

TEST_CASE("finetune learns a motif, keeps the best dev checkpoint and evaluates it on test") {
  const std::string model = micro_model("ft_init");
  models::FinetuneOptions o;
  o.init = model;
  o.train = motif_csv("train.csv", 400, 1);
  o.dev = motif_csv("dev.csv", 100, 2);
  o.test = motif_csv("test.csv", 100, 3);
  o.out = temp_path("ft_out");
  o.epochs = 6;
  o.lr = 2e-3;
  o.batch = 16;
  o.warmup_ratio = 0.1;
  o.metric = "mcc";
  o.seed = 3;
  std::vector<models::FinetuneEpoch> epochs;
  models::FinetuneCallbacks cb;
  cb.on_epoch = [&](const models::FinetuneEpoch& e) { epochs.push_back(e); };
  models::FinetuneResult r = models::finetune(o, cb);
  REQUIRE(epochs.size() == 6);
  MESSAGE("dev mcc by epoch: " << epochs[0].dev.mcc << " ... " << epochs.back().dev.mcc << "; test acc "
                               << r.test.accuracy << " mcc " << r.test.mcc);
  CHECK(r.has_test);
  CHECK(r.test.accuracy > 0.85);
  // The kept checkpoint is the epoch with the best dev MCC.
  double best = -2;
  int best_epoch = 0;
  for (const auto& e : epochs)
    if (e.dev.mcc > best) best = e.dev.mcc, best_epoch = e.epoch;
  CHECK(r.best_epoch == best_epoch);
  CHECK(r.best_dev.mcc == best);

  auto results = nlohmann::json::parse(slurp(o.out + "/eval_results.json"));
  CHECK(results["best_epoch"] == best_epoch);
  CHECK(results["test"]["accuracy"].get<double>() == doctest::Approx(r.test.accuracy));
  CHECK(slurp(o.out + "/eval_results.tsv").rfind("split\tnum_examples\taccuracy", 0) == 0);
  CHECK(slurp(o.out + "/confusion_matrix.txt").find("test:") != std::string::npos);
  auto config = nlohmann::json::parse(slurp(o.out + "/best/config.json"));
  CHECK(config["num_labels"] == 2);
  CHECK(config["architectures"][0] == "BertForSequenceClassification");
  CHECK(fs::exists(o.out + "/best/label_map.json"));

  // predict on the test file gives the accuracy finetune reported.
  CliRun p = run_cli("predict --model " + o.out + "/best --input " + o.test + " --out " + temp_path("preds.tsv"));
  INFO(p.output);
  REQUIRE(p.status == 0);
  std::ifstream preds(temp_path("preds.tsv"));
  std::string line;
  std::getline(preds, line);
  CHECK(line == "id\tprob_0\tprob_1\tpredicted");
  int rows = 0, correct = 0;
  while (std::getline(preds, line)) {
    const int label = rows % 2;  // motif_csv alternates the labels
    correct += line.back() - '0' == label;
    ++rows;
  }
  CHECK(rows == 100);
  CHECK(static_cast<double>(correct) / rows == doctest::Approx(r.test.accuracy));
}

TEST_CASE("finetune errors name the file and the cause") {
  const std::string model = micro_model("ft_init_err");
  models::FinetuneOptions o;
  o.init = model;
  o.train = write_file("one_class.csv", "sequence,label\nACGTACGT,1\nGGGGCCCC,1\n");
  o.dev = o.train;
  o.out = temp_path("ft_err");
  CHECK(error_of([&] { models::finetune(o); }) == o.train + ": fine-tuning needs at least two classes, found 1");
  o.train = motif_csv("t2.csv", 10, 4);
  o.dev = write_file("dev_new_label.csv", "sequence,label\nACGTACGT,1\nGGGGCCCC,7\n");
  CHECK(error_of([&] { models::finetune(o); }).find("dev_new_label.csv: line 3") != std::string::npos);
  o.dev = o.train;
  o.max_len = 100;
  CHECK(error_of([&] { models::finetune(o); }) == "--max-len 100 exceeds the model's max_position_embeddings 64");
}
