// A fixed, seeded, stratified train/dev/test split of a labelled dataset (for
// sets published without one, such as CNNProm), written as GUE CSV files.
//
// Every class is split on its own: of its n examples, round(n * dev) go to dev,
// round(n * test) to test and the rest to train, after a Fisher-Yates shuffle
// driven by Philox (seed, class), so the split depends only on the seed and the
// input, never on the platform's standard library. Each split's rows are then
// shuffled again (Philox (seed, split)) so classes are interleaved.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "io/data/dataset.h"

namespace dnabert::io {

struct SplitFractions {
  double train = 0.8, dev = 0.1, test = 0.1;
};

// "0.8,0.1,0.1" -> {0.8, 0.1, 0.1}. Throws dnabert::UsageError unless it is
// three numbers, each > 0, summing to 1 (within 1e-6).
SplitFractions parse_fractions(const std::string& text);

// Example indices of train, dev and test (in that order), each in its shuffled
// row order. Throws dnabert::Error if a split would be empty.
std::array<std::vector<size_t>, 3> stratified_split(const std::vector<int32_t>& labels, size_t num_classes,
                                                    const SplitFractions& fractions, uint64_t seed);

// The rows of `d` named by `rows` as GUE CSV: header `sequence,label` (or
// `sequence1,sequence2,label` for pair inputs), the label as its name.
std::string to_gue_csv(const LabelledDataset& d, const std::vector<size_t>& rows);

// Splits `d` and writes DIR/train.csv, DIR/dev.csv, DIR/test.csv, each
// atomically. Returns the split (as stratified_split).
std::array<std::vector<size_t>, 3> write_split(const LabelledDataset& d, const std::string& dir,
                                               const SplitFractions& fractions, uint64_t seed);

}  // namespace dnabert::io
