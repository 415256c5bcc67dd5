// dnabert split: stratified, disjoint, complete, deterministic for a seed, and
// readable by finetune; bad fractions and missing inputs are usage errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "io/data/dataset.h"
#include "io/data/split.h"
#include "tests/test_util.h"

using namespace dnabert;
using namespace dnabert::testing;

TEST_CASE("parse_fractions accepts three positive fractions summing to 1 and rejects the rest") {
  const io::SplitFractions f = io::parse_fractions("0.7,0.2,0.1");
  CHECK(f.train == 0.7);
  CHECK(f.dev == 0.2);
  CHECK(f.test == 0.1);
  CHECK(error_of([] { io::parse_fractions("0.8,0.2"); }) == "--fractions '0.8,0.2': give three fractions train,dev,test");
  CHECK(error_of([] { io::parse_fractions("0.8,0.3,0.1"); }) == "--fractions '0.8,0.3,0.1': must sum to 1");
  CHECK(error_of([] { io::parse_fractions("1,0,0"); }) == "--fractions '1,0,0': every fraction must be > 0");
  CHECK(error_of([] { io::parse_fractions("0.8,x,0.1"); }) == "--fractions '0.8,x,0.1': 'x' is not a number");
  CHECK(error_of([] { io::parse_fractions("0.8,,0.2"); }) == "--fractions '0.8,,0.2': '' is not a number");
}

TEST_CASE("stratified_split keeps each class's proportions, covers every example once and depends only on the seed") {
  std::vector<int32_t> labels;
  for (int i = 0; i < 130; ++i) labels.push_back(i % 13 < 3 ? 1 : 0);  // 100 of class 0, 30 of class 1
  const io::SplitFractions f{0.8, 0.1, 0.1};
  const auto parts = io::stratified_split(labels, 2, f, 7);
  // class 0: 10 dev, 10 test, 80 train; class 1: round(3) = 3 dev, 3 test, 24 train.
  const size_t want[3][2] = {{80, 24}, {10, 3}, {10, 3}};
  std::vector<int> seen(labels.size(), 0);
  for (size_t s = 0; s < 3; ++s) {
    size_t count[2] = {0, 0};
    for (size_t i : parts[s]) ++count[labels[i]], ++seen[i];
    CHECK(count[0] == want[s][0]);
    CHECK(count[1] == want[s][1]);
  }
  CHECK(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
  CHECK(io::stratified_split(labels, 2, f, 7) == parts);
  CHECK(io::stratified_split(labels, 2, f, 8) != parts);
  // Rows are shuffled within a split, not left in input order.
  CHECK(!std::is_sorted(parts[0].begin(), parts[0].end()));
  CHECK(error_of([] { io::stratified_split({0, 1}, 2, {0.8, 0.1, 0.1}, 1); }) ==
        "split: the dev split would be empty (2 examples); use more data or larger fractions");
}

TEST_CASE("dnabert split writes GUE CSV files that finetune reads, the same bytes for the same seed") {
  std::string pos, neg;
  for (int i = 0; i < 20; ++i) pos += ">p" + std::to_string(i) + "\nACGT" + std::string(10 + i, "ACGT"[i % 4]) + "\n";
  for (int i = 0; i < 50; ++i) neg += ">n" + std::to_string(i) + "\nTTGA" + std::string(5 + i, "ACGT"[i % 4]) + "CA\n";
  const std::string pos_fa = write_file("split/pos.fa", pos), neg_fa = write_file("split/neg.fa", neg);
  const std::string inputs = "split --pos " + pos_fa + " --neg " + neg_fa, args = inputs + " --fractions 0.6,0.2,0.2 --out ";
  const std::string a = scratch_dir("split/a"), b = scratch_dir("split/b"), c = scratch_dir("split/c");
  for (const auto& [dir, seed] : {std::pair{a, 5}, {b, 5}, {c, 6}}) {
    CliRun r = run_cli(args + dir + " --seed " + std::to_string(seed));
    INFO(r.output);
    REQUIRE(r.status == 0);
  }
  CHECK(run_cli(args + a + " --seed 5").output.find("test  14 examples: label 0 10 label 1 4") != std::string::npos);
  std::multiset<std::string> all;
  const size_t want[3][2] = {{30, 12}, {10, 4}, {10, 4}};  // (label 0, label 1) per split
  const char* names[3] = {"train", "dev", "test"};
  for (int s = 0; s < 3; ++s) {
    const std::string file = a + "/" + names[s] + ".csv";
    CHECK(slurp(file).rfind("sequence,label\n", 0) == 0);
    CHECK(slurp(file) == slurp(b + "/" + names[s] + ".csv"));
    const io::LabelledDataset d = io::read_dataset({file});
    CHECK(d.format == io::DatasetFormat::GueCsv);
    size_t count[2] = {0, 0};
    for (size_t i = 0; i < d.size(); ++i) {
      ++count[std::stoi(d.label_map.name(d.labels[i]))];
      all.insert(d.texts[i] + "," + d.label_map.name(d.labels[i]));
    }
    CHECK(count[0] == want[s][0]);
    CHECK(count[1] == want[s][1]);
  }
  CHECK(slurp(a + "/train.csv") != slurp(c + "/train.csv"));
  // Together the three files hold exactly the input examples.
  std::multiset<std::string> input;
  const io::LabelledDataset in = io::read_dataset({pos_fa + ":1", neg_fa + ":0"});
  for (size_t i = 0; i < in.size(); ++i) input.insert(in.texts[i] + "," + in.label_map.name(in.labels[i]));
  CHECK(all == input);
  // Splitting a written table again works (--input), with the labels kept as written.
  CliRun again = run_cli("split --input " + a + "/train.csv --out " + scratch_dir("split/d"));
  INFO(again.output);
  CHECK(again.status == 0);

  CliRun bad = run_cli(inputs + " --fractions 0.9,0.2,0.1 --out " + scratch_dir("split/e"));
  INFO(bad.output);
  CHECK(bad.status == 2);
  CHECK(bad.output.find("--fractions '0.9,0.2,0.1': must sum to 1") != std::string::npos);
  CHECK(!std::filesystem::exists(temp_path("split/e/train.csv")));
  CliRun none = run_cli("split --out " + temp_path("split/f"));
  CHECK(none.status == 2);
  CHECK(none.output.find("give either --input TABLE or --pos and --neg") != std::string::npos);
  CliRun half = run_cli("split --pos " + pos_fa + " --out " + temp_path("split/g"));
  CHECK(half.status == 2);
  CHECK(half.output.find("--pos and --neg go together") != std::string::npos);
}
