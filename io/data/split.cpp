#include "io/data/split.h"

#include <cmath>
#include <filesystem>

#include "base/error.h"
#include "engine/rng.h"
#include "io/formats/atomic_file.h"

namespace dnabert::io {

namespace {

constexpr const char* kSplitNames[3] = {"train", "dev", "test"};

void shuffle(std::vector<size_t>& v, engine::Rng& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

}  // namespace

SplitFractions parse_fractions(const std::string& text) {
  std::vector<double> f;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string part = text.substr(start, end - start);
    size_t used = 0;
    double v = NAN;
    try {
      v = std::stod(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (part.empty() || used != part.size() || !std::isfinite(v))
      throw UsageError("--fractions '" + text + "': '" + part + "' is not a number");
    f.push_back(v);
    start = end + 1;
  }
  if (f.size() != 3) throw UsageError("--fractions '" + text + "': give three fractions train,dev,test");
  for (double v : f)
    if (!(v > 0)) throw UsageError("--fractions '" + text + "': every fraction must be > 0");
  if (std::fabs(f[0] + f[1] + f[2] - 1.0) > 1e-6) throw UsageError("--fractions '" + text + "': must sum to 1");
  return {f[0], f[1], f[2]};
}

std::array<std::vector<size_t>, 3> stratified_split(const std::vector<int32_t>& labels, size_t num_classes,
                                                    const SplitFractions& fractions, uint64_t seed) {
  std::vector<std::vector<size_t>> by_class(num_classes);
  for (size_t i = 0; i < labels.size(); ++i) by_class.at(static_cast<size_t>(labels[i])).push_back(i);
  std::array<std::vector<size_t>, 3> parts;
  for (size_t c = 0; c < num_classes; ++c) {
    std::vector<size_t>& rows = by_class[c];
    engine::Rng rng(seed, engine::mix_stream(0x5b1, c));
    shuffle(rows, rng);
    const size_t n = rows.size();
    const size_t n_dev = std::min(n, static_cast<size_t>(std::llround(fractions.dev * static_cast<double>(n))));
    const size_t n_test =
        std::min(n - n_dev, static_cast<size_t>(std::llround(fractions.test * static_cast<double>(n))));
    const size_t n_train = n - n_dev - n_test;
    parts[0].insert(parts[0].end(), rows.begin(), rows.begin() + static_cast<ptrdiff_t>(n_train));
    parts[1].insert(parts[1].end(), rows.begin() + static_cast<ptrdiff_t>(n_train),
                    rows.begin() + static_cast<ptrdiff_t>(n_train + n_dev));
    parts[2].insert(parts[2].end(), rows.begin() + static_cast<ptrdiff_t>(n_train + n_dev), rows.end());
  }
  for (size_t s = 0; s < 3; ++s) {
    if (parts[s].empty())
      throw Error("split: the " + std::string(kSplitNames[s]) + " split would be empty (" +
                  std::to_string(labels.size()) + " examples); use more data or larger fractions");
    engine::Rng rng(seed, engine::mix_stream(0x5b2, s));
    shuffle(parts[s], rng);
  }
  return parts;
}

std::string to_gue_csv(const LabelledDataset& d, const std::vector<size_t>& rows) {
  const bool pair = !d.texts_b.empty();
  std::string out = pair ? "sequence1,sequence2,label\n" : "sequence,label\n";
  for (size_t i : rows) {
    out += d.texts.at(i);
    if (pair) out += "," + d.texts_b.at(i);
    out += "," + d.label_map.name(d.labels.at(i)) + "\n";
  }
  return out;
}

std::array<std::vector<size_t>, 3> write_split(const LabelledDataset& d, const std::string& dir,
                                               const SplitFractions& fractions, uint64_t seed) {
  std::array<std::vector<size_t>, 3> parts = stratified_split(d.labels, d.label_map.size(), fractions, seed);
  std::filesystem::create_directories(dir);
  for (size_t s = 0; s < 3; ++s)
    write_file_atomic((std::filesystem::path(dir) / (std::string(kSplitNames[s]) + ".csv")).string(),
                      to_gue_csv(d, parts[s]));
  return parts;
}

}  // namespace dnabert::io
