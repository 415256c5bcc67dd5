// Fine-tuning and prediction end to end on a small model: the model learns an
// easy motif task, the outputs are written, the best checkpoint reloads, and
// `dnabert predict` reproduces the test metrics that finetune reported.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/rng.h"
#include "engine/threads.h"
#include "io/formats/checkpoint.h"
#include "models/network/bert.h"
#include "models/training/finetune.h"
#include "models/training/gue_protocol.h"
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
  std::vector<models::FinetuneEvaluation> epochs;
  models::FinetuneCallbacks cb;
  cb.on_evaluation = [&](const models::FinetuneEvaluation& e) { epochs.push_back(e); };
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

  // Without --eval-steps dev is scored at each epoch's end: 400 examples in batches of 16 are 25 steps an epoch.
  for (const auto& e : epochs) CHECK(e.step == 25 * e.epoch);
  CHECK(r.best_step == 25 * best_epoch);
  auto results = nlohmann::json::parse(slurp(o.out + "/eval_results.json"));
  CHECK(results["best_epoch"] == best_epoch);
  CHECK(results["best_step"] == 25 * best_epoch);
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
    // chrB (25 bp) is shorter than the window: skipped with a count, not scored whole.
    CHECK(intervals == std::vector<std::string>{"chrA:10-30", "chrA:30-50", "chrA:50-70", "chrA:70-90"});
    CHECK(sc.output.find("1 record shorter than --window 40 bp skipped") != std::string::npos);
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
  CHECK(error_of([&] { models::finetune(o); }) == "--max-len: must be an integer in 3..64 (max_position_embeddings of " +
                                                     o.init + "/config.json), got 100");
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

namespace {

std::vector<nlohmann::json> log_lines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream log(slurp(out + "/log.jsonl"));
  for (std::string line; std::getline(log, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

}  // namespace

TEST_CASE("--eval-steps scores dev every N steps and after the last, keeps the best of them, same bits on 1 and 2 threads") {
  const std::string model = micro_model("ft_init_steps");
  models::FinetuneOptions o;
  o.init = model;
  o.train = motif_csv("st_train.csv", 40, 21);  // 40 examples in batches of 8: 5 steps an epoch, 10 in all
  o.dev = motif_csv("st_dev.csv", 32, 22);
  o.epochs = 2;
  o.batch = 8;
  o.lr = 3e-3;
  o.seed = 7;
  o.eval_steps = 3;
  o.metric = "auc";
  std::vector<models::FinetuneEvaluation> evals;
  models::FinetuneCallbacks cb;
  cb.on_evaluation = [&](const models::FinetuneEvaluation& e) { evals.push_back(e); };
  auto run = [&](int threads, const std::string& out) {
    engine::set_num_threads(threads);
    evals.clear();
    o.out = temp_path(out);
    models::FinetuneResult r = models::finetune(o, cb);
    engine::set_num_threads(0);
    return r;
  };
  const models::FinetuneResult r = run(1, "st_one");

  // Steps 3, 6 and 9, then the last step, 10; not at the end of epoch 1 (step 5).
  const std::vector<nlohmann::json> lines = log_lines(o.out);
  REQUIRE(lines.size() == 4);
  REQUIRE(evals.size() == 4);
  const std::vector<int64_t> want_steps = {3, 6, 9, 10};
  const std::vector<int> want_epochs = {1, 2, 2, 2};
  for (size_t i = 0; i < lines.size(); ++i) {
    CAPTURE(i);
    CHECK(lines[i]["step"].get<int64_t>() == want_steps[i]);
    CHECK(lines[i]["epoch"].get<int>() == want_epochs[i]);
    CHECK(lines[i]["epochs_done"].get<double>() == doctest::Approx(want_steps[i] / 5.0));
    CHECK(lines[i]["dev"]["mcc"].get<double>() == evals[i].dev.mcc);
    CHECK(evals[i].step == want_steps[i]);
    CHECK(evals[i].total_steps == 10);
  }

  // The kept checkpoint is the evaluation with the best dev score (AUC here: MCC stays 0 this early), the
  // first of equals.
  size_t best = 0;
  for (size_t i = 1; i < evals.size(); ++i)
    if (evals[i].dev.auc > evals[best].dev.auc) best = i;
  MESSAGE("dev auc at steps 3, 6, 9, 10: " << evals[0].dev.auc << " " << evals[1].dev.auc << " " << evals[2].dev.auc
                                           << " " << evals[3].dev.auc << "; best step " << r.best_step);
  const int64_t best_step = evals[best].step;
  CHECK(r.best_step == best_step);
  CHECK(r.best_epoch == evals[best].epoch);
  CHECK(r.best_dev.auc == evals[best].dev.auc);
  CHECK(r.best_score == evals[best].score);
  auto results = nlohmann::json::parse(slurp(o.out + "/eval_results.json"));
  CHECK(results["best_step"].get<int64_t>() == best_step);
  CHECK(results["best_epoch"].get<int>() == evals[best].epoch);
  CHECK(results["dev"]["auc"].get<double>() == evals[best].dev.auc);

  // best/ holds the weights after that step: a run that scores dev first at that step (evaluation does not
  // change training) keeps the same bits as its first best.
  const std::string best_weights = slurp(o.out + "/best/model.safetensors");
  o.eval_steps = best_step;
  run(2, "st_at_best");
  CHECK(slurp(o.out + "/best/model.safetensors") == best_weights);
  // A run scoring dev only after the last step keeps other weights, unless step 10 was the best.
  o.eval_steps = 10;
  run(2, "st_last");
  CHECK((slurp(o.out + "/best/model.safetensors") == best_weights) == (best_step == 10));

  // 2 threads: the same log and the same best checkpoint, bit for bit.
  o.eval_steps = 3;
  run(2, "st_two");
  CHECK(slurp(temp_path("st_two/log.jsonl")) == slurp(temp_path("st_one/log.jsonl")));
  CHECK(slurp(temp_path("st_two/best/model.safetensors")) == best_weights);
  CHECK(slurp(temp_path("st_two/eval_results.json")) == slurp(temp_path("st_one/eval_results.json")));
}

TEST_CASE("--warmup-steps sets the linear warm-up, replacing --warmup-ratio, capped at the number of steps") {
  const std::string model = micro_model("ft_init_warmup");
  models::FinetuneOptions o;
  o.init = model;
  o.train = motif_csv("wu_train.csv", 40, 31);  // 5 steps an epoch, 10 in all
  o.dev = motif_csv("wu_dev.csv", 8, 32);
  o.epochs = 2;
  o.batch = 8;
  o.lr = 1e-3;
  o.eval_steps = 1;  // one log line per step, with the learning rate of that step's update
  auto lrs = [&](const std::string& out) {
    o.out = temp_path(out);
    models::finetune(o);
    std::vector<double> lr;
    for (const auto& line : log_lines(o.out)) lr.push_back(line["lr"].get<double>() / o.lr);
    return lr;
  };
  auto check = [](const std::vector<double>& got, const std::vector<double>& want) {
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      CAPTURE(i);
      CHECK(got[i] == doctest::Approx(want[i]));
    }
  };
  // Update t uses peak · λ(t - 1): (t - 1)/4 during the 4 warm-up steps, then linear decay to 0 at step 10.
  o.warmup_ratio = 0.5;  // ignored: --warmup-steps is given
  o.warmup_steps = 4;
  check(lrs("wu_4"), {0, 0.25, 0.5, 0.75, 1, 5 / 6.0, 4 / 6.0, 3 / 6.0, 2 / 6.0, 1 / 6.0});
  // 50 steps asked for a 10-step run: warm-up over all 10.
  o.warmup_steps = 50;
  check(lrs("wu_50"), {0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9});
  // Without --warmup-steps, the ratio: 0.2 of 10 steps.
  o.warmup_steps = -1;
  o.warmup_ratio = 0.2;
  check(lrs("wu_ratio"), {0, 0.5, 1, 7 / 8.0, 6 / 8.0, 5 / 8.0, 4 / 8.0, 3 / 8.0, 2 / 8.0, 1 / 8.0});
}

TEST_CASE("--protocol gue: lr, batch, warm-up, evaluation and epochs by task family; given flags win") {
  CHECK(models::gue_task_family("../shared/data/gue/tf_human_0/train.csv.gz") == "tf");
  CHECK(models::gue_task_family("GUE/tf/3/train.csv") == "tf");
  CHECK(models::gue_task_family("GUE/prom/prom_core_tata/train.csv") == "prom_core_tata");
  CHECK(models::gue_task_family("/data/tf_old/gue/prom_300_all/dev.csv") == "prom_300_all");  // innermost first
  CHECK(models::gue_task_family("GUE/EMP/H3K4me1/train.csv") == "EMP");
  CHECK(models::gue_task_family("GUE/mouse/0/train.csv") == "mouse");
  CHECK(models::gue_task_family("gue/mouse_2/train.csv") == "mouse");
  CHECK(models::gue_task_family("GUE/splice/reconstructed/train.csv") == "splice");
  CHECK(models::gue_task_family("GUE/virus/covid/train.csv") == "covid");
  CHECK(models::gue_task_family("data/prom_core_other/train.csv") == "");
  CHECK(models::gue_task_family("tests/data/labelled/train.csv") == "");
  CHECK(models::gue_epochs("prom_core_tata") == 10);
  CHECK(models::gue_epochs("prom_core_notata") == 4);
  CHECK(models::gue_epochs("tf") == 3);
  CHECK(models::gue_epochs("mouse") == 5);
  CHECK(models::gue_epochs("covid") == 9);

  models::FinetuneOptions defaults;
  defaults.train = "../shared/data/gue/prom_core_tata/train.csv.gz";
  models::FinetuneOptions o = defaults;
  const std::string summary = models::apply_protocol(o, "gue", "", {});
  CHECK(o.lr == 3e-5);
  CHECK(o.batch == 32);
  CHECK(o.warmup_steps == 50);
  CHECK(o.eval_steps == 200);
  CHECK(o.metric == "mcc");
  CHECK(o.epochs == 10);
  CHECK(summary == "protocol gue (task family prom_core_tata from ../shared/data/gue/prom_core_tata/train.csv.gz): "
                   "lr 3e-05, batch 32, warm-up 50 steps, dev every 200 steps, metric mcc, 10 epochs");
  // --gue-task wins over the path; flags given on the command line keep their values.
  o = defaults;
  o.epochs = 2;
  o.lr = 1e-4;
  o.warmup_ratio = 0.1;
  models::apply_protocol(o, "gue", "tf_human_3", {"epochs", "lr", "warmup-ratio"});
  CHECK(o.epochs == 2);
  CHECK(o.lr == 1e-4);
  CHECK(o.warmup_steps == -1);  // the given ratio applies
  CHECK(o.batch == 32);
  o = defaults;
  models::apply_protocol(o, "gue", "tf_human_3", {});
  CHECK(o.epochs == 3);
  o = defaults;
  o.train = "runs/mouse_4/pos.fa:1,runs/mouse_4/neg.fa:0";
  o.batch = 16;
  models::apply_protocol(o, "gue", "", {"eval-steps", "batch"});
  CHECK(o.epochs == 5);
  CHECK(o.eval_steps == 0);
  CHECK(o.batch == 16);
  // No protocol: nothing changes.
  o = defaults;
  CHECK(models::apply_protocol(o, "", "", {}).empty());
  CHECK(o.lr == defaults.lr);
  CHECK(o.epochs == defaults.epochs);
  // Unknown families.
  o = defaults;
  o.train = "mydata/train.csv";
  CHECK(error_of([&] { models::apply_protocol(o, "gue", "", {}); }) ==
        "--protocol gue: mydata/train.csv: no folder in this path names a GUE task (prom_core_all, prom_core_notata, "
        "prom_core_tata, prom_300_all, prom_300_notata, prom_300_tata, tf_*, mouse_*, EMP/H3*, splice*, covid), so "
        "the number of epochs is unknown: give --gue-task NAME or --epochs N");
  o.epochs = 7;
  models::apply_protocol(o, "gue", "", {"epochs"});
  CHECK(o.epochs == 7);
  CHECK(o.lr == 3e-5);
  CHECK(error_of([&] { models::apply_protocol(o, "gue", "enhancers", {}); }).rfind("--gue-task enhancers: not a GUE task", 0) == 0);
  CHECK(error_of([&] { models::apply_protocol(o, "", "tf_human_0", {}); }) == "--gue-task needs --protocol gue");
}

TEST_CASE("dnabert finetune --protocol gue on the command line: the protocol's settings, explicit flags kept") {
  const std::string model = micro_model("ft_init_protocol");
  const std::string train = motif_csv("gue/prom_core_tata/train.csv", 40, 41);  // 5 steps of 8
  const std::string dev = motif_csv("gue/prom_core_tata/dev.csv", 16, 42);
  const std::string out = temp_path("ft_protocol");
  CliRun run = run_cli("--threads 1 finetune --init " + model + " --train " + train + " --dev " + dev + " --out " + out +
                       " --protocol gue --epochs 1 --batch 8 --eval-steps 2");
  INFO(run.output);
  REQUIRE(run.status == 0);
  CHECK(run.output.find("protocol gue (task family prom_core_tata from " + train +
                        "): lr 3e-05, warm-up 50 steps, metric mcc; given on the command line: batch 8, dev every 2 "
                        "steps, 1 epochs") != std::string::npos);
  // Steps 2 and 4, then the last, 5; lr 3e-5 warming up over all 5 steps (50 asked): update t uses 3e-5·(t-1)/5.
  const std::vector<nlohmann::json> lines = log_lines(out);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0]["step"] == 2);
  CHECK(lines[1]["step"] == 4);
  CHECK(lines[2]["step"] == 5);
  CHECK(lines[0]["lr"].get<double>() == doctest::Approx(3e-5 * 1 / 5));
  CHECK(lines[2]["lr"].get<double>() == doctest::Approx(3e-5 * 4 / 5));
  CHECK(run.output.find("step 4/5 (epoch 1/1): train loss") != std::string::npos);
  auto results = nlohmann::json::parse(slurp(out + "/eval_results.json"));
  CHECK(results["metric"] == "mcc");
  CHECK(results.contains("best_step"));

  // A path naming no GUE task and no --epochs: a usage error that says what to give.
  const std::string plain = motif_csv("plain/train.csv", 16, 43);
  CliRun bad = run_cli("finetune --init " + model + " --train " + plain + " --dev " + plain + " --out " +
                       temp_path("ft_protocol_bad") + " --protocol gue");
  CHECK(bad.status == 2);
  CHECK(bad.output.find("dnabert: error: --protocol gue: " + plain + ": no folder in this path names a GUE task") !=
        std::string::npos);
  CHECK(bad.output.find("give --gue-task NAME or --epochs N") != std::string::npos);
  CliRun help = run_cli("finetune --help");
  CHECK(help.output.find("--eval-steps") != std::string::npos);
  CHECK(help.output.find("--warmup-steps") != std::string::npos);
  CHECK(help.output.find("--gue-task") != std::string::npos);
}
