// Overlapping k-mer tokenizer (DNABERT): a sequence of L bases becomes the
// L-k+1 k-mers starting at every base (stride 1), framed by [CLS] ... [SEP].
//
//   ACGTACGT, k=6  ->  [CLS] ACGTAC CGTACG GTACGT [SEP]
//
// Rules
// - A k-mer holding any letter other than A, C, G, T is [UNK] (N, IUPAC codes,
//   and, with lowercase_unknown, soft-masked lower case).
// - drop_last reproduces DNABERT's pretraining scripts, which emit only L-k
//   k-mers (the last one is lost). Fine-tuning data uses all L-k+1.
// - Truncation (max_len > 0, counted in tokens with the specials included):
//   a single input keeps its first max_len-2 k-mers; a pair removes k-mers
//   from the end of the longer segment one at a time, from b on a tie
//   ("longest first", as HF BERT does).
// - Pairs are [CLS] a [SEP] b [SEP], token type 0 up to the first [SEP], 1 after.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace dnabert::tokenizer {

// What a text holds: raw bases, or DNABERT's space-separated k-mer sentence.
enum class Input { Sequence, Sentence };

// Input::Sentence if the text holds a space, else Input::Sequence.
Input detect_input(std::string_view text);

struct TokenizerOptions {
  bool drop_last = false;          // L-k tokens instead of L-k+1 (DNABERT pretraining scripts)
  bool lowercase_unknown = false;  // lower-case letters give [UNK] instead of being upper-cased
  size_t max_len = 0;              // tokens per encoding, specials included; 0 = no limit
};

struct Encoding {
  std::vector<int32_t> ids;          // [T]
  std::vector<int32_t> token_types;  // [T]
  size_t truncated = 0;              // k-mer tokens removed to fit max_len
};

class KmerTokenizer {
 public:
  explicit KmerTokenizer(int k, TokenizerOptions options = {});
  explicit KmerTokenizer(Vocab vocab, TokenizerOptions options = {});

  const Vocab& vocab() const { return vocab_; }
  int k() const { return vocab_.k(); }
  const TokenizerOptions& options() const { return options_; }

  // k-mer tokens made from a raw sequence of `length` bases, before truncation.
  size_t count_kmers(size_t length) const;

  // Appends the k-mer ids of one text (no special tokens, no truncation).
  void append_ids(std::string_view text, Input input, std::vector<int32_t>& out) const;

  // [CLS] text [SEP], truncated to max_len.
  Encoding encode(std::string_view text, Input input = Input::Sequence) const;
  // The same, reusing the buffers of `out` (no allocation once they are large enough).
  void encode(std::string_view text, Input input, Encoding& out) const;
  // [CLS] a [SEP] b [SEP], truncated to max_len.
  Encoding encode_pair(std::string_view a, std::string_view b, Input input = Input::Sequence) const;

  // Space-separated tokens. skip_special drops [PAD], [CLS] and [SEP] but keeps
  // [UNK] and [MASK], which hold a k-mer position; so encoding the result as a
  // sentence gives the k-mer ids back.
  std::string decode_tokens(std::span<const int32_t> ids, bool skip_special = true) const;
  // Merges overlapping k-mers back into bases: k-mer j covers bases j..j+k-1,
  // each base comes from the first k-mer that covers it, and bases covered only
  // by [UNK]/[MASK] are 'N'. [PAD]/[CLS]/[SEP] are skipped; throws
  // dnabert::Error if k-mers follow a [SEP] (a pair: decode each segment).
  std::string decode_sequence(std::span<const int32_t> ids) const;

 private:
  void append_sequence_ids(std::string_view sequence, std::vector<int32_t>& out) const;
  void append_sentence_ids(std::string_view sentence, std::vector<int32_t>& out) const;

  friend class KmerStream;
  Vocab vocab_;
  TokenizerOptions options_;
  std::array<uint8_t, 256> code_of_char_;  // 0..3 for a base, 4 for anything else
};

// The k-mer ids of a raw sequence that arrives in pieces of any size: the
// concatenated output equals append_ids on the whole sequence (drop_last
// aside: the stream cannot know which k-mer is the last, so the caller holds
// one back). Between pieces it keeps the rolling code of the last k-1 bases,
// so memory does not grow with the sequence.
class KmerStream {
 public:
  explicit KmerStream(const KmerTokenizer& tokenizer) : tokenizer_(&tokenizer) {}
  void reset();  // a new sequence
  // Appends the ids of the k-mers that end within `bases`.
  void append(std::string_view bases, std::vector<int32_t>& out);
  uint64_t bases() const { return bases_; }  // of the current sequence so far

 private:
  void step(char c);

  const KmerTokenizer* tokenizer_;
  uint32_t code_ = 0;  // the last k bases, 2 bits each
  size_t run_ = 0;     // valid bases ending at the last one
  uint64_t bases_ = 0;
};

}  // namespace dnabert::tokenizer
