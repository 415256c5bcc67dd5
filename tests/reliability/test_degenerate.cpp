// Degenerate inputs are refused or skipped with a count, never scored or
// trained on as if they were sequences: a sequence shorter than k has no
// k-mer (it would become [CLS] [SEP] alone), a window longer than every
// record has nothing to score, and a nameless FASTA record would become an
// empty id or chromosome column.
#include <doctest/doctest.h>

#include <filesystem>

#include "tests/test_util.h"
#include "tests/tiny_model.h"

using namespace dnabert::testing;
namespace fs = std::filesystem;

namespace {


std::string model() {
  static const std::string dir = tiny_model_dir("degenerate_model", 2, 5);
  return dir;
}

// `cmd` must fail with exit 1, name every part, and write nothing at `out`.
void expect_refused(const std::string& cmd, const std::string& out, const std::vector<std::string>& parts) {
  const CliRun r = run_cli(cmd);
  INFO(cmd);
  INFO(r.output);
  CHECK(r.status == 1);
  for (const auto& p : parts) CHECK_MESSAGE(has(r.output, p), "message lacks " << p);
  CHECK_FALSE(fs::exists(out));
}

}  // namespace

TEST_CASE("embed and predict refuse a sequence shorter than k, naming its line or record") {
  const std::string lines = write_file("short.txt", "ACGTACGTTGCA\nAC\n");
  const std::string fasta = write_file("short.fa", ">ok\nACGTACGTAC\n>tiny\nAC\n>after\nACGTACGT\n");
  for (const std::string& cmd : {std::string("embed"), std::string("predict")}) {
    CAPTURE(cmd);
    const std::string out = temp_path("short_" + cmd + ".out");
    expect_refused(cmd + " --model " + model() + " --input " + lines + " --out " + out, out,
                   {lines + ": line 2: a sequence of 2 bases, fewer than k=3"});
    expect_refused(cmd + " --model " + model() + " --input " + fasta + " --out " + out, out,
                   {fasta + ": line 3: record tiny has 2 bases, fewer than k=3"});
  }
}

TEST_CASE("finetune refuses an example shorter than k, naming the file and the example") {
  std::string rows = "sequence,label\n";
  for (int i = 0; i < 20; ++i) rows += std::string(i == 3 ? "AC" : "ACGTACGTACGTAAAC") + "," + std::to_string(i % 2) + "\n";
  const std::string train = write_file("short_train.csv", rows);
  const std::string dev = write_file("short_dev.csv", "sequence,label\nACGTACGTAC,0\nTTGCATGCAA,1\n");
  const std::string out = temp_path("short_ft");
  expect_refused("finetune --init " + model() + " --train " + train + " --dev " + dev + " --epochs 1 --out " + out,
                 out + "/best", {train + ": example 4: a sequence of 2 bases is shorter than k=3"});
}

TEST_CASE("scan skips records shorter than the window with a count, and refuses when none is long enough") {
  const std::string fasta = write_file("scan.fa", ">long\n" + std::string(120, 'A') + "\n>short\nACGTACGTAC\n");
  const std::string out = temp_path("scan.bedgraph");
  expect_refused("scan --model " + model() + " --fasta " + fasta + " --window 1000 --stride 10 --out " + out, out,
                 {fasta + ": no record is at least --window 1000 bp long"});
  const CliRun r = run_cli("scan --model " + model() + " --fasta " + fasta + " --window 40 --stride 40 --out " + out);
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(has(r.output, "1 record shorter than --window 40 bp skipped"));
  const std::string track = slurp(out);
  CHECK(has(track, "long\t"));
  CHECK_FALSE(has(track, "short\t"));
}

TEST_CASE("a FASTA record with no name is refused, naming the file and line") {
  const std::string fasta = write_file("nameless.fa", ">a\nACGTACGT\n>\nACGTACGT\n");
  const CliRun r = run_cli("fasta-stats " + fasta);
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(has(r.output, fasta + ": line 3: a record with no name"));
  // Blanks before the name are not an empty name: "> 6400" is record 6400, as in CNNProm's files.
  const std::string spaced = write_file("spaced.fa", "> 6400\nACGTACGT\n");
  const CliRun t = run_cli("fasta-stats " + spaced);
  INFO(t.output);
  CHECK(t.status == 0);
}
