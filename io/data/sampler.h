// Pretraining sampler: cuts DNA pieces on the fly from FASTA files (plain or
// gzip), seeded and resumable. It knows nothing about tokens: a piece is a
// string of A/C/G/T plus where it came from.
//
// Consecutive mode (DNABERT's non-overlapping split). Let L = max_tokens-2+k-1
// (509+k bp for 512 tokens). Each record's allowed region is walked from left
// to right. A piece starts at the next non-N base and draws its target length
// there: L with probability full_length_probability, else
// max(floor(U*L), min_length) with U uniform in [0,1). The piece grows until it
// reaches the target, meets an N, or meets the end of the region (record end or
// held-out boundary). It is emitted if it has at least min_length bases and
// dropped otherwise; the next piece starts right after it (after the N run).
// So pieces never overlap and never contain N. At the end of the last file the
// next epoch starts at the first file; random draws continue, so cuts differ.
// shuffle_buffer = B > 1 reads B consecutive pieces and emits them in a
// seeded random order (block shuffle), so neighbours in the genome are not
// neighbours in the stream.
//
// Random-window mode. Round r draws windows_per_round start positions uniformly
// over the allowed bases of all files, each with a length (window_length, or
// the law above when 0), reads the files once in order to cut them, truncates
// each at its first N and at the region end (dropping those shorter than
// min_length), and emits them in a seeded random order. shuffle_buffer is not
// used (the round is already shuffled).
//
// Held-out region (for evaluation): every record named heldout_record, plus the
// last floor(length * heldout_fraction) bases of every other record. Split::Train
// never reads it; Split::Eval reads nothing else. A fraction needs record
// lengths, so the sampler reads the files once at construction to get them
// (random-window mode always does).
//
// Determinism: all randomness comes from engine::Rng(seed, stream, counter).
// state() after n samples, given to the resuming constructor with the same
// options, yields exactly samples n+1, n+2, ... of the uninterrupted sampler.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/formats/fasta.h"

namespace dnabert::io {

enum class SamplerMode { Consecutive, RandomWindow };
enum class Split { Train, Eval };

struct SamplerOptions {
  std::vector<std::string> files;
  uint64_t seed = 0;
  int k = 6;
  int max_tokens = 512;  // pieces are at most max_tokens - 2 + k - 1 bp
  size_t min_length = 5;
  double full_length_probability = 0.5;
  SamplerMode mode = SamplerMode::Consecutive;
  size_t window_length = 0;  // RandomWindow: fixed length (capped at max_length()), 0 = length law
  size_t windows_per_round = 8192;
  size_t shuffle_buffer = 0;  // Consecutive: block size of the shuffle, 0 or 1 = genome order
  std::string heldout_record;
  double heldout_fraction = 0.0;
  Split split = Split::Train;
  SoftMask soft_mask = SoftMask::Upper;  // Unknown: soft-masked bases act like N

  size_t max_length() const { return static_cast<size_t>(max_tokens - 2 + k - 1); }
};

struct DnaPiece {
  std::string sequence;  // A/C/G/T only
  std::string file;
  std::string record;
  uint64_t offset = 0;  // 0-based position of sequence[0] in the record
  uint64_t epoch = 0;   // pass over the input (Consecutive) or round (RandomWindow)
};

// Where a consecutive walk stands between two pieces.
struct SamplerCursor {
  uint64_t epoch = 0;
  uint64_t file = 0;
  uint64_t record = 0;       // 0-based record index in the file
  uint64_t offset = 0;       // bases of that record already consumed
  uint64_t rng_counter = 0;  // of the length-law stream
};

// Everything needed to resume. `block` is the shuffle block (Consecutive) or
// the round (RandomWindow) being emitted, `position` the next index in it;
// `cursor` is where that block's first piece was cut.
struct SamplerState {
  std::string fingerprint;  // the options that shape the stream; must match on resume
  uint64_t samples = 0;
  uint64_t block = 0;
  uint64_t position = 0;
  SamplerCursor cursor;
};

void to_json(nlohmann::json& j, const SamplerCursor& c);
void from_json(const nlohmann::json& j, SamplerCursor& c);
void to_json(nlohmann::json& j, const SamplerState& s);
void from_json(const nlohmann::json& j, SamplerState& s);

class Sampler {
 public:
  // Throws dnabert::Error for bad options or unreadable files.
  explicit Sampler(SamplerOptions options);
  // Resumes from a state taken with the same options (else throws).
  Sampler(SamplerOptions options, const SamplerState& state);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // The next piece; the stream never ends (it cycles over epochs or rounds).
  // Throws if an epoch or round yields no piece at all.
  DnaPiece next();
  SamplerState state() const;
  const SamplerOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dnabert::io
