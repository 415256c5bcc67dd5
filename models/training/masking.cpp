#include "models/training/masking.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "base/error.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "tokenizer/vocab.h"

namespace dnabert::models {

namespace {

// Domain separator: keeps masking streams apart from dropout, init, sampling.
constexpr uint64_t kMaskingSalt = 0x6D61736B696E6701ull;  // "masking\x01"

// Fixed counters of the draws within a position's stream (see masking.h).
constexpr uint64_t kCentreDraw = 0, kReplaceDraw = 2, kRandomDraw = 4, kRandomIdDraw = 6;

bool is_real_kmer(int32_t id) { return id >= tokenizer::kNumSpecial; }

engine::Rng position_rng(const MaskingOptions& o, uint64_t step_stream, uint64_t row_key, int64_t position,
                         uint64_t counter) {
  return engine::Rng(o.seed, engine::mix_stream(step_stream, row_key, static_cast<uint64_t>(position)), counter);
}

void check_options(const char* what, const MaskingOptions& o) {
  const std::string w = what;
  if (o.k < 1) throw Error(w + ": k must be >= 1, got " + std::to_string(o.k));
  if (!(o.mlm_probability >= 0.0 && o.mlm_probability <= 1.0))
    throw Error(w + ": mlm_probability must be in [0, 1], got " + std::to_string(o.mlm_probability));
  if (o.vocab_size <= tokenizer::kNumSpecial)
    throw Error(w + ": vocab_size must exceed the " + std::to_string(tokenizer::kNumSpecial) +
                " special tokens, got " + std::to_string(o.vocab_size));
}

void check_batch(const char* what, const MaskingOptions& o, int64_t B, int64_t T, std::span<const int32_t> ids,
                 std::span<const uint64_t> row_keys) {
  const std::string w = what;
  if (B < 0 || T < 0) throw Error(w + ": negative batch shape [" + std::to_string(B) + ", " + std::to_string(T) + "]");
  if (static_cast<int64_t>(ids.size()) != B * T)
    throw Error(w + ": input_ids has " + std::to_string(ids.size()) + " ids, expected B*T = " +
                std::to_string(B) + "*" + std::to_string(T));
  if (!row_keys.empty() && static_cast<int64_t>(row_keys.size()) != B)
    throw Error(w + ": " + std::to_string(row_keys.size()) + " row keys for " + std::to_string(B) + " rows");
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= o.vocab_size)
      throw Error(w + ": id " + std::to_string(ids[i]) + " at row " + std::to_string(i / T) + ", position " +
                  std::to_string(i % T) + " is outside [0, " + std::to_string(o.vocab_size) + ")");
}

// Rows per parallel chunk; any partition gives the same result (pure draws).
constexpr int64_t kRowGrain = 4;

}  // namespace

SpanOffsets span_offsets(int k) {
  if (k < 1) throw Error("span_offsets: k must be >= 1, got " + std::to_string(k));
  return SpanOffsets{(k - 1) / 2, k / 2};  // k/2 = ⌈(k-1)/2⌉
}

double mlm_probability_for_mask_rate(double mask_rate, int k) {
  if (k < 1) throw Error("mlm_probability_for_mask_rate: k must be >= 1, got " + std::to_string(k));
  if (!(mask_rate >= 0.0 && mask_rate <= 1.0))
    throw Error("mlm_probability_for_mask_rate: mask rate must be in [0, 1], got " + std::to_string(mask_rate));
  // -expm1(log1p(-r) / k) = 1 - (1 - r)^(1/k), accurate for small r.
  return -std::expm1(std::log1p(-mask_rate) / k);
}

double mask_rate_for_mlm_probability(double mlm_probability, int k) {
  if (k < 1) throw Error("mask_rate_for_mlm_probability: k must be >= 1, got " + std::to_string(k));
  if (!(mlm_probability >= 0.0 && mlm_probability <= 1.0))
    throw Error("mask_rate_for_mlm_probability: probability must be in [0, 1], got " +
                std::to_string(mlm_probability));
  return -std::expm1(k * std::log1p(-mlm_probability));
}

void grow_spans(int k, std::span<const int32_t> ids, std::span<uint8_t> masked) {
  if (ids.size() != masked.size())
    throw Error("grow_spans: " + std::to_string(ids.size()) + " ids but " + std::to_string(masked.size()) +
                " mask entries");
  const SpanOffsets span = span_offsets(k);
  const int64_t T = static_cast<int64_t>(ids.size());
  int64_t end = -1;  // DNABERT's `end`: last position whose probability was non-zero
  for (int64_t t = T - 1; t >= 0; --t)
    if (is_real_kmer(ids[t])) {
      end = t;
      break;
    }
  // Centres are read from a copy so that grown positions do not grow again.
  std::vector<uint8_t> centres(masked.begin(), masked.end());
  for (int64_t c = 0; c < T; ++c) {
    if (!centres[c]) continue;
    const int64_t lo = std::max<int64_t>(1, c - span.before), hi = std::min<int64_t>(end, c + span.after);
    for (int64_t t = lo; t <= hi; ++t) masked[t] = 1;
  }
}

namespace {

std::vector<uint8_t> checked_masked_positions(const char* what, const MaskingOptions& options, uint64_t step, int64_t B,
                                              int64_t T, std::span<const int32_t> input_ids,
                                              std::span<const uint64_t> row_keys) {
  check_options(what, options);
  check_batch(what, options, B, T, input_ids, row_keys);
  const uint64_t step_stream = engine::mix_stream(kMaskingSalt, step);
  std::vector<uint8_t> masked(static_cast<size_t>(B * T), 0);
  engine::parallel_for(B, kRowGrain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const uint64_t key = row_keys.empty() ? static_cast<uint64_t>(b) : row_keys[b];
      std::span<const int32_t> row = input_ids.subspan(b * T, T);
      std::span<uint8_t> row_mask(masked.data() + b * T, static_cast<size_t>(T));
      for (int64_t t = 0; t < T; ++t) {
        if (!is_real_kmer(row[t])) continue;
        engine::Rng rng = position_rng(options, step_stream, key, t, kCentreDraw);
        row_mask[t] = rng.uniform_double() < options.mlm_probability;  // Bernoulli(p)
      }
      grow_spans(options.k, row, row_mask);
    }
  });
  return masked;
}

}  // namespace

std::vector<uint8_t> masked_positions(const MaskingOptions& options, uint64_t step, int64_t B, int64_t T,
                                      std::span<const int32_t> input_ids, std::span<const uint64_t> row_keys) {
  return checked_masked_positions("masked_positions", options, step, B, T, input_ids, row_keys);
}

std::vector<int32_t> mask_tokens(const MaskingOptions& options, uint64_t step, int64_t B, int64_t T,
                                 std::span<int32_t> input_ids, std::span<const uint64_t> row_keys) {
  const std::vector<uint8_t> masked =
      checked_masked_positions("mask_tokens", options, step, B, T, input_ids, row_keys);
  const uint64_t step_stream = engine::mix_stream(kMaskingSalt, step);
  std::vector<int32_t> labels(static_cast<size_t>(B * T), kIgnoreLabel);
  engine::parallel_for(B, kRowGrain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const uint64_t key = row_keys.empty() ? static_cast<uint64_t>(b) : row_keys[b];
      for (int64_t t = 0; t < T; ++t) {
        const int64_t i = b * T + t;
        if (!masked[i]) continue;
        labels[i] = input_ids[i];
        // DNABERT: replaced = Bernoulli(0.8); random = Bernoulli(0.5) & ~replaced,
        // so 80% [MASK], 10% random, 10% unchanged.
        if (position_rng(options, step_stream, key, t, kReplaceDraw).uniform_double() < 0.8) {
          input_ids[i] = tokenizer::kMaskId;
        } else if (position_rng(options, step_stream, key, t, kRandomDraw).uniform_double() < 0.5) {
          engine::Rng rng = position_rng(options, step_stream, key, t, kRandomIdDraw);
          input_ids[i] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(options.vocab_size)));
        }
      }
    }
  });
  return labels;
}

}  // namespace dnabert::models
