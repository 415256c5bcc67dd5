// dnabert split: a fixed, seeded, stratified train/dev/test split of labelled
// sequences (positive and negative FASTA files, or one labelled table), written
// as GUE CSV files that `finetune` reads.
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "base/error.h"
#include "io/data/dataset.h"
#include "io/formats/output_dir.h"
#include "io/data/split.h"

namespace dnabert::cli {
namespace {

struct SplitArgs {
  std::vector<std::string> pos, neg;
  std::string input, out, fractions = "0.8,0.1,0.1";
  uint64_t seed = 42;
  bool overwrite = false;
};

int run(const SplitArgs& a) {
  if (a.input.empty() == (a.pos.empty() && a.neg.empty()))
    throw UsageError("split: give either --input TABLE or --pos and --neg FASTA files");
  if (a.input.empty() && (a.pos.empty() || a.neg.empty())) throw UsageError("split: --pos and --neg go together");
  const io::SplitFractions fractions = io::parse_fractions(a.fractions);
  std::vector<std::string> inputs = {a.input};
  inputs.insert(inputs.end(), a.pos.begin(), a.pos.end());
  inputs.insert(inputs.end(), a.neg.begin(), a.neg.end());
  io::OutputDir out_dir(a.out, "split", a.overwrite, inputs);
  std::vector<std::string> specs;
  if (!a.input.empty()) specs.push_back(a.input);
  for (const auto& f : a.pos) specs.push_back(f + ":1");
  for (const auto& f : a.neg) specs.push_back(f + ":0");
  const io::LabelledDataset d = io::read_dataset(specs);
  out_dir.create();
  const auto parts = io::write_split(d, a.out, fractions, a.seed);

  // Per split and class counts, and exact sequences that occur in more than one
  // split (duplicates in the input leak across a split; say so, do not hide it).
  const char* names[3] = {"train", "dev", "test"};
  std::map<std::string, int> seen_in;  // sequence -> bit set of splits
  for (int s = 0; s < 3; ++s) {
    std::vector<size_t> count(d.label_map.size(), 0);
    for (size_t i : parts[static_cast<size_t>(s)]) {
      ++count[static_cast<size_t>(d.labels[i])];
      seen_in[d.texts[i] + (d.texts_b.empty() ? "" : "," + d.texts_b[i])] |= 1 << s;
    }
    std::printf("%-5s %zu examples:", names[s], parts[static_cast<size_t>(s)].size());
    for (size_t c = 0; c < count.size(); ++c) std::printf(" label %s %zu", d.label_map.name(static_cast<int32_t>(c)).c_str(), count[c]);
    std::printf("  -> %s/%s.csv\n", a.out.c_str(), names[s]);
  }
  size_t crossing = 0;
  for (const auto& [seq, mask] : seen_in) crossing += (mask & (mask - 1)) != 0;
  std::printf("%zu distinct sequences occur in more than one split (duplicates in the input)\n", crossing);
  return 0;
}

}  // namespace

Runner split_command(CLI::App& app) {
  auto a = std::make_shared<SplitArgs>();
  auto* s = app.add_subcommand("split", "Seeded, stratified train/dev/test split of labelled sequences into GUE CSV "
                                        "files (train.csv, dev.csv, test.csv)");
  auto* in = s->add_option("--input", a->input, "A labelled table: GUE CSV or DNABERT TSV")->check(CLI::ExistingFile);
  s->add_option("--pos", a->pos, "Positive FASTA file(s), plain or .gz: label 1")->check(CLI::ExistingFile)->excludes(in);
  s->add_option("--neg", a->neg, "Negative FASTA file(s), plain or .gz: label 0")->check(CLI::ExistingFile)->excludes(in);
  add_output_dir_options(s, a->out, a->overwrite);
  s->add_option("--fractions", a->fractions, "train,dev,test fractions, each > 0, summing to 1")->capture_default_str();
  s->add_option("--seed", a->seed, "Seed of the shuffle")->check(integer_in<uint64_t>(0))->capture_default_str();
  return [a] { return run(*a); };
}

}  // namespace dnabert::cli
