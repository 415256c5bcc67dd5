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
