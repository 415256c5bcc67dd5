#include "io/data/batcher.h"

#include <algorithm>
#include <numeric>

#include "base/error.h"
#include "engine/rng.h"

namespace dnabert::io {

namespace {
// Names the batcher's random stream, apart from those of init, dropout, masking.
constexpr uint64_t kBatcherStream = 0xBA7C4E5ull;

template <typename T>
void fisher_yates(std::vector<T>& v, engine::Rng& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}
}  // namespace

std::vector<Example> tokenize_dataset(const LabelledDataset& dataset, const tokenizer::KmerTokenizer& tokenizer) {
  if (dataset.input == tokenizer::Input::Sentence && dataset.sentence_k != tokenizer.k())
    throw Error("the dataset holds " + std::to_string(dataset.sentence_k) +
                "-mer sentences but the tokenizer has k=" + std::to_string(tokenizer.k()));
  std::vector<Example> examples(dataset.size());
  tokenizer::Encoding encoding;
  const bool pairs = !dataset.texts_b.empty();
  for (size_t i = 0; i < dataset.size(); ++i) {
    if (pairs)  // [CLS] a [SEP] b [SEP], token types 0 then 1
      encoding = tokenizer.encode_pair(dataset.texts[i], dataset.texts_b[i], dataset.input);
    else
      tokenizer.encode(dataset.texts[i], dataset.input, encoding);
    examples[i].ids = encoding.ids;
    examples[i].token_types = encoding.token_types;
    examples[i].label = dataset.labels[i];
  }
  return examples;
}

Batcher::Batcher(std::span<const Example> examples, BatcherOptions options) : examples_(examples), options_(options) {
  if (options_.batch_size == 0) throw Error("batcher: batch_size must be at least 1");
  if (options_.bucket_batches == 0) throw Error("batcher: bucket_batches must be at least 1");
}

size_t Batcher::num_batches() const {
  const size_t n = examples_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<std::vector<size_t>> Batcher::plan(uint64_t epoch) const {
  engine::Rng rng(options_.seed, engine::mix_stream(kBatcherStream, epoch));
  std::vector<size_t> order(examples_.size());
  std::iota(order.begin(), order.end(), size_t{0});
  if (options_.shuffle) fisher_yates(order, rng);
  if (options_.sort_by_length) {
    const size_t window = options_.bucket_batches * options_.batch_size;
    for (size_t start = 0; start < order.size(); start += window) {
      auto first = order.begin() + static_cast<ptrdiff_t>(start);
      auto last = order.begin() + static_cast<ptrdiff_t>(std::min(start + window, order.size()));
      std::stable_sort(first, last,
                       [&](size_t a, size_t b) { return examples_[a].ids.size() < examples_[b].ids.size(); });
    }
  }
  std::vector<std::vector<size_t>> batches;
  batches.reserve(num_batches());
  for (size_t start = 0; start < order.size(); start += options_.batch_size) {
    size_t end = std::min(start + options_.batch_size, order.size());
    if (options_.drop_last && end - start < options_.batch_size) break;
    batches.emplace_back(order.begin() + static_cast<ptrdiff_t>(start), order.begin() + static_cast<ptrdiff_t>(end));
  }
  if (options_.shuffle) fisher_yates(batches, rng);
  return batches;
}

void Batcher::make_batch(std::span<const size_t> indices, Batch& out) const {
  std::vector<Row> rows;
  rows.reserve(indices.size());
  for (size_t i : indices) {
    if (i >= examples_.size())
      throw Error("batcher: example index " + std::to_string(i) + " out of range (" + std::to_string(examples_.size()) +
                  " examples)");
    rows.push_back({examples_[i].ids, examples_[i].token_types});
  }
  pad(rows, out);
  out.example_indices.assign(indices.begin(), indices.end());
  for (size_t i : indices) out.labels.push_back(examples_[i].label);
}

void Batcher::start_epoch(uint64_t epoch) {
  current_ = plan(epoch);
  cursor_ = 0;
}

bool Batcher::next(Batch& out) {
  if (cursor_ >= current_.size()) return false;
  make_batch(current_[cursor_++], out);
  return true;
}

}  // namespace dnabert::io
