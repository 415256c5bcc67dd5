// The checks --resume makes on a checkpoint's trainer_state.json before
// pretraining reads any of it (models/training/pretrain.cpp). On their own, so that
// they can be fuzzed without the training loop (tests/fuzz/fuzz_trainer_state.cpp).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace dnabert::models {

// Every field of a trainer_state.json that resuming reads, checked for type
// and range before any of it is used (a wrong-length unigram_counts would
// otherwise write out of bounds): "step" an integer in 0..steps (--steps),
// "unigram_counts" vocab_size non-negative integers, "fingerprint" a string,
// and the sampler state. Throws dnabert::Error naming `file` and the field
// (dnabert::UsageError for a step past --steps). Once it passes, the
// fields convert to the types pretraining reads without throwing.
void check_resume_state(const nlohmann::json& state, const std::string& file, int64_t steps, int vocab_size);

}  // namespace dnabert::models
