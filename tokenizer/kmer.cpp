#include "tokenizer/kmer.h"

#include <algorithm>

#include "base/error.h"

namespace dnabert::tokenizer {

namespace {
constexpr uint8_t kNotBase = 4;

// Ids that stand for a k-mer position: the k-mers themselves, [UNK] and [MASK].
bool holds_position(int32_t id) { return id == kUnkId || id == kMaskId || id >= kNumSpecial; }
}  // namespace

Input detect_input(std::string_view text) {
  return text.find(' ') == std::string_view::npos ? Input::Sequence : Input::Sentence;
}

KmerTokenizer::KmerTokenizer(int k, TokenizerOptions options) : KmerTokenizer(Vocab::kmer(k), options) {}

KmerTokenizer::KmerTokenizer(Vocab vocab, TokenizerOptions options) : vocab_(std::move(vocab)), options_(options) {
  code_of_char_.fill(kNotBase);
  for (uint8_t code = 0; code < 4; ++code) {
    char base = kBaseOfCode[code];
    code_of_char_[static_cast<uint8_t>(base)] = code;
    if (!options_.lowercase_unknown) code_of_char_[static_cast<uint8_t>(base - 'A' + 'a')] = code;
  }
}

size_t KmerTokenizer::count_kmers(size_t length) const {
  const auto k = static_cast<size_t>(this->k());
  if (length < k) return 0;
  size_t n = length - k + 1;
  return options_.drop_last ? n - 1 : n;
}

void KmerTokenizer::append_sequence_ids(std::string_view sequence, std::vector<int32_t>& out) const {
  const size_t n = count_kmers(sequence.size());
  if (n == 0) return;
  KmerStream stream(*this);
  stream.append(sequence.substr(0, n + static_cast<size_t>(k()) - 1), out);
}

void KmerStream::reset() {
  code_ = 0;
  run_ = 0;
  bases_ = 0;
}

inline void KmerStream::step(char c) {
  const uint8_t b = tokenizer_->code_of_char_[static_cast<uint8_t>(c)];
  if (b == kNotBase) {
    run_ = 0;
  } else {
    code_ = ((code_ << 2) | b) & (num_kmers(tokenizer_->k()) - 1);
    ++run_;
  }
  ++bases_;
}

// Rolling 2-bit code: code holds the last k bases; `run` counts the valid bases
// ending at base i, so the k-mer ending at i is a real k-mer iff run >= k.
void KmerStream::append(std::string_view bases, std::vector<int32_t>& out) {
  const auto k = static_cast<uint64_t>(tokenizer_->k());
  const uint64_t before = bases_, after = bases_ + bases.size();
  // k-mers end at bases k-1 .. after-1 of the sequence.
  const uint64_t first_end = std::max(before, k - 1);
  if (after <= first_end) {
    for (char c : bases) step(c);
    return;
  }
  const size_t at = out.size();
  out.resize(at + static_cast<size_t>(after - first_end));
  int32_t* dst = out.data() + at;
  for (char c : bases) {
    step(c);
    if (bases_ >= k) *dst++ = run_ >= k ? tokenizer_->vocab_.kmer_id(code_) : kUnkId;
  }
}

void KmerTokenizer::append_sentence_ids(std::string_view sentence, std::vector<int32_t>& out) const {
  const auto k = static_cast<size_t>(this->k());
  size_t pos = 0;
  while (pos < sentence.size()) {
    if (sentence[pos] == ' ') {
      ++pos;
      continue;
    }
    size_t end = sentence.find(' ', pos);
    if (end == std::string_view::npos) end = sentence.size();
    std::string_view word = sentence.substr(pos, end - pos);
    pos = end;
    if (word.size() == k) {
      uint32_t code = 0;
      bool valid = true;
      for (char c : word) {
        uint8_t b = code_of_char_[static_cast<uint8_t>(c)];
        valid = valid && b != kNotBase;
        code = (code << 2) | (b & 3);
      }
      if (valid) {
        out.push_back(vocab_.kmer_id(code));
        continue;
      }
    }
    auto id = vocab_.find(word);  // special tokens such as [MASK] written in the sentence
    out.push_back(id ? *id : kUnkId);
  }
}

void KmerTokenizer::append_ids(std::string_view text, Input input, std::vector<int32_t>& out) const {
  if (input == Input::Sequence)
    append_sequence_ids(text, out);
  else
    append_sentence_ids(text, out);
}

void KmerTokenizer::encode(std::string_view text, Input input, Encoding& out) const {
  if (options_.max_len != 0 && options_.max_len < 2)
    throw Error("max_len " + std::to_string(options_.max_len) + " leaves no room for [CLS] and [SEP]");
  out.ids.clear();
  out.ids.push_back(kClsId);
  append_ids(text, input, out.ids);
  out.truncated = 0;
  if (options_.max_len != 0 && out.ids.size() + 1 > options_.max_len) {
    out.truncated = out.ids.size() + 1 - options_.max_len;
    out.ids.resize(options_.max_len - 1);
  }
  out.ids.push_back(kSepId);
  out.token_types.assign(out.ids.size(), 0);
}

Encoding KmerTokenizer::encode(std::string_view text, Input input) const {
  Encoding e;
  encode(text, input, e);
  return e;
}

Encoding KmerTokenizer::encode_pair(std::string_view a, std::string_view b, Input input) const {
  if (options_.max_len != 0 && options_.max_len < 3)
    throw Error("max_len " + std::to_string(options_.max_len) + " leaves no room for [CLS] a [SEP] b [SEP]");
  std::vector<int32_t> ids_a, ids_b;
  append_ids(a, input, ids_a);
  append_ids(b, input, ids_b);
  Encoding e;
  const size_t la = ids_a.size(), lb = ids_b.size();
  if (options_.max_len != 0 && la + lb + 3 > options_.max_len) {
    // Closed form of "cut one from the longer, from b on a tie" until la + lb fits.
    const size_t budget = options_.max_len - 3, excess = la + lb - budget;
    size_t keep_a, keep_b;
    if (la > lb && la - lb >= excess) {
      keep_a = la - excess, keep_b = lb;
    } else if (lb >= la && lb - la >= excess) {
      keep_a = la, keep_b = lb - excess;
    } else {
      keep_a = (budget + 1) / 2, keep_b = budget / 2;
    }
    ids_a.resize(keep_a);
    ids_b.resize(keep_b);
    e.truncated = excess;
  }
  e.ids.reserve(ids_a.size() + ids_b.size() + 3);
  e.ids.push_back(kClsId);
  e.ids.insert(e.ids.end(), ids_a.begin(), ids_a.end());
  e.ids.push_back(kSepId);
  e.token_types.assign(e.ids.size(), 0);
  e.ids.insert(e.ids.end(), ids_b.begin(), ids_b.end());
  e.ids.push_back(kSepId);
  e.token_types.resize(e.ids.size(), 1);
  return e;
}

std::string KmerTokenizer::decode_tokens(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  out.reserve(ids.size() * static_cast<size_t>(k() + 1));
  for (int32_t id : ids) {
    if (skip_special && !holds_position(id)) continue;
    if (!out.empty()) out += ' ';
    out += vocab_.token(id);
  }
  return out;
}

std::string KmerTokenizer::decode_sequence(std::span<const int32_t> ids) const {
  const auto k = static_cast<size_t>(this->k());
  std::vector<int32_t> kmers;
  kmers.reserve(ids.size());
  bool after_sep = false;
  for (int32_t id : ids) {
    vocab_.token(id);  // range check
    if (id == kSepId) after_sep = true;
    if (!holds_position(id)) continue;
    if (after_sep) throw Error("decode_sequence: k-mers follow a [SEP]; decode each segment of a pair separately");
    kmers.push_back(id);
  }
  if (kmers.empty()) return {};
  std::string bases(kmers.size() + k - 1, 'N');
  std::vector<bool> known(bases.size(), false);
  for (size_t j = 0; j < kmers.size(); ++j) {
    int64_t code = vocab_.kmer_code(kmers[j]);
    if (code < 0) continue;  // [UNK] / [MASK]
    for (size_t t = k; t-- > 0; code >>= 2) {
      if (!known[j + t]) {
        bases[j + t] = kBaseOfCode[static_cast<size_t>(code & 3)];
        known[j + t] = true;
      }
    }
  }
  return bases;
}

}  // namespace dnabert::tokenizer
