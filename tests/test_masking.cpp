// models/training/masking: DNABERT's span masking, exact spans, rates, 80/10/10, keying.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include "base/error.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "models/training/masking.h"
#include "tokenizer/vocab.h"

using namespace dnabert;
using namespace dnabert::models;
using tokenizer::kClsId;
using tokenizer::kMaskId;
using tokenizer::kPadId;
using tokenizer::kSepId;
using tokenizer::kUnkId;

namespace {

// A padded batch: row b is [CLS] + lengths[b] random k-mer ids + [SEP] + [PAD]...
std::vector<int32_t> make_batch(const std::vector<int64_t>& lengths, int64_t T, int32_t vocab_size, uint64_t seed) {
  engine::Rng rng(seed, 99);
  std::vector<int32_t> ids(lengths.size() * T, kPadId);
  for (size_t b = 0; b < lengths.size(); ++b) {
    REQUIRE(lengths[b] + 2 <= T);
    int32_t* row = ids.data() + b * T;
    row[0] = kClsId;
    for (int64_t t = 1; t <= lengths[b]; ++t)
      row[t] = tokenizer::kNumSpecial + static_cast<int32_t>(rng.below(vocab_size - tokenizer::kNumSpecial));
    row[lengths[b] + 1] = kSepId;
  }
  return ids;
}

std::vector<int> positions_of(const std::vector<uint8_t>& mask) {
  std::vector<int> out;
  for (size_t i = 0; i < mask.size(); ++i)
    if (mask[i]) out.push_back(static_cast<int>(i));
  return out;
}

std::vector<int> range(int lo, int hi) {  // [lo, hi]
  std::vector<int> v(hi - lo + 1);
  std::iota(v.begin(), v.end(), lo);
  return v;
}

std::vector<int> join(std::initializer_list<std::vector<int>> parts) {
  std::vector<int> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace

TEST_CASE("span offsets reproduce DNABERT's MASK_LIST for k = 3..6") {
  // MASK_LIST from run_pretrain.py: the offsets added to each centre.
  const std::vector<std::vector<int>> mask_list = {{-1, 1}, {-1, 1, 2}, {-2, -1, 1, 2}, {-2, -1, 1, 2, 3}};
  for (int k = 3; k <= 6; ++k) {
    SpanOffsets s = span_offsets(k);
    std::vector<int> offsets;
    for (int o = -s.before; o <= s.after; ++o)
      if (o != 0) offsets.push_back(o);
    CHECK(offsets == mask_list[k - 3]);
  }
  CHECK(span_offsets(7).before == 3);
  CHECK(span_offsets(7).after == 3);
  CHECK(span_offsets(8).before == 3);
  CHECK(span_offsets(8).after == 4);
  CHECK_THROWS_AS(span_offsets(0), Error);
}

TEST_CASE("spans are exact, clipped to [1, last real k-mer], never on [CLS], [SEP] or [PAD]") {
  // T = 20: [CLS], real k-mers at 1..15, [SEP] at 16, [PAD] at 17..19.
  std::vector<int32_t> row = make_batch({15}, 20, 69, 1);
  REQUIRE(row[16] == kSepId);
  REQUIRE(row[17] == kPadId);
  // Centres at the first real token, the middle, and the last real token.
  const std::vector<std::vector<int>> expected = {
      join({range(1, 2), range(7, 9), range(14, 15)}),    // k=3: c-1..c+1
      join({range(1, 3), range(7, 10), range(14, 15)}),   // k=4: c-1..c+2
      join({range(1, 3), range(6, 10), range(13, 15)}),   // k=5: c-2..c+2
      join({range(1, 4), range(6, 11), range(13, 15)}),   // k=6: c-2..c+3
      join({range(1, 4), range(5, 11), range(12, 15)}),   // k=7: c-3..c+3
      range(1, 15),                                       // k=8: c-3..c+4, spans touch
  };
  for (int k = 3; k <= 8; ++k) {
    CAPTURE(k);
    std::vector<uint8_t> mask(20, 0);
    mask[1] = mask[8] = mask[15] = 1;
    grow_spans(k, row, mask);
    CHECK(positions_of(mask) == expected[k - 3]);
  }

  // DNABERT's `end` is the last non-special position: a trailing [UNK] stops
  // the span, an interior [UNK] is covered (but is never a centre; see below).
  std::vector<int32_t> unk_row = {kClsId, 10, kUnkId, 12, 13, kUnkId, kSepId, kPadId};
  std::vector<uint8_t> mask(8, 0);
  mask[4] = 1;
  grow_spans(6, unk_row, mask);
  CHECK(positions_of(mask) == std::vector<int>{2, 3, 4});
  mask.assign(8, 0);
  mask[1] = 1;
  grow_spans(6, unk_row, mask);
  CHECK(positions_of(mask) == std::vector<int>{1, 2, 3, 4});

  // With p = 1 every real k-mer is a centre: exactly the real tokens are masked.
  MaskingOptions all{6, 1.0, 69, 5};
  std::vector<uint8_t> m = masked_positions(all, 0, 1, 8, unk_row);
  CHECK(positions_of(m) == std::vector<int>{1, 2, 3, 4});
  // A row with no real token masks nothing (DNABERT would index an empty list).
  std::vector<int32_t> empty_row = {kClsId, kSepId, kPadId, kPadId};
  CHECK(positions_of(masked_positions(all, 0, 1, 4, empty_row)).empty());
}

TEST_CASE("mask rate <-> mlm_probability conversion") {
  for (int k = 3; k <= 8; ++k) {
    for (double r : {0.0, 0.01, 0.15, 0.5}) {
      const double p = mlm_probability_for_mask_rate(r, k);
      CHECK(p == doctest::Approx(1.0 - std::pow(1.0 - r, 1.0 / k)).epsilon(1e-12));
      CHECK(mask_rate_for_mlm_probability(p, k) == doctest::Approx(r).epsilon(1e-12));
    }
  }
  // DNABERT's default p = 0.025 with k = 6 masks 1 - 0.975^6 of the tokens.
  CHECK(mask_rate_for_mlm_probability(0.025, 6) == doctest::Approx(0.14093).epsilon(1e-4));
  CHECK(mlm_probability_for_mask_rate(0.15, 6) == doctest::Approx(0.026726).epsilon(1e-4));
  CHECK_THROWS_AS(mlm_probability_for_mask_rate(1.5, 6), Error);
  CHECK_THROWS_AS(mask_rate_for_mlm_probability(-0.1, 6), Error);
}

TEST_CASE("masked fraction matches its exact expectation within 5 standard errors") {
  // Real positions 1..L. Position j is masked iff some centre lies in
  // W_j = [max(1, j - after), min(L, j + before)], so X_j = 0 with probability
  // q^|W_j| (q = 1 - p). Indicators of different rows are independent; within
  // a row Cov(X_i, X_j) = q^|W_i ∪ W_j| - q^(|W_i| + |W_j|), non-zero only when
  // the windows overlap. Sum both to get the exact mean and variance.
  auto exact_moments = [](int64_t L, int k, double p) {
    const SpanOffsets s = span_offsets(k);
    const double q = 1.0 - p;
    auto window = [&](int64_t j) { return std::pair{std::max<int64_t>(1, j - s.after), std::min<int64_t>(L, j + s.before)}; };
    double mean = 0, var = 0;
    for (int64_t i = 1; i <= L; ++i) {
      auto [a0, a1] = window(i);
      const double ni = static_cast<double>(a1 - a0 + 1);
      mean += 1.0 - std::pow(q, ni);
      for (int64_t j = std::max<int64_t>(1, i - k); j <= std::min<int64_t>(L, i + k); ++j) {
        auto [b0, b1] = window(j);
        const double nj = static_cast<double>(b1 - b0 + 1);
        const double overlap = static_cast<double>(std::max<int64_t>(0, std::min(a1, b1) - std::max(a0, b0) + 1));
        var += std::pow(q, ni + nj - overlap) - std::pow(q, ni + nj);
      }
    }
    return std::pair{mean, var};
  };

  for (int k : {3, 6, 8}) {
    CAPTURE(k);
    const double p = 0.025;  // DNABERT's default
    const int64_t B = 64, T = 512;
    const int32_t V = static_cast<int32_t>(tokenizer::num_kmers(k)) + tokenizer::kNumSpecial;
    double observed = 0, mean = 0, var = 0, real_tokens = 0;
    for (uint64_t step = 0; step < 4; ++step) {
      std::vector<int64_t> lengths(B);
      engine::Rng len_rng(step, 5);
      for (auto& L : lengths) L = 300 + static_cast<int64_t>(len_rng.below(211));  // 300..510
      std::vector<int32_t> ids = make_batch(lengths, T, V, 100 + step);
      std::vector<uint8_t> m = masked_positions({k, p, V, 42}, step, B, T, ids);
      for (size_t i = 0; i < m.size(); ++i) {
        if (m[i]) CHECK_MESSAGE(ids[i] >= tokenizer::kNumSpecial, "masked a special token");
        observed += m[i];
      }
      for (int64_t L : lengths) {
        auto [mu, v] = exact_moments(L, k, p);
        mean += mu;
        var += v;
        real_tokens += static_cast<double>(L);
      }
    }
    const double sigma = std::sqrt(var);
    MESSAGE("k=" << k << ": masked " << observed << " of " << real_tokens << ", expected " << mean << " ± "
                 << sigma << "; asymptotic rate " << mask_rate_for_mlm_probability(p, k));
    CHECK(std::abs(observed - mean) < 5.0 * sigma);
    // The asymptotic 1 - (1 - p)^k is close to the exact rate for long rows.
    CHECK(mean / real_tokens == doctest::Approx(mask_rate_for_mlm_probability(p, k)).epsilon(0.02));
  }
}

TEST_CASE("80/10/10 split, labels, and untouched positions") {
  const int k = 3;
  const int32_t V = 69;
  const int64_t B = 256, T = 256;
  std::vector<int64_t> lengths(B);
  for (int64_t b = 0; b < B; ++b) lengths[b] = 100 + (b * 37) % 150;
  const std::vector<int32_t> original = make_batch(lengths, T, V, 7);
  std::vector<int32_t> ids = original;
  const MaskingOptions opt{k, 0.2, V, 9};
  const std::vector<uint8_t> masked = masked_positions(opt, 3, B, T, original);
  const std::vector<int32_t> labels = mask_tokens(opt, 3, B, T, ids);

  double n = 0, n_mask = 0, n_same = 0, n_other = 0;
  std::set<int32_t> random_ids;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!masked[i]) {
      CHECK(labels[i] == kIgnoreLabel);
      CHECK(ids[i] == original[i]);
      continue;
    }
    CHECK(labels[i] == original[i]);
    n += 1;
    if (ids[i] == kMaskId) {
      n_mask += 1;
    } else if (ids[i] == original[i]) {
      n_same += 1;
    } else {
      n_other += 1;
      CHECK(ids[i] >= 0);
      CHECK(ids[i] < V);
      random_ids.insert(ids[i]);
    }
  }
  REQUIRE(n > 10000);
  // Given the masked set the three outcomes are i.i.d. per position. A random
  // id can also hit [MASK] or the original (1/V each).
  const double pm = 0.8 + 0.1 / V, ps = 0.1 + 0.1 / V, po = 0.1 * (V - 2) / V;
  for (auto [count, prob] : {std::pair{n_mask, pm}, std::pair{n_same, ps}, std::pair{n_other, po}}) {
    CAPTURE(prob);
    CHECK(std::abs(count - n * prob) < 5.0 * std::sqrt(n * prob * (1 - prob)));
  }
  // Random ids cover the specials too, as in DNABERT (torch.randint(len(tokenizer))).
  for (int32_t special : {kPadId, kUnkId, kClsId, kSepId}) CHECK(random_ids.count(special) == 1);
  CHECK(random_ids.size() == static_cast<size_t>(V - 1));  // every id but [MASK]
}

TEST_CASE("masking is a pure function of (seed, step, row key, position)") {
  const int32_t V = 4101;  // k = 6
  const int64_t B = 16, T = 128;
  std::vector<int64_t> lengths(B);
  for (int64_t b = 0; b < B; ++b) lengths[b] = 40 + b * 5;
  const std::vector<int32_t> original = make_batch(lengths, T, V, 3);
  const MaskingOptions opt{6, 0.05, V, 1234};
  auto run = [&](const MaskingOptions& o, uint64_t step, std::vector<uint64_t> keys = {}) {
    std::vector<int32_t> ids = original;
    std::vector<int32_t> labels = mask_tokens(o, step, B, T, ids, keys);
    return std::pair{ids, labels};
  };
  const auto base = run(opt, 10);
  CHECK(base == run(opt, 10));
  CHECK(base.second != run(opt, 11).second);
  MaskingOptions other_seed = opt;
  other_seed.seed = 1235;
  CHECK(base.second != run(other_seed, 10).second);

  // Thread count does not matter.
  const int threads = engine::num_threads();
  engine::set_num_threads(1);
  const auto one = run(opt, 10);
  engine::set_num_threads(2);
  const auto two = run(opt, 10);
  engine::set_num_threads(threads);
  CHECK(one == base);
  CHECK(two == base);

  // Batch composition does not matter when rows carry their example's key:
  // reversing the rows (and their keys) reverses the result.
  std::vector<uint64_t> keys(B);
  for (int64_t b = 0; b < B; ++b) keys[b] = 1000 + b;
  const auto keyed = run(opt, 10, keys);
  std::vector<int32_t> reversed(original.size());
  std::vector<uint64_t> reversed_keys(keys.rbegin(), keys.rend());
  for (int64_t b = 0; b < B; ++b)
    std::copy_n(original.begin() + b * T, T, reversed.begin() + (B - 1 - b) * T);
  std::vector<int32_t> labels = mask_tokens(opt, 10, B, T, reversed, reversed_keys);
  for (int64_t b = 0; b < B; ++b) {
    CAPTURE(b);
    const int64_t r = B - 1 - b;
    CHECK(std::equal(labels.begin() + r * T, labels.begin() + (r + 1) * T, keyed.second.begin() + b * T));
    CHECK(std::equal(reversed.begin() + r * T, reversed.begin() + (r + 1) * T, keyed.first.begin() + b * T));
  }
  int masked = 0;
  for (int32_t l : keyed.second) masked += l != kIgnoreLabel;
  CHECK(masked > 50);  // the comparison above is not vacuous
}

TEST_CASE("bad arguments are reported") {
  std::vector<int32_t> ids = {kClsId, 5, 70, kSepId};
  CHECK_THROWS_WITH_AS(mask_tokens({3, 0.1, 69, 0}, 0, 1, 4, ids),
                       "mask_tokens: id 70 at row 0, position 2 is outside [0, 69)", Error);
  ids[2] = 6;
  CHECK_THROWS_WITH_AS(mask_tokens({3, 0.1, 69, 0}, 0, 2, 4, ids),
                       "mask_tokens: input_ids has 4 ids, expected B*T = 2*4", Error);
  CHECK_THROWS_WITH_AS(mask_tokens({3, 1.5, 69, 0}, 0, 1, 4, ids),
                       "mask_tokens: mlm_probability must be in [0, 1], got 1.500000", Error);
  CHECK_THROWS_WITH_AS(mask_tokens({3, 0.1, 5, 0}, 0, 1, 4, ids),
                       "mask_tokens: vocab_size must exceed the 5 special tokens, got 5", Error);
  std::vector<uint64_t> keys = {1, 2};
  CHECK_THROWS_WITH_AS(mask_tokens({3, 0.1, 69, 0}, 0, 1, 4, ids, keys), "mask_tokens: 2 row keys for 1 rows", Error);
}
