// Memory does not grow with the length of one record: tokenize, embed and
// predict read a long FASTA record in pieces (the k-mers of a window, not of
// the record, are held; tokenize writes its line as it goes). Each command's
// peak resident memory on a 48 MB record is compared with the same command
// on a short record: the difference must stay far below the record's size.
// Holding the record would cost at least 48 MB for its text and 192 MB for
// its k-mer ids.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tests/tiny_model.h"

using namespace dnabert::testing;

namespace {

constexpr size_t kRecordBases = size_t{48} << 20;

// Runs the dnabert binary with `args` (no shell, output to /dev/null) and
// returns its peak resident memory in MB; the exit status must be 0.
double peak_mb(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    std::vector<char*> argv{const_cast<char*>(DNABERT_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(DNABERT_BINARY, argv.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  REQUIRE(wait4(pid, &status, 0, &usage) == pid);
  INFO(args.front());
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KB
}

// A FASTA file with one record of `bases` random bases, 80 per line.
std::string fasta_of(const std::string& name, size_t bases) {
  const std::string path = temp_path(name);
  std::ofstream out(path, std::ios::binary);
  out << ">chrLong\n";
  std::mt19937 rng(1);
  std::string line(80, 'A');
  for (size_t done = 0; done < bases; done += line.size()) {
    line.resize(std::min<size_t>(80, bases - done));
    for (char& c : line) c = "ACGT"[rng() & 3];
    out << line << '\n';
  }
  return path;
}

void check_flat(const std::string& what, std::vector<std::string> short_args, std::vector<std::string> long_args) {
  const double base = peak_mb(short_args), peak = peak_mb(long_args);
  INFO(what << ": " << base << " MB on a short record, " << peak << " MB on a " << (kRecordBases >> 20)
            << " MB record");
  CHECK(peak - base < 16.0);
}

}  // namespace

TEST_CASE("tokenize, embed and predict hold a window, not a record") {
  const std::string small = fasta_of("short.fa", 1000), big = fasta_of("long.fa", kRecordBases);
  const std::string classifier = tiny_model_dir("memory_classifier", 2, 3);
  const std::string encoder = tiny_model_dir("memory_encoder", 0, 3);
  for (const std::string& extra : {std::string(""), std::string("--max-len=10")}) {
    auto args = [&](const std::string& input) {
      std::vector<std::string> a{"tokenize", "--k", "3", input};
      if (!extra.empty()) a.push_back(extra);
      return a;
    };
    check_flat("tokenize " + extra, args(small), args(big));
  }
  check_flat("embed",
             {"embed", "--model", encoder, "--input", small, "--out", temp_path("short.npy")},
             {"embed", "--model", encoder, "--input", big, "--out", temp_path("long.npy")});
  // A stride of 4 Mb keeps the forward passes few; the k-mers still all stream through.
  check_flat("predict",
             {"predict", "--model", classifier, "--input", small, "--stride", "4000000", "--out", temp_path("short.tsv")},
             {"predict", "--model", classifier, "--input", big, "--stride", "4000000", "--out", temp_path("long.tsv")});
  const std::string tsv = slurp(temp_path("long.tsv"));
  CHECK(has(tsv, "chrLong\t"));
  CHECK(has(tsv, "\t14\n"));  // windows at 0, 4M, ..., 48M: ceil((48M - 62) / 4M) + 1 = 13 + 1
}
