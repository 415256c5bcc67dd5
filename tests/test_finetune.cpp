// Fine-tuning and prediction end to end on a small model: the model learns an
// easy motif task, the outputs are written, the best checkpoint reloads, and
// `dnabert predict` reproduces the test metrics that finetune reported.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/rng.h"
#include "io/checkpoint.h"
#include "models/bert.h"
#include "models/finetune.h"
#include "tests/test_util.h"
#include "tests/tiny_model.h"
#include "tokenizer/vocab.h"

using namespace dnabert;
using namespace dnabert::testing;
namespace fs = std::filesystem;

namespace {

// A randomly initialised 3-mer model directory (fine-tuning does not need pretraining to run).
std::string micro_model(const std::string& name) {
  models::BertConfig c = testing::tiny_config(models::BertConfig::preset("tiny", 69).num_labels);
  c.num_attention_heads = 2;
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
  CHECK(line == "id\tprob_0\tprob_1\tpredicted\twindows");
  int rows = 0, correct = 0;
  while (std::getline(preds, line)) {
    const int label = rows % 2;  // motif_csv alternates the labels
    const char predicted = line[line.size() - 3];
    correct += predicted - '0' == label;
    CHECK(line.back() == '1');  // 40 bp fit one window
    ++rows;
  }
  CHECK(rows == 100);
  CHECK(static_cast<double>(correct) / rows == doctest::Approx(r.test.accuracy));

  // Long sequences: 38 3-mers in windows of 10 with stride 5 start at 0, 5, ..., 25 and 28: 7 windows.
  const std::string one = write_file("one.txt", "ACGTTGCAACGTGGGGGGGGTTACGATCGATCGTAGCTAG\n");
  for (const char* agg : {"mean", "max"}) {
    CliRun w = run_cli("predict --model " + o.out + "/best --input " + one + " --max-len 12 --stride 5 --aggregate " +
                       agg + " --out " + temp_path(std::string("win_") + agg + ".tsv"));
    INFO(w.output);
    REQUIRE(w.status == 0);
    const std::string t = slurp(temp_path(std::string("win_") + agg + ".tsv"));
    CHECK(t.substr(t.size() - 3) == "\t7\n");
  }
  CHECK(slurp(temp_path("win_mean.tsv")) != slurp(temp_path("win_max.tsv")));

  // scan: a 100 bp record in 40 bp windows every 20 bp starts windows at 0, 20, 40, 60, each reported on
  // the 20 bp around its centre; a 30 bp record (shorter than a window) is one window over all of it.
  std::string rec1;
  for (int i = 0; i < 100; ++i) rec1 += "ACGT"[(i * 7 + i / 3) % 4];
  rec1.replace(45, 8, "GGGGGGGG");
  const std::string fa = write_file("scan.fa", ">chrA test\n" + rec1.substr(0, 60) + "\n" + rec1.substr(60) +
                                                   "\n>chrB\nACGTACGTACGTACGTACGTACGTACGTAC\n");
  for (const char* strands : {"", " --both-strands"}) {
    CAPTURE(strands);
    CliRun sc = run_cli("scan --model " + o.out + "/best --fasta " + fa + " --window 40 --stride 20" + strands +
                        " --out " + temp_path("scan.bedgraph"));
    INFO(sc.output);
    REQUIRE(sc.status == 0);
    std::istringstream track(slurp(temp_path("scan.bedgraph")));
    std::getline(track, line);
    CHECK(line.rfind("track type=bedGraph", 0) == 0);
    std::vector<std::string> intervals;
    std::vector<double> scores;
    std::string chrom;
    long start, end;
    double score;
    while (track >> chrom >> start >> end >> score) {
      intervals.push_back(chrom + ":" + std::to_string(start) + "-" + std::to_string(end));
      scores.push_back(score);
      CHECK((score >= 0 && score <= 1));
    }
    CHECK(intervals == std::vector<std::string>{"chrA:10-30", "chrA:30-50", "chrA:50-70", "chrA:70-90", "chrB:5-25"});
    // The windows holding the G run (starting at 20 and 40) score higher than the others on chrA.
    CHECK(std::min(scores[1], scores[2]) > std::max(scores[0], scores[3]));
  }
  CliRun bad = run_cli("scan --model " + o.out + "/best --fasta " + fa + " --window 2 --stride 1 --out " +
                       temp_path("x.bedgraph"));
  CHECK(bad.status == 2);
  CHECK(bad.output.find("--window must be at least k") != std::string::npos);
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

TEST_CASE("regression (MSE) and multi-label (BCE) fine-tuning learn simple targets") {
  const std::string model = micro_model("ft_init_tasks");
  // Regression: the target is the G+C fraction of the sequence; multi-label: "g" if a run of 8 G
  // was written in, "t" if a run of 8 T was, "none" if neither.
  auto make = [](const std::string& name, int n, uint64_t seed, bool regression) {
    engine::Rng rng(seed, 9);
    std::string text = "sequence,label\n";
    for (int i = 0; i < n; ++i) {
      std::string s;
      const double gc = static_cast<double>(rng.below(1000)) / 1000.0;
      for (int j = 0; j < 40; ++j) {
        const bool strong = rng.uniform() < gc;
        s += strong ? "GC"[rng.below(2)] : "AT"[rng.below(2)];
      }
      if (regression) {
        int g = 0;
        for (char c : s) g += c == 'G' || c == 'C';
        text += s + "," + std::to_string(g / 40.0) + "\n";
        continue;
      }
      const bool has_g = i % 3 != 0, has_t = i % 4 < 2;
      if (has_g) s.replace(rng.below(12), 8, "GGGGGGGG");
      if (has_t) s.replace(20 + rng.below(12), 8, "TTTTTTTT");
      text += s + "," + (has_g && has_t ? "g;t" : has_g ? "g" : has_t ? "t" : "none") + "\n";
    }
    return write_file(name, text);
  };
  models::FinetuneOptions o;
  o.init = model;
  o.epochs = 6;
  o.lr = 2e-3;
  o.batch = 16;
  o.seed = 4;

  o.task = "regression";
  o.train = make("reg_train.csv", 400, 1, true);
  o.dev = make("reg_dev.csv", 100, 2, true);
  o.test = make("reg_test.csv", 100, 3, true);
  o.out = temp_path("ft_reg");
  models::FinetuneResult r = models::finetune(o);
  MESSAGE("regression test: " << r.test_json.dump());
  CHECK(r.metric == "pearson");
  CHECK(r.test_json["pearson"].get<double>() > 0.8);
  auto config = nlohmann::json::parse(slurp(o.out + "/best/config.json"));
  CHECK(config["problem_type"] == "regression");
  CHECK(config["num_labels"] == 1);
  CHECK(slurp(o.out + "/eval_results.tsv").rfind("split\tmse\tmae\tr2\tpearson\tspearman\n", 0) == 0);
  CliRun pr = run_cli("predict --model " + o.out + "/best --input " + o.test + " --out " + temp_path("reg.tsv"));
  REQUIRE(pr.status == 0);
  {
    std::istringstream lines(slurp(temp_path("reg.tsv")));
    std::string header, row;
    std::getline(lines, header);
    CHECK(header == "id\tvalue\twindows");
    std::getline(lines, row);  // row1: a number near the first example's G+C fraction
    const double value = std::stod(row.substr(row.find('\t') + 1));
    const std::string first = slurp(o.test).substr(15, 40);
    int g = 0;
    for (char c : first) g += c == 'G' || c == 'C';
    CHECK(value == doctest::Approx(g / 40.0).epsilon(0.1));
  }

  o.task = "multilabel";
  o.train = make("ml_train.csv", 400, 4, false);
  o.dev = make("ml_dev.csv", 100, 5, false);
  o.test = make("ml_test.csv", 100, 6, false);
  o.out = temp_path("ft_ml");
  r = models::finetune(o);
  MESSAGE("multi-label test: " << r.test_json.dump());
  CHECK(r.metric == "f1");
  CHECK(r.test_json["f1_macro"].get<double>() > 0.8);
  config = nlohmann::json::parse(slurp(o.out + "/best/config.json"));
  CHECK(config["problem_type"] == "multi_label_classification");
  CHECK(config["id2label"] == nlohmann::json{{"0", "g"}, {"1", "none"}, {"2", "t"}});
  pr = run_cli("predict --model " + o.out + "/best --input " + o.test + " --out " + temp_path("ml.tsv"));
  REQUIRE(pr.status == 0);
  CHECK(slurp(temp_path("ml.tsv")).rfind("id\tprob_g\tprob_none\tprob_t\tpredicted\twindows\n", 0) == 0);

  // Errors: a non-number in a regression set, a label unseen in training, a metric of another task.
  o.task = "regression";
  o.train = write_file("reg_bad.csv", "sequence,label\nACGTACGT,0.5\nGGGGCCCC,high\n");
  CHECK(error_of([&] { models::finetune(o); }).find("label 'high' is not a number (task regression)") !=
        std::string::npos);
  o.task = "multilabel";
  o.train = make("ml_train2.csv", 20, 7, false);
  o.dev = write_file("ml_dev_bad.csv", "sequence,label\nACGTACGT,g;x\n");
  CHECK(error_of([&] { models::finetune(o); }).find("label 'x' does not occur in training") != std::string::npos);
  o.metric = "mcc";
  CHECK(error_of([&] { models::finetune(o); }) == "--metric mcc does not fit this task (choose auc, f1)");
}

TEST_CASE("--random-init starts from the seeded init, not the pretrained weights, and is reproducible") {
  // With every layer frozen, the encoder weights of best/ are the weights training started from.
  const std::string model = micro_model("ft_init_random");
  models::FinetuneOptions o;
  o.init = model;
  o.train = motif_csv("ri_train.csv", 32, 11);
  o.dev = motif_csv("ri_dev.csv", 16, 12);
  o.epochs = 1;
  o.batch = 16;
  o.lr = 1e-3;
  o.seed = 9;
  o.freeze_layers = 2;
  auto encoder = [](const std::string& dir) {
    std::map<std::string, std::vector<float>> w;
    for (const auto& t : io::read_checkpoint(dir, false).weights)
      if (t.name.rfind("bert.embeddings.", 0) == 0 || t.name.rfind("bert.encoder.", 0) == 0)
        w[t.name] = t.tensor.to_vector();
    return w;
  };
  auto run = [&](bool random_init, const std::string& out) {
    o.random_init = random_init;
    o.out = temp_path(out);
    models::finetune(o);
    return encoder(o.out + "/best");
  };
  const auto pretrained = run(false, "ri_pretrained"), random1 = run(true, "ri_random1"),
             random2 = run(true, "ri_random2");
  REQUIRE(pretrained.size() == 2 * 16 + 5);  // 3 embeddings + LayerNorm (2), 16 tensors per layer
  CHECK(pretrained == encoder(model));

  // The seeded HF init of the same architecture: N(0, 0.02), LayerNorm 1/0, zero biases and [PAD] row.
  models::BertConfig c = models::BertConfig::from_json(nlohmann::json::parse(slurp(model + "/config.json")));
  c.num_labels = 2;
  models::Bert fresh(c, models::Heads::Classification);
  fresh.init(o.seed);
  std::map<std::string, std::vector<float>> expected;
  for (size_t i = 0; i < fresh.params().size(); ++i)
    if (random1.count(fresh.params().name(i))) expected[fresh.params().name(i)] = fresh.params()[i].to_vector();
  CHECK(random1 == expected);
  CHECK(random1 == random2);
  CHECK(random1 != pretrained);
  CHECK(slurp(temp_path("ri_random1/eval_results.json")) == slurp(temp_path("ri_random2/eval_results.json")));
}
