// Structured starting points for pretraining. Both keep the model an ordinary
// HF BertForMaskedLM (same tensors, same shapes): they only choose the initial
// values of the word and position embeddings, which Bert::init draws as
// N(0, initializer_range) like HF.
//
// Why: a masked k-mer is spelled out by its unmasked neighbours, but a model
// must first learn (a) that k-mers sharing bases are related and (b) to attend
// to fixed offsets. With i.i.d. random embeddings neither is visible to the
// gradient until the other exists, and masked-LM loss sits near the unigram
// level for thousands of steps.
//  - composed k-mer embeddings: row(kmer) = sum_j E[j][base_j] / sqrt(k), with
//    E[j][b] ~ N(0, range^2 I); each k-mer row then has the per-element scale
//    of a normal row, and the tied decoder can score a k-mer as a sum of
//    per-position base scores from the start.
//  - sinusoidal positions (Vaswani et al.): a fixed offset is a linear map of
//    the position code, so one query/key projection can attend to "the token
//    d places left" at every position. Amplitude range·sqrt(2): the rows have
//    the per-element RMS of a normal row.
#pragma once
#include <cstdint>
#include <string>

#include "models/network/bert.h"

namespace dnabert::models {

// Overwrites the k-mer rows (ids 5 .. 5 + 4^k - 1) of bert.embeddings.word_embeddings;
// special tokens keep their draws ([PAD] stays zero).
void compose_kmer_embeddings(Bert& model, int k, uint64_t seed);
// Overwrites bert.embeddings.position_embeddings.
void sinusoidal_positions(Bert& model);

// "normal" (HF), "composed" or "sinusoidal": the names --embedding-init and
// --position-init take. Throws UsageError for any other.
void apply_init_schemes(Bert& model, int k, uint64_t seed, const std::string& embedding_init,
                        const std::string& position_init);

}  // namespace dnabert::models
