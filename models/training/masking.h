// DNABERT's masked-language-model corruption (run_pretrain.py, mask_tokens),
// reproduced exactly on a padded batch.
//
// 1. Centres: every real k-mer token (id >= kNumSpecial, so never [PAD],
//    [UNK], [CLS], [SEP], [MASK]) is a centre with probability p
//    (`mlm_probability`, DNABERT's knob).
// 2. Spans: each centre c masks c - ⌊(k-1)/2⌋ … c + ⌈(k-1)/2⌉, clipped to
//    [1, end], where end is the row's last real k-mer position. For k = 3..6
//    this is DNABERT's MASK_LIST {3: [-1, 1], 4: [-1, 1, 2], 5: [-2, -1, 1, 2],
//    6: [-2, -1, 1, 2, 3]}; the same rule covers k = 7, 8. Because k adjacent
//    k-mers share bases, masking fewer would let the model read the answer off
//    its neighbours.
// 3. Corruption of each masked position: 80% -> [MASK], 10% -> an id uniform
//    in [0, vocab_size) (specials included, as DNABERT does), 10% unchanged.
//    Labels are the original id where masked and -100 elsewhere.
//
// A real token away from the row's ends is masked iff some centre lies in a
// window of k positions, so the masked fraction is 1 - (1 - p)^k; the inverse
// turns a target mask rate r into p = 1 - (1 - r)^(1/k).
//
// Randomness (counter-based, engine::Rng): every draw for a position comes
// from its own stream
//   stream = mix_stream(mix_stream(kMaskingSalt, step), row_key, position)
// under `seed`, at fixed counters: words 0-1 the centre draw, 2-3 the [MASK]
// draw, 4-5 the random-vs-unchanged draw, 6+ the random id (Rng::below).
// So the result is a pure function of (seed, step, row_key, position, ids):
// independent of the thread count and, when the caller passes row keys that
// name the example (e.g. io::Batch::example_indices), of which batch or row an
// example lands in. Without row keys the key is the row index in the batch.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace dnabert::models {

inline constexpr int32_t kIgnoreLabel = -100;

struct MaskingOptions {
  int k = 6;                     // k-mer size, >= 1 (DNABERT uses 3..6)
  double mlm_probability = 0.025;  // p: probability that a real token is a centre
  int32_t vocab_size = 0;        // len(tokenizer): random ids are drawn from [0, vocab_size)
  uint64_t seed = 0;
};

// Offsets of a span around its centre: c - before … c + after.
struct SpanOffsets {
  int before = 0;  // ⌊(k-1)/2⌋
  int after = 0;   // ⌈(k-1)/2⌉
};
SpanOffsets span_offsets(int k);

// p for a target fraction r of masked tokens: p = 1 - (1 - r)^(1/k).
double mlm_probability_for_mask_rate(double mask_rate, int k);
// The inverse, the masked fraction away from the row ends: 1 - (1 - p)^k.
double mask_rate_for_mlm_probability(double mlm_probability, int k);

// Step 2 on one row: `masked` [T] holds the centres (1) on entry and the
// grown spans on return, clipped to [1, last real k-mer position of `ids`].
void grow_spans(int k, std::span<const int32_t> ids, std::span<uint8_t> masked);

// Steps 1 and 2: which positions of the [B*T] batch are masked (0/1, [B*T]).
// `row_keys` is empty (keys 0..B-1) or has B entries.
std::vector<uint8_t> masked_positions(const MaskingOptions& options, uint64_t step, int64_t B, int64_t T,
                                      std::span<const int32_t> input_ids, std::span<const uint64_t> row_keys = {});

// All three steps: corrupts `input_ids` [B*T] in place and returns the labels
// [B*T]. Throws dnabert::Error on bad options, sizes, or ids outside
// [0, vocab_size).
std::vector<int32_t> mask_tokens(const MaskingOptions& options, uint64_t step, int64_t B, int64_t T,
                                 std::span<int32_t> input_ids, std::span<const uint64_t> row_keys = {});

}  // namespace dnabert::models
