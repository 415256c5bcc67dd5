// Pretraining end to end on a small genome: the loss falls, a resumed run ends
// bit-identical to an uninterrupted one, and 1 and 2 threads write the same
// bytes. Also `dnabert pretrain` / `dnabert embed` from the command line.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/threads.h"
#include "io/formats/npy.h"
#include "models/training/pretrain.h"
#include "tests/test_util.h"

using namespace dnabert;
namespace fs = std::filesystem;

using namespace dnabert::testing;

namespace {

const std::string kLambda = std::string(DNABERT_SOURCE_DIR) + "/tests/data/genomes/lambda_phage.fa.gz";

models::PretrainOptions micro_options(const std::string& out) {
  models::PretrainOptions o;
  o.fasta = {kLambda};
  o.k = 3;
  o.config = models::BertConfig::preset("tiny", 69);
  o.config.num_hidden_layers = 2;
  o.config.hidden_size = 32;
  o.config.num_attention_heads = 2;
  o.config.intermediate_size = 64;
  o.max_len = 40;
  o.batch = 6;
  o.grad_accum = 2;
  o.steps = 8;
  o.warmup = 2;
  o.lr = 1e-3;
  o.mlm_probability = 0.05;
  o.eval_every = 4;
  o.eval_batches = 2;
  o.save_every = 4;
  o.keep_last = 0;
  o.shuffle_buffer = 16;
  o.seed = 7;
  o.out = out;
  return o;
}

}  // namespace

TEST_CASE("a resumed run ends bit-identical to the run that was never stopped") {
  const std::string a = scratch_dir("uninterrupted"), b = scratch_dir("resumed");
  models::PretrainResult ra = models::pretrain(micro_options(a));
  CHECK(ra.steps_done == 8);
  CHECK(fs::exists(a + "/checkpoint-4/optimizer.safetensors"));
  CHECK(fs::exists(a + "/checkpoint-8/trainer_state.json"));
  CHECK(fs::exists(a + "/loss.svg"));
  CHECK(slurp(a + "/loss.svg").find("<svg") == 0);

  models::PretrainOptions ob = micro_options(b);
  ob.resume = a + "/checkpoint-4";
  models::PretrainResult rb = models::pretrain(ob);
  CHECK(rb.steps_done == 8);
  const std::string wa = slurp(a + "/model/model.safetensors"), wb = slurp(b + "/model/model.safetensors");
  CHECK(wa.size() > 1000);
  CHECK(wa == wb);
  CHECK(slurp(a + "/checkpoint-8/optimizer.safetensors") == slurp(b + "/checkpoint-8/optimizer.safetensors"));
  CHECK(ra.last_eval.loss == rb.last_eval.loss);

  // Resuming with other settings is refused.
  models::PretrainOptions bad = micro_options(scratch_dir("bad"));
  bad.resume = a + "/checkpoint-4";
  bad.batch = 5;
  CHECK_THROWS_WITH_AS(models::pretrain(bad),
                       doctest::Contains("checkpoint was written with different settings"), Error);
}

TEST_CASE("the same seed writes byte-identical weights with 1 and 2 threads") {
  const std::string one = scratch_dir("threads1"), two = scratch_dir("threads2");
  models::PretrainOptions o1 = micro_options(one), o2 = micro_options(two);
  o1.steps = o2.steps = 30;
  o1.save_every = o2.save_every = 0;
  engine::set_num_threads(1);
  models::PretrainResult r1 = models::pretrain(o1);
  engine::set_num_threads(2);
  models::PretrainResult r2 = models::pretrain(o2);
  engine::set_num_threads(0);
  CHECK(slurp(one + "/model/model.safetensors") == slurp(two + "/model/model.safetensors"));
  CHECK(r1.last_eval.loss == r2.last_eval.loss);

  // One JSON line per step, and one per evaluation; an untrained model starts
  // near ln(69) = 4.23, the loss of a uniform guess over the vocabulary.
  std::ifstream log(one + "/log.jsonl");
  std::string line;
  std::vector<double> losses;
  int evals = 0;
  while (std::getline(log, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("loss")) losses.push_back(j["loss"].get<double>());
    if (j.contains("eval_accuracy")) ++evals;
  }
  CHECK(losses.size() == 30);
  CHECK(evals == 8);  // every 4 steps, and at the end
  CHECK(losses.front() == doctest::Approx(std::log(69.0)).epsilon(0.05));
}

TEST_CASE("dnabert pretrain and embed from the command line") {
  const std::string out = scratch_dir("cli");
  int status = 0;
  std::string text = run_cli("pretrain --fasta " + kLambda +
                                 " --k 3 --config tiny --max-len 24 --batch 4 --steps 3 --warmup 1 --eval-every 0 "
                                 "--eval-batches 1 --out " + out,
                             status);
  INFO(text);
  REQUIRE(status == 0);
  CHECK(text.find("held-out masked-token accuracy") != std::string::npos);
  CHECK(fs::exists(out + "/model/config.json"));
  auto config = nlohmann::json::parse(slurp(out + "/model/config.json"));
  CHECK(config["hidden_size"] == 256);
  CHECK(config["num_hidden_layers"] == 4);
  CHECK(config["vocab_size"] == 69);
  CHECK(slurp(out + "/model/vocab.txt") == slurp(std::string(DNABERT_SOURCE_DIR) + "/tests/data/dnabert/vocab_3mer.txt"));

  // embed: 3 sequences, one per line.
  const std::string seqs = out + "/seqs.txt";
  std::ofstream(seqs) << "ACGTACGTTGCA\nTTTTGGGGCCCCAAAA\nACG\n";
  for (const char* pooling : {"cls", "mean", "none"}) {
    CAPTURE(pooling);
    const std::string npy = out + "/emb_" + pooling + ".npy";
    std::string t = run_cli("embed --model " + out + "/model --input " + seqs + " --pooling " + pooling +
                                " --max-len 16 --out " + npy,
                            status);
    INFO(t);
    REQUIRE(status == 0);
    engine::Tensor e = io::read_npy(npy);
    if (std::string(pooling) == "none") {
      CHECK(e.shape() == engine::Dims{3, 16, 256});
      // Row 2 ("ACG" -> [CLS] ACG [SEP]) has 3 tokens, the rest is zero padding.
      CHECK(e.f32()[(2 * 16 + 3) * 256] == 0.0f);
      CHECK(e.f32()[(2 * 16 + 2) * 256] != 0.0f);
    } else {
      CHECK(e.shape() == engine::Dims{3, 256});
    }
  }
  // The same three sequences as FASTA and as a GUE CSV give the same embeddings as the plain lines.
  std::ofstream(out + "/seqs.fa") << ">a first\nACGTAC\nGTTGCA\n>b\nTTTTGGGGCCCCAAAA\n>c\nACG\n";
  std::ofstream(out + "/seqs.csv") << "sequence,label\nACGTACGTTGCA,1\nTTTTGGGGCCCCAAAA,0\nACG,1\n";
  engine::Tensor ref = io::read_npy(out + "/emb_cls.npy");
  for (const char* input : {"seqs.fa", "seqs.csv"}) {
    CAPTURE(input);
    std::string t = run_cli("embed --model " + out + "/model --input " + out + "/" + input +
                                " --pooling cls --max-len 16 --out " + out + "/alt.npy",
                            status);
    INFO(t);
    REQUIRE(status == 0);
    CHECK(io::read_npy(out + "/alt.npy").to_vector() == ref.to_vector());
  }
  // --normalize gives unit vectors; --layer 0 reads the embedding layer.
  std::string t = run_cli("embed --model " + out + "/model --input " + seqs + " --pooling mean --normalize --layer 0 "
                              "--out " + out + "/n.npy",
                          status);
  REQUIRE(status == 0);
  engine::Tensor n = io::read_npy(out + "/n.npy");
  for (int r = 0; r < 3; ++r) {
    double ss = 0;
    for (int c = 0; c < 256; ++c) ss += double(n.f32()[r * 256 + c]) * n.f32()[r * 256 + c];
    CHECK(ss == doctest::Approx(1.0).epsilon(1e-5));
  }
  // Errors: a missing model directory, a bad sequence, a bad layer.
  t = run_cli("embed --model " + out + "/nope --input " + seqs + " --out " + out + "/x.npy", status);
  CHECK(status == 2);
  std::ofstream(out + "/bad.txt") << "ACGT\nACXT\n";
  t = run_cli("embed --model " + out + "/model --input " + out + "/bad.txt --out " + out + "/x.npy", status);
  CHECK(status == 1);
  CHECK(t.find("bad.txt: line 2: invalid character 'X'") != std::string::npos);
  CHECK_FALSE(fs::exists(out + "/x.npy"));  // nothing half-written
  t = run_cli("embed --model " + out + "/model --input " + seqs + " --layer 9 --out " + out + "/x.npy", status);
  CHECK(status == 2);
  CHECK(t.find("--layer 9 is outside 0..4") != std::string::npos);
  t = run_cli("pretrain --fasta " + kLambda + " --k 6 --config tiny --steps 1 --out " + out + "/y --mask-rate 0.15 "
              "--mlm-probability 0.02", status);
  CHECK(status == 2);
}

TEST_CASE("evaluate-mlm re-measures a run's held-out loss; pretrain --init continues from a model") {
  const std::string a = scratch_dir("eval_source");
  models::PretrainOptions o = micro_options(a);
  o.save_every = 0;
  models::PretrainResult ra = models::pretrain(o);
  REQUIRE(ra.last_eval.masked > 0);
  // The model directory alone, with the run's options, gives the logged figures exactly.
  int status = 0;
  std::string text = run_cli("evaluate-mlm --model " + a + "/model --fasta " + kLambda +
                                 " --max-len 40 --batch 6 --eval-batches 2 --seed 7 --mlm-probability 0.05 --out " + a +
                                 "/eval.json",
                             status);
  INFO(text);
  REQUIRE(status == 0);
  auto j = nlohmann::json::parse(slurp(a + "/eval.json"));
  CHECK(j["eval_loss"].get<double>() == ra.last_eval.loss);
  CHECK(j["eval_accuracy"].get<double>() == ra.last_eval.accuracy);
  CHECK(j["eval_masked"].get<int64_t>() == ra.last_eval.masked);
  CHECK(j["uniform_loss"].get<double>() == doctest::Approx(std::log(69.0)));

  // Continued pretraining: with a vanishing learning rate the model stays where it started,
  // so its held-out loss is the source model's; a new model from the same seed is not.
  models::PretrainOptions c = micro_options(scratch_dir("continued"));
  c.init = a + "/model";
  c.lr = 1e-12;
  c.steps = 2;
  c.save_every = 0;
  models::PretrainResult rc = models::pretrain(c);
  CHECK(rc.last_eval.loss == doctest::Approx(ra.last_eval.loss).epsilon(1e-6));
  models::PretrainOptions fresh = c;
  fresh.init.clear();
  fresh.out = scratch_dir("fresh");
  CHECK(models::pretrain(fresh).last_eval.loss != doctest::Approx(ra.last_eval.loss).epsilon(1e-4));
  // A config other than the model's, or an init scheme with --init, is refused.
  models::PretrainOptions bad = c;
  bad.out = scratch_dir("continued_bad");
  bad.config.intermediate_size = 32;
  CHECK_THROWS_WITH_AS(models::pretrain(bad), doctest::Contains("is not the model config"), UsageError);
  bad = c;
  bad.embedding_init = "composed";
  CHECK_THROWS_WITH_AS(models::pretrain(bad), doctest::Contains("--embedding-init"), UsageError);
  // On the command line --init brings the config, and excludes --config.
  text = run_cli("pretrain --fasta " + kLambda + " --k 3 --init " + a + "/model --config tiny --steps 1 --out " + a +
                     "/cli",
                 status);
  CHECK(status == 2);
  text = run_cli("pretrain --fasta " + kLambda + " --k 3 --init " + a + "/model --max-len 40 --batch 4 --steps 1 "
                 "--eval-batches 1 --out " + a + "/cli",
                 status);
  INFO(text);
  CHECK(status == 0);
  CHECK(text.find("initialised from") != std::string::npos);
}

TEST_CASE("pretrain --recipe sets its settings, flags given on the command line win") {
  const std::string out = scratch_dir("recipe");
  int status = 0;
  std::string text = run_cli("pretrain --recipe tiny-2h --fasta " + kLambda +
                                 " --steps 2 --max-len 24 --batch 4 --eval-batches 1 --save-every 2 --out " + out,
                             status);
  INFO(text);
  REQUIRE(status == 0);
  CHECK(text.find("recipe tiny-2h:") != std::string::npos);
  // The recipe's k, init schemes, dropout and warm-up; the given steps, length and batch.
  auto st = nlohmann::json::parse(slurp(out + "/checkpoint-2/trainer_state.json"));
  auto fp = nlohmann::json::parse(st["fingerprint"].get<std::string>());
  CHECK(fp["k"] == 6);
  CHECK(fp["max_len"] == 24);
  CHECK(fp["batch"] == 4);
  CHECK(fp["embedding_init"] == "composed");
  CHECK(fp["position_init"] == "sinusoidal");
  CHECK(fp["dropout"].get<double>() == 0.0);
  CHECK(fp["config"]["hidden_size"] == 256);
  CHECK(fp["mlm_probability"].get<double>() == doctest::Approx(1 - std::pow(0.85, 1.0 / 6)));
  std::ifstream log(out + "/log.jsonl");
  std::string line;
  int steps = 0;
  while (std::getline(log, line))
    if (nlohmann::json::parse(line).contains("loss")) ++steps;
  CHECK(steps == 2);
  // A given --mlm-probability replaces the recipe's --mask-rate; an unknown recipe is a usage error.
  text = run_cli("pretrain --recipe tiny-2h --fasta " + kLambda + " --mlm-probability 0.01 --steps 1 --max-len 24 "
                 "--batch 4 --eval-batches 1 --save-every 1 --out " + out + "/p",
                 status);
  REQUIRE(status == 0);
  st = nlohmann::json::parse(slurp(out + "/p/checkpoint-1/trainer_state.json"));
  CHECK(nlohmann::json::parse(st["fingerprint"].get<std::string>())["mlm_probability"].get<double>() == 0.01);
  text = run_cli("pretrain --recipe nope --fasta " + kLambda + " --out " + out + "/q", status);
  CHECK(status == 2);
  CHECK(text.find("known: tiny-2h") != std::string::npos);
}
