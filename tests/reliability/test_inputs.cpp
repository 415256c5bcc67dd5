// Hostile inputs: named pipes and process substitution (read once, never
// reopened), a full standard output, a short mutation line, a reference with a
// name twice, a UTF-8 byte order mark, raw binary bytes, memory exhaustion and
// a model without the head a command needs. Each ends in the intended result
// or a clear error naming the file, with the right exit status.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "io/data/dataset.h"
#include "tests/test_util.h"
#include "tests/tiny_model.h"

using namespace dnabert;
using namespace dnabert::testing;
namespace fs = std::filesystem;

namespace {

const std::string kLambda = source_path("tests/data/genomes/lambda_phage.fa.gz");

// Runs `script` with bash (for <(...) and mkfifo), output and status as run_cli.
// `timeout` turns a reader that blocks for ever into a failure, not a hung suite.
CliRun run_bash(const std::string& script) {
  const std::string quoted = "'" + script + "'";
  return run_cli("--version >/dev/null; timeout 60 bash -c " + quoted);
}

}  // namespace

TEST_CASE("finetune --train from a named FIFO and from a process substitution") {
  const std::string model = tiny_model_dir("in_model", 0, 5);
  const std::string csv = labelled_csv("in_train.csv");
  const std::string gz = temp_path("in_train.csv.gz");
  REQUIRE(std::system(("gzip -c " + csv + " > " + gz).c_str()) == 0);
  const std::string fifo = temp_path("in_train.fifo");
  const std::string common = std::string(DNABERT_BINARY) + " --threads 1 finetune --init " + model + " --dev " + csv +
                             " --epochs 1 --batch 4 --overwrite --out ";
  CliRun r = run_bash("rm -f " + fifo + " && mkfifo " + fifo + " && (cat " + csv + " > " + fifo + " &) && " + common +
                      temp_path("in_ft1") + " --train " + fifo);
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find("data: train 8, dev 8") != std::string::npos);
  r = run_bash(common + temp_path("in_ft2") + " --train <(zcat " + gz + ")");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find("data: train 8, dev 8") != std::string::npos);
}

TEST_CASE("predict and tokenize read FASTA from a pipe they cannot reopen") {
  const std::string model = tiny_model_dir("in_cls", 2, 5);
  const std::string fa = write_file("in_seqs.fa", "\n>s1 first\nACGTACGTACGTTTGA\n>s2\nTTGACAGGCATACG\n");
  const std::string tsv = temp_path("in_pred.tsv");
  CliRun r = run_bash(std::string(DNABERT_BINARY) + " predict --model " + model + " --input <(cat " + fa +
                      ") --out " + tsv);
  INFO(r.output);
  CHECK(r.status == 0);
  const std::string written = slurp(tsv);
  CHECK(written.find("\ns1\t") != std::string::npos);
  CHECK(written.find("\ns2\t") != std::string::npos);
  const CliRun direct = run_cli("tokenize --k 3 " + fa);
  r = run_bash("cat " + fa + " | " + DNABERT_BINARY + " tokenize --k 3");
  CHECK(r.status == 0);
  CHECK(r.output == direct.output);
  r = run_bash(std::string(DNABERT_BINARY) + " tokenize --k 3 <(cat " + fa + ")");
  CHECK(r.output == direct.output);
  // Commands that read a file twice refuse a pipe instead of blocking.
  r = run_bash(std::string(DNABERT_BINARY) + " scan --model " + model + " --fasta <(cat " + fa +
               ") --window 8 --stride 4 --out " + temp_path("in_scan.bg"));
  CHECK(r.status == 2);
  CHECK(r.output.find("must be a regular file") != std::string::npos);
}

TEST_CASE("a failed write to standard output is an error") {
  // stderr to the captured pipe, then stdout to the full device.
  CliRun r = run_bash(std::string(DNABERT_BINARY) + " fasta-stats " + kLambda + " 2>&1 >/dev/full");
  CHECK(r.status == 1);
  CHECK(r.output.find("cannot write to standard output") != std::string::npos);
  r = run_bash(std::string(DNABERT_BINARY) + " tokenize --k 3 " + write_file("in_lines.txt", "ACGTACGT\n") +
               " 2>&1 >/dev/full");
  CHECK(r.status == 1);
  CHECK(r.output.find("cannot write to standard output") != std::string::npos);
}

TEST_CASE("variants: a 3-column mutation line and a reference with a name twice are refused") {
  const std::string model = tiny_model_dir("in_var", 2, 5);
  const std::string seqs = write_file("in_var_seqs.txt", "ACGTACGTACGTACGTACGT\n");
  const std::string muts = write_file("in_muts.txt", "0\t3\t4\tA\n0\t5\t6\n");
  const std::string before = slurp(muts);
  CliRun r = run_cli("variants --model " + model + " --input " + seqs + " --mutations " + muts + " --out " +
                     temp_path("in_var.tsv"));
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find(muts + ": line 2: expected 4 tab-separated columns") != std::string::npos);
  CHECK(slurp(muts) == before);
  CHECK_FALSE(fs::exists(temp_path("in_var.tsv")));

  const std::string ref = write_file("in_ref.fa", ">chr1\nACGTACGTACGTACGTACGT\n>chr2\nACGTACGTAC\n>chr1 again\nTTTTTTTTTTTTTTTTTTTT\n");
  const std::string vcf = write_file("in.vcf", "#CHROM\tPOS\tID\tREF\tALT\nchr1\t5\tv1\tA\tG\n");
  r = run_cli("variants --model " + model + " --vcf " + vcf + " --reference " + ref + " --window 10 --out " +
              temp_path("in_vcf.tsv"));
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find(ref + ": line 5: record 'chr1' has the name of the record at line 1") != std::string::npos);
}

TEST_CASE("a UTF-8 byte order mark at the start of a file is accepted") {
  const std::string bom = "\xef\xbb\xbf";
  const std::string csv = write_file("in_bom.csv", bom + "sequence,label\nACGTACGT,1\nTTGACAGG,0\n");
  const io::LabelledDataset ds = io::read_table(csv);
  CHECK(ds.size() == 2);
  CHECK(io::detect_format(csv) == io::DatasetFormat::GueCsv);
  const std::string tsv = write_file("in_bom.tsv", bom + "sequence\tlabel\nACG TAC\t1\n");
  CHECK(io::read_table(tsv).size() == 1);
  const std::string fa = write_file("in_bom.fa", bom + ">s1\nACGTACGT\n");
  CliRun r = run_cli("fasta-stats " + fa);
  CHECK(r.status == 0);
  CHECK(r.output.find(fa + "\t1\t8\t") != std::string::npos);
  const CliRun plain = run_cli("tokenize --k 3 " + write_file("in_nobom.fa", ">s1\nACGTACGT\n"));
  r = run_cli("tokenize --k 3 " + fa);
  CHECK(r.status == 0);
  CHECK(r.output == plain.output);
  const std::string vocab = temp_path("in_vocab.txt");
  REQUIRE(run_cli("tokenize --k 3 --write-vocab " + vocab).status == 0);
  write_file("in_vocab.txt", bom + slurp(vocab));
  r = run_cli("tokenize --vocab " + vocab + " " + write_file("in_lines2.txt", "ACGTACGT\n"));
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output == run_cli("tokenize --k 3 " + temp_path("in_lines2.txt")).output);
}

TEST_CASE("raw binary bytes are escaped in error messages") {
  const std::string model = tiny_model_dir("in_bin", 2, 5);
  const std::string bin = write_file("in_bin.txt", std::string("ACGT\x01\xff" "AC\n", 9));
  CliRun r = run_cli("predict --model " + model + " --input " + bin + " --out " + temp_path("in_bin.tsv"));
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find(bin + ": line 1: invalid character '\\x01'") != std::string::npos);
  CHECK(r.output.find('\x01') == std::string::npos);
  const std::string csv = write_file("in_bin.csv", std::string("\x7f" "ELF\x02\x01\xfe garbage\n", 15));
  r = run_cli("finetune --init " + model + " --train " + csv + " --dev " + csv + " --out " + temp_path("in_bin_ft"));
  INFO(r.output);
  CHECK(r.status != 0);
  CHECK(r.output.find(csv) != std::string::npos);
  CHECK(r.output.find("\\x7fELF\\x02") != std::string::npos);
  CHECK(r.output.find('\x02') == std::string::npos);
}

// AddressSanitizer reserves terabytes of shadow address space at start-up, so
// a binary built with it cannot start under `ulimit -v` at all.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif

TEST_CASE("out of memory is an error naming the command, not a bare std::bad_alloc" *
          doctest::skip(kAddressSanitizer)) {
  const CliRun r = run_bash("ulimit -v 300000; " + std::string(DNABERT_BINARY) + " --threads 1 pretrain --config base --k 3 --fasta " +
                            kLambda + " --steps 1 --out " + temp_path("in_oom"));
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find("dnabert: error: out of memory while running pretrain") != std::string::npos);
  CHECK(r.output.find("std::bad_alloc") == std::string::npos);
}

TEST_CASE("predict and scan with a model that has no classification head name its directory") {
  const std::string model = tiny_model_dir("in_mlm", 0, 5);
  const std::string fa = write_file("in_mlm.fa", ">s\nACGTACGTACGTACGT\n");
  for (const std::string& cmd : {"predict --input " + fa + " --out " + temp_path("in_mlm.tsv"),
                                 "scan --fasta " + fa + " --window 8 --stride 4 --out " + temp_path("in_mlm.bg")}) {
    const CliRun r = run_cli(cmd + " --model " + model);
    INFO(r.output);
    CHECK(r.status == 1);
    CHECK(r.output.find(model + ": a pretrained model without a classification head") != std::string::npos);
  }
}
