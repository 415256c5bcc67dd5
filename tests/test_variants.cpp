// In-silico mutagenesis: DNABERT's diff and logOR by hand, the mutation file
// (SNPs, insertions, deletions), VCF parsing and reference windows, their
// errors, and `dnabert variants` end to end on a tiny classifier.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "io/data/vcf.h"
#include "models/analysis/inference.h"
#include "models/network/loading.h"
#include "models/analysis/variants.h"
#include "tests/test_util.h"
#include "tests/tiny_model.h"
#include "tokenizer/kmer.h"

using namespace dnabert;
using namespace dnabert::testing;

TEST_CASE("diff and logOR as DNABERT's SNP.py") {
  // p 0.8 -> 0.2: diff = (0.2 - 0.8) * 0.8 = -0.48; logOR = log2(4) - log2(1/4) = 4.
  auto e = models::variant_effect(0.8, 0.2);
  CHECK(e.diff == doctest::Approx(-0.48));
  CHECK(e.log_odds_ratio == doctest::Approx(4.0));
  // p 0.5 -> 0.9: diff = 0.4 * 0.9 = 0.36; logOR = 0 - log2(9).
  e = models::variant_effect(0.5, 0.9);
  CHECK(e.diff == doctest::Approx(0.36));
  CHECK(e.log_odds_ratio == doctest::Approx(-std::log2(9.0)));
  e = models::variant_effect(0.3, 0.3);
  CHECK(e.diff == 0.0);
  CHECK(e.log_odds_ratio == 0.0);
}

TEST_CASE("mutation file: SNPs, insertions (start == end), deletions (empty allele), and its errors") {
  const std::string path = write_file("muts.tsv", "# idx start end allele\n0\t2\t3\tT\n1\t4\t4\tgg\n2\t1\t3\t\n\n3\t0\t1\t\n");
  const auto m = io::read_mutations(path);
  REQUIRE(m.size() == 4);
  CHECK(m[0].index == 0);
  CHECK(m[0].start == 2);
  CHECK(m[0].end == 3);
  CHECK(m[0].allele == "T");
  CHECK(m[1].allele == "GG");
  CHECK(m[2].allele.empty());
  CHECK(m[3].allele.empty());
  CHECK(m[3].line == 6);
  const std::string seq = "ACGTACGT";
  CHECK(models::apply_mutation(seq, m[0], "") == "ACTTACGT");
  CHECK(models::apply_mutation(seq, m[1], "") == "ACGTGGACGT");
  CHECK(models::apply_mutation(seq, m[2], "") == "ATACGT");
  CHECK(error_of([&] { models::apply_mutation("ACG", m[1], "f: line 3: "); }) ==
        "f: line 3: mutation [4, 4) does not fit sequence 1 of 3 bases");

  auto err = [](const std::string& text) {
    const std::string p = write_file("bad_muts.tsv", text);
    return error_of([&] { io::read_mutations(p); }).substr(p.size());
  };
  const std::string columns = "expected 4 tab-separated columns (index, start, end, allele; a deletion has an "
                              "empty allele after the last tab), got ";
  CHECK(err("0\t1\n") == ": line 1: " + columns + "2");
  CHECK(err("0\t1\t2\tA\n3\t0\t1\n") == ": line 2: " + columns + "3");  // cut off, or a deletion? not guessed
  CHECK(err("0\t1\t2\tA\n-1\t1\t2\tA\n") == ": line 2: index '-1' is not a non-negative integer");
  CHECK(err("0\t5\t2\tA\n") == ": line 1: end 2 is before start 5");
  CHECK(err("0\t1\t2\tAX\n") == ": line 1: allele 'AX' holds a character other than A, C, G, T, N");
}

TEST_CASE("VCF: one record per ALT, symbolic alleles skipped, errors with the line") {
  const std::string path = write_file("v.vcf",
                                      "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                                      "chr1\t15\trs1\tt\tA,G\t.\tPASS\t.\n"
                                      "chr1\t21\t.\tAC\tA\t.\tPASS\t.\n"
                                      "chr1\t22\t.\tA\t<DEL>\t.\tPASS\t.\n");
  const io::VcfContents v = io::read_vcf(path);
  REQUIRE(v.records.size() == 3);
  CHECK(v.symbolic_skipped == 1);
  CHECK(v.records[0].chrom == "chr1");
  CHECK(v.records[0].pos == 15);
  CHECK(v.records[0].ref == "T");
  CHECK(v.records[0].alt == "A");
  CHECK(v.records[1].alt == "G");
  CHECK(v.records[2].ref == "AC");
  CHECK(v.records[2].line == 4);

  auto err = [](const std::string& text) {
    const std::string p = write_file("bad.vcf", text);
    return error_of([&] { io::read_vcf(p); }).substr(p.size());
  };
  CHECK(err("chr1\t15\trs1\tG\n") == ": line 1: expected at least 5 tab-separated columns (CHROM POS ID REF ALT), got 4");
  CHECK(err("#h\nchr1\tx5\t.\tG\tA\n") == ": line 2: POS 'x5' is not a positive integer");
  CHECK(err("chr1\t5\t.\tG\tAZ\n") == ": line 1: ALT allele 'AZ' holds a character other than A, C, G, T, N");

  // Reference windows: 10 bases centred on REF, kept inside the chromosome.
  //                 0         1         2
  //                 0123456789012345678901234567890
  const std::string chr1 = "AAAAACCCCCGGGGTGTTTTACGTACGTAC";
  const std::string fasta = write_file("ref.fa", ">chrM\nACGT\n>chr1 test\n" + chr1.substr(0, 17) + "\n" + chr1.substr(17) + "\n");
  const auto w = models::variant_windows(v.records, path, fasta, 10);
  REQUIRE(w.size() == 3);
  CHECK(w[0].reference == chr1.substr(10, 10));  // POS 15 = index 14, 4 bases before it
  CHECK(w[0].mutation.start == 4);
  CHECK(w[0].mutation.end == 5);
  CHECK(models::apply_mutation(w[0].reference, w[0].mutation, "") == "GGGGAGTTTT");
  CHECK(w[2].reference == chr1.substr(16, 10));  // REF AC at index 20, (10 - 2) / 2 = 4 before
  CHECK(models::apply_mutation(w[2].reference, w[2].mutation, "") == "TTTTAGTAC");
  const auto edge = models::variant_windows({{"chr1", 2, ".", "A", "C", 7}}, "e.vcf", fasta, 10);
  CHECK(edge[0].reference == chr1.substr(0, 10));
  CHECK(edge[0].mutation.start == 1);

  CHECK(error_of([&] { models::variant_windows({{"chr1", 15, ".", "A", "C", 7}}, "e.vcf", fasta, 10); }) ==
        "e.vcf: line 7: REF A differs from the reference's T at chr1:15 (another genome build?)");
  CHECK(error_of([&] { models::variant_windows({{"chr2", 15, ".", "A", "C", 8}}, "e.vcf", fasta, 10); }) ==
        "e.vcf: line 8: chromosome 'chr2' is not in " + fasta);
  CHECK(error_of([&] { models::variant_windows({{"chr1", 30, ".", "CA", "C", 9}}, "e.vcf", fasta, 10); })
            .find("lies beyond the end of chr1 (30 bases)") != std::string::npos);
}

namespace {

std::vector<std::vector<std::string>> read_tsv(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(slurp(path));
  std::string line;
  while (std::getline(in, line)) {
    rows.emplace_back();
    std::istringstream cells(line);
    std::string c;
    while (std::getline(cells, c, '\t')) rows.back().push_back(c);
  }
  return rows;
}

}  // namespace

TEST_CASE("dnabert variants: mutation list, VCF and --saturate on a tiny classifier") {
  const std::string model = tiny_model_dir("variants_model", 2, 21);
  const std::vector<std::string> seqs = {"ACGTTGCAAGTCCGATTGCA", "TTGACCAGGTACCATG", "GGGTTTAAACCCGTGT"};
  const std::string input = write_file("variants_seqs.txt", seqs[0] + "\n" + seqs[1] + "\n" + seqs[2] + "\n");
  const std::string muts = write_file("variants_muts.tsv", "0\t3\t4\tA\n1\t5\t5\tCC\n2\t2\t6\t\n");
  const std::string out = temp_path("variants_out.tsv");
  CliRun r = run_cli("variants --model " + model + " --input " + input + " --mutations " + muts + " --out " + out);
  REQUIRE_MESSAGE(r.status == 0, r.output);
  const auto rows = read_tsv(out);
  REQUIRE(rows.size() == 4);
  CHECK(rows[0] == std::vector<std::string>{"index", "start", "end", "allele", "orig_seq", "mut_seq", "orig_pred",
                                            "mut_pred", "diff", "logOR"});
  CHECK(rows[1][5] == "ACGATGCAAGTCCGATTGCA");
  CHECK(rows[2][5] == "TTGACCCCAGGTACCATG");
  CHECK(rows[3][5] == "GGAAACCCGTGT");
  // The probabilities are the model's, and diff/logOR follow from them.
  models::LoadedModel lm = models::load_model(model, models::Heads::Classification);
  tokenizer::KmerTokenizer tok(lm.vocab);
  engine::Arena arena;
  for (size_t i = 1; i < rows.size(); ++i) {
    std::vector<std::vector<int32_t>> ids(2);
    tok.append_ids(rows[i][4], tokenizer::Input::Sequence, ids[0]);
    tok.append_ids(rows[i][5], tokenizer::Input::Sequence, ids[1]);
    const auto p = models::classify_sequences(*lm.model, ids, {}, arena);
    CHECK(std::stod(rows[i][6]) == doctest::Approx(p[1]).epsilon(1e-5));
    CHECK(std::stod(rows[i][7]) == doctest::Approx(p[3]).epsilon(1e-5));
    const auto e = models::variant_effect(std::stod(rows[i][6]), std::stod(rows[i][7]));
    CHECK(std::stod(rows[i][8]) == doctest::Approx(e.diff).epsilon(1e-4));
    CHECK(std::stod(rows[i][9]) == doctest::Approx(e.log_odds_ratio).epsilon(1e-4));
  }
  CHECK(std::stod(rows[1][6]) != std::stod(rows[1][7]));  // the mutation changed the prediction

  // --saturate: one row per position, diff 0 for the reference base.
  const std::string sat = temp_path("variants_sat.tsv");
  r = run_cli("variants --model " + model + " --input " + input + " --saturate --plot 1 --out " + sat);
  REQUIRE_MESSAGE(r.status == 0, r.output);
  const auto srows = read_tsv(sat);
  REQUIRE(srows.size() == 1 + 20 + 16 + 16);
  CHECK(srows[1][0] == "0");
  CHECK(srows[1][2] == "A");
  CHECK(std::stod(srows[1][4]) == 0.0);  // A -> A
  CHECK(std::filesystem::exists(temp_path("variants_sat_saturation_0.svg")));
  CHECK_FALSE(std::filesystem::exists(temp_path("variants_sat_saturation_1.svg")));

  // VCF against a reference.
  const std::string chr = "AAAAACCCCCGGGGTGTTTTACGTACGTAC";
  const std::string fasta = write_file("variants_ref.fa", ">chr1\n" + chr + "\n");
  const std::string vcf = write_file("variants.vcf", "#CHROM\tPOS\tID\tREF\tALT\nchr1\t15\trs1\tT\tA\n");
  const std::string vout = temp_path("variants_vcf.tsv");
  r = run_cli("variants --model " + model + " --vcf " + vcf + " --reference " + fasta + " --window 12 --out " + vout);
  REQUIRE_MESSAGE(r.status == 0, r.output);
  const auto vrows = read_tsv(vout);
  REQUIRE(vrows.size() == 2);
  CHECK(vrows[1][0] == "chr1");
  CHECK(vrows[1][5] == chr.substr(9, 12));
  CHECK(vrows[1][6] == "CGGGGAGTTTTA");

  r = run_cli("variants --model " + model + " --input " + input + " --mutations " + muts + " --saturate --out " + out);
  CHECK(r.status == 2);
  CHECK(r.output.find("give exactly one of --mutations, --vcf or --saturate") != std::string::npos);
  const std::string far = write_file("variants_far.tsv", "7\t1\t2\tA\n");
  r = run_cli("variants --model " + model + " --input " + input + " --mutations " + far + " --out " + out);
  CHECK(r.status == 1);
  CHECK(r.output.find(far + ": line 1: index 7 is beyond the 3 sequences of " + input) != std::string::npos);
}
