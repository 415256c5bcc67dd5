// Option values out of range: every one is a usage error (exit 2) before any
// work starts, and the message names the option and its real bound. Values
// that depend on the model are refused once its config.json is read, before
// training. No subcommand at all is a usage error too.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tests/tiny_model.h"

using namespace dnabert::testing;
namespace fs = std::filesystem;

namespace {

const std::string kLambda = source_path("tests/data/genomes/lambda_phage.fa.gz");

struct BadValue {
  std::string command;   // the subcommand and the options it needs, before the bad one
  std::string option;    // e.g. "--max-len"
  std::string value;
  std::string expected;  // the bound the message must give
};

// Runs `command option value`; expects exit 2 with "<option>: must be ... <expected> ..., got <value>"
// and nothing written to `out`.
void expect_refused(const BadValue& c, const std::string& out) {
  CAPTURE(c.command);
  CAPTURE(c.option);
  CAPTURE(c.value);
  const CliRun r = run_cli(c.command + " " + c.option + " '" + c.value + "'");
  INFO(r.output);
  CHECK(r.status == 2);
  CHECK(r.output.find(c.option + ": must be ") != std::string::npos);
  CHECK(r.output.find(c.expected) != std::string::npos);
  CHECK(r.output.find("got " + c.value) != std::string::npos);
  CHECK(r.output.find("1797693134862315") == std::string::npos);  // CLI11's bound of double
  CHECK_FALSE(fs::exists(out));
}

}  // namespace

TEST_CASE("out-of-range option values are usage errors that give the real bound") {
  const std::string out = temp_path("opt_out");
  const std::string model = tiny_model_dir("opt_model", 2, 3);
  const std::string seqs = write_file("opt_seqs.txt", "ACGTACGTACGT\n");
  const std::string csv = labelled_csv("opt_train.csv");
  const std::string pretrain = "pretrain --fasta " + kLambda + " --out " + out;
  const std::string finetune = "finetune --init " + model + " --train " + csv + " --dev " + csv + " --out " + out;
  const std::string predict = "predict --model " + model + " --input " + seqs + " --out " + out;
  const std::string embed = "embed --model " + model + " --input " + seqs + " --out " + out;
  const std::string eval = "evaluate-mlm --model " + model + " --fasta " + kLambda + " --out " + out;
  const std::string scan = "scan --model " + model + " --fasta " + kLambda + " --out " + out;
  const std::vector<BadValue> cases = {
      {pretrain, "--max-len", "-1", ">= 8"},
      {pretrain, "--eval-every", "-1", ">= 0"},
      {pretrain, "--save-every", "-1", ">= 0"},
      {pretrain, "--eval-batches", "-3", ">= 0"},
      {pretrain, "--keep-last", "-1", ">= 0"},
      {pretrain, "--mlm-probability", "0", "in (0, 1)"},
      {pretrain, "--mask-rate", "1", "in (0, 1)"},
      {pretrain, "--heldout-fraction", "1", "in [0, 1)"},
      {pretrain, "--lr", "nan", "> 0"},
      {pretrain, "--lr", "inf", "> 0"},
      {pretrain, "--k", "9", "in 3..8"},
      {pretrain, "--steps", "99999999999999999999", "in 1..9223372036854775807"},
      {pretrain, "--batch", "1.5", ">= 1"},
      {pretrain, "--shuffle-buffer", "0", ">= 1"},
      {pretrain, "--dropout", "1", "in [0, 1)"},
      {pretrain, "--weight-decay", "-0.1", ">= 0"},
      {pretrain, "--seed", "-1", ">= 0"},
      {finetune, "--dropout", "nan", "in [0, 1)"},
      {finetune, "--dropout", "-0.5", "in [0, 1)"},
      {finetune, "--early-stop", "-1", ">= 0"},
      {finetune, "--max-len", "-1", ">= 3"},
      {finetune, "--freeze-layers", "-2", ">= 0"},
      {finetune, "--warmup-ratio", "1.5", "in [0, 1]"},
      {finetune, "--epochs", "0", ">= 1"},
      {predict, "--stride", "0", ">= 1"},
      {predict, "--stride", "-3", ">= 1"},
      {predict, "--max-len", "-1", ">= 3"},
      {embed, "--batch", "0", ">= 1"},
      {eval, "--eval-batches", "-3", ">= 1"},
      {eval, "--mlm-probability", "0", "in (0, 1)"},
      {scan + " --window 10", "--stride", "0", ">= 1"},
      {"tokenize", "--k", "2", "in 3..8"},
      {"", "--threads", "-1", "in 0..65536"},
  };
  for (const BadValue& c : cases) expect_refused(c, out);
}

TEST_CASE("values that depend on the model are refused once its config is read, before training") {
  const std::string out = temp_path("opt_model_out");
  const std::string model = tiny_model_dir("opt_model2", 0, 3);  // 2 layers, 64 positions
  const std::string csv = labelled_csv("opt_train2.csv");
  const std::string finetune = "finetune --init " + model + " --train " + csv + " --dev " + csv + " --out " + out;
  CliRun r = run_cli(finetune + " --freeze-layers 99");
  INFO(r.output);
  CHECK(r.status == 2);
  CHECK(r.output.find("--freeze-layers: must be an integer in 0..2 (num_hidden_layers of " + model +
                      "/config.json), got 99") != std::string::npos);
  CHECK(r.output.find("epoch") == std::string::npos);  // no training started
  r = run_cli(finetune + " --max-len 100");
  INFO(r.output);
  CHECK(r.status == 2);
  CHECK(r.output.find("--max-len: must be an integer in 3..64 (max_position_embeddings of " + model) !=
        std::string::npos);
  const std::string seqs = write_file("opt_seqs2.txt", "ACGTACGTACGT\n");
  const std::string npy = temp_path("opt_embed.npy");
  r = run_cli("embed --model " + model + " --input " + seqs + " --out " + npy + " --max-len 65");
  INFO(r.output);
  CHECK(r.status == 2);
  CHECK(r.output.find("--max-len: must be an integer in 3..64") != std::string::npos);
  CHECK_FALSE(fs::exists(npy));
}

TEST_CASE("pretrain: --heldout-record that names no record is refused, naming the files") {
  const std::string out = temp_path("opt_heldout");
  const CliRun r = run_cli("pretrain --fasta " + kLambda + " --out " + out +
                           " --k 3 --max-len 32 --batch 2 --steps 1 --heldout-record chrNope");
  INFO(r.output);
  CHECK(r.status == 2);
  CHECK(r.output.find("--heldout-record 'chrNope' names no record of " + kLambda) != std::string::npos);
  CHECK_FALSE(fs::exists(out + "/model"));
}

TEST_CASE("no subcommand: the help goes to stderr and the exit status is 2") {
  const CliRun r = run_cli("");
  CHECK(r.status == 2);
  CHECK(r.output.find("Subcommands:") != std::string::npos);
  CHECK(r.output.find("no command given") != std::string::npos);
  FILE* p = popen((std::string(DNABERT_BINARY) + " 2>/dev/null").c_str(), "r");
  REQUIRE(p);
  char buf[256];
  const size_t n = fread(buf, 1, sizeof buf, p);
  pclose(p);
  CHECK(n == 0);  // nothing on stdout
  CHECK(run_cli("--version").status == 0);
}
