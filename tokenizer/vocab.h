// DNABERT k-mer vocabulary: `vocab.txt` in and out, byte for byte.
//
// Canonical layout (DNABERT's vocab.txt for k = 3..6; the same rule for 7 and 8):
//   ids 0..4  [PAD] [UNK] [CLS] [SEP] [MASK]
//   id 5 + c  the k-mer whose 2-bit code is c, with A=0 T=1 C=2 G=3 and the
//             leftmost base most significant (AAA=5, AAT=6, ..., GGG=4^k+4).
// A file is one token per line. DNABERT's released files differ in one byte:
// bert-config-{3,4,5}/vocab.txt end without a newline, bert-config-6/vocab.txt
// ends with one. Vocab::kmer(k) reproduces that (a final newline for k = 6
// only), and a Vocab read from a file writes back what it read.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dnabert::tokenizer {

inline constexpr int32_t kPadId = 0;
inline constexpr int32_t kUnkId = 1;
inline constexpr int32_t kClsId = 2;
inline constexpr int32_t kSepId = 3;
inline constexpr int32_t kMaskId = 4;
inline constexpr int32_t kNumSpecial = 5;
inline constexpr std::array<std::string_view, 5> kSpecialTokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
inline constexpr int kMinK = 3;
inline constexpr int kMaxK = 8;
// Digit order of the vocabulary: kBaseOfCode[c] is the base with 2-bit code c.
inline constexpr std::array<char, 4> kBaseOfCode = {'A', 'T', 'C', 'G'};

// 2-bit code of an upper-case base (A=0 T=1 C=2 G=3); -1 for anything else.
inline int base_code(char c) {
  switch (c) {
    case 'A':
      return 0;
    case 'T':
      return 1;
    case 'C':
      return 2;
    case 'G':
      return 3;
    default:
      return -1;
  }
}

// Number of k-mers, 4^k.
inline constexpr uint32_t num_kmers(int k) { return uint32_t{1} << (2 * k); }

class Vocab {
 public:
  // The canonical vocabulary for k in [3, 8]; throws dnabert::Error otherwise.
  static Vocab kmer(int k);

  // Reads and validates a vocab.txt: the five special tokens on lines 1-5 in
  // the order above, then each of the 4^k upper-case ACGT k-mers exactly once
  // (any order). Errors name the file and, where there is one, the line.
  // A file whose k-mers are not in canonical order still works (table lookup).
  static Vocab read(const std::string& path);
  // The same validation on tokens already in memory; `source` names them in errors.
  static Vocab from_tokens(std::vector<std::string> tokens, const std::string& source = "vocab");

  // The file contents: tokens joined by '\n', plus '\n' if trailing_newline().
  std::string to_text() const;
  // Writes `path` atomically (path.tmp, fsync, rename).
  void write(const std::string& path) const;

  int k() const { return k_; }
  size_t size() const { return tokens_.size(); }
  bool canonical() const { return canonical_; }
  bool trailing_newline() const { return trailing_newline_; }
  void set_trailing_newline(bool on) { trailing_newline_ = on; }
  const std::vector<std::string>& tokens() const { return tokens_; }

  // Token of `id`; throws dnabert::Error if id is out of range.
  const std::string& token(int32_t id) const;
  // Exact-match lookup of any token (special or k-mer); nullopt if absent.
  std::optional<int32_t> find(std::string_view token) const;
  // Id of the k-mer with 2-bit code `code` (< 4^k). The hot path of encoding.
  int32_t kmer_id(uint32_t code) const {
    return canonical_ ? kNumSpecial + static_cast<int32_t>(code) : code_to_id_[code];
  }
  // 2-bit code of the k-mer with this id; -1 for special tokens.
  int64_t kmer_code(int32_t id) const {
    if (id < kNumSpecial || id >= static_cast<int32_t>(tokens_.size())) return -1;
    return canonical_ ? id - kNumSpecial : id_to_code_[id - kNumSpecial];
  }

  // Same tokens in the same order (the final newline does not count).
  bool operator==(const Vocab& other) const { return tokens_ == other.tokens_; }

 private:
  Vocab() = default;

  int k_ = 0;
  bool canonical_ = true;
  bool trailing_newline_ = false;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> index_;  // token -> id, for string lookups
  // Only for a non-canonical order: code -> id and (id - 5) -> code.
  std::vector<int32_t> code_to_id_;
  std::vector<uint32_t> id_to_code_;
};

// The k-mer with 2-bit code `code` as a string of length k.
std::string kmer_string(uint32_t code, int k);

}  // namespace dnabert::tokenizer
