// Masked-LM batches and the held-out evaluation that `pretrain` logs and
// `evaluate-mlm` reports: a fixed set of pieces cut from the held-out part
// of the genome (io::Split::Eval), masked once with fixed keys, so the same
// options give the same set, and so the same number, in any run.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/arena.h"
#include "io/data/batch.h"
#include "models/network/bert.h"
#include "models/training/masking.h"
#include "tokenizer/kmer.h"

namespace dnabert::models {

// Tokenizes pieces and pads them to the longest (io::pad); no labels yet.
io::Batch make_mlm_batch(const std::vector<std::string>& pieces, const tokenizer::KmerTokenizer& tok);
// DNABERT's masking of the batch with randomness keyed by `key`: corrupts its
// ids and sets its labels, [B*T] (-100 where not masked). Returns the number
// of masked tokens.
int64_t mask_mlm_batch(io::Batch& b, const MaskingOptions& mo, uint64_t key);

struct EvalReport {
  int64_t step = 0;
  double loss = 0;              // mean cross-entropy over held-out masked tokens
  double accuracy = 0;          // masked-token accuracy
  double unigram_accuracy = 0;  // always predicting the most frequent training k-mer
  int64_t masked = 0;
};

struct HeldOutOptions {
  std::vector<std::string> fasta;
  int k = 6;
  int max_len = 512;
  int batch = 32;    // pieces per batch
  int batches = 4;   // batches in the set
  uint64_t seed = 42;              // the run's seed: pieces from seed ^ 0x5eed5eed, masks from (seed, fixed keys)
  MaskingOptions masking;          // its seed is replaced by `seed`
  double heldout_fraction = 0.02;  // last fraction of every record
  std::string heldout_record;      // or a whole record
  bool drop_last_kmer = false;
};

// The held-out set `pretrain` evaluates on with the same options (tokenized
// with k, max_len and drop_last_kmer as the run tokenizes).
std::vector<io::Batch> held_out_set(const HeldOutOptions& o);

// Loss and accuracy of `model` on `set` (inference, no dropout). With
// `unigram` (counts per id of the training labels), also the accuracy of
// always predicting the most frequent one; empty leaves it 0.
EvalReport evaluate_mlm(const Bert& model, const std::vector<io::Batch>& set, engine::Arena& arena,
                        const std::vector<int64_t>& unigram = {});

}  // namespace dnabert::models
