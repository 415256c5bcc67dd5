#include "tokenizer/vocab.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/error.h"

namespace dnabert::tokenizer {

namespace {

std::string quote_text(std::string_view s) {
  constexpr size_t kShown = 40;
  std::string out = "'";
  out += s.size() > kShown ? std::string(s.substr(0, kShown)) + "..." : std::string(s);
  return out + "'";
}

std::string line_prefix(const std::string& source, size_t index) {
  return source + ": line " + std::to_string(index + 1) + ": ";
}

// Packs an upper-case ACGT string into its 2-bit code; -1 if any other letter.
int64_t pack(std::string_view kmer) {
  int64_t code = 0;
  for (char c : kmer) {
    int b = base_code(c);
    if (b < 0) return -1;
    code = (code << 2) | b;
  }
  return code;
}

}  // namespace

std::string kmer_string(uint32_t code, int k) {
  std::string s(static_cast<size_t>(k), 'A');
  for (int i = k - 1; i >= 0; --i, code >>= 2) s[static_cast<size_t>(i)] = kBaseOfCode[code & 3];
  return s;
}

Vocab Vocab::kmer(int k) {
  if (k < kMinK || k > kMaxK)
    throw Error("k-mer size " + std::to_string(k) + " is outside " + std::to_string(kMinK) + ".." +
                std::to_string(kMaxK));
  Vocab v;
  v.k_ = k;
  v.trailing_newline_ = k == 6;  // as DNABERT's released bert-config-6/vocab.txt
  v.tokens_.reserve(kNumSpecial + num_kmers(k));
  for (auto s : kSpecialTokens) v.tokens_.emplace_back(s);
  for (uint32_t code = 0; code < num_kmers(k); ++code) v.tokens_.push_back(kmer_string(code, k));
  v.index_.reserve(v.tokens_.size());
  for (size_t i = 0; i < v.tokens_.size(); ++i) v.index_.emplace(v.tokens_[i], static_cast<int32_t>(i));
  return v;
}

Vocab Vocab::from_tokens(std::vector<std::string> tokens, const std::string& source) {
  if (tokens.empty()) throw Error(source + ": empty vocabulary");
  // A UTF-8 byte order mark, as some Windows editors write, is no part of the first token.
  if (tokens[0].rfind("\xef\xbb\xbf", 0) == 0) tokens[0].erase(0, 3);
  Vocab v;
  v.tokens_ = std::move(tokens);
  const auto& t = v.tokens_;
  v.index_.reserve(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].empty()) throw Error(line_prefix(source, i) + "empty token");
    auto [it, inserted] = v.index_.emplace(t[i], static_cast<int32_t>(i));
    if (!inserted)
      throw Error(line_prefix(source, i) + "duplicate token " + quote_text(t[i]) + " (first on line " +
                  std::to_string(it->second + 1) + ")");
    if (i < static_cast<size_t>(kNumSpecial)) {
      if (t[i] != kSpecialTokens[i])
        throw Error(line_prefix(source, i) + "expected special token " + std::string(kSpecialTokens[i]) + ", found " +
                    quote_text(t[i]));
      continue;
    }
    if (i == static_cast<size_t>(kNumSpecial)) {
      v.k_ = static_cast<int>(t[i].size());
      if (v.k_ < kMinK || v.k_ > kMaxK)
        throw Error(line_prefix(source, i) + "first k-mer " + quote_text(t[i]) + " has length " + std::to_string(v.k_) +
                    ", outside " + std::to_string(kMinK) + ".." + std::to_string(kMaxK));
    }
    int64_t code = pack(t[i]);
    if (code < 0) throw Error(line_prefix(source, i) + quote_text(t[i]) + " is not an upper-case ACGT k-mer");
    if (static_cast<int>(t[i].size()) != v.k_)
      throw Error(line_prefix(source, i) + "k-mer " + quote_text(t[i]) + " has length " + std::to_string(t[i].size()) +
                  ", but line 6 sets k=" + std::to_string(v.k_));
    if (code + kNumSpecial != static_cast<int64_t>(i)) v.canonical_ = false;
  }
  size_t expected = kNumSpecial + (v.k_ ? num_kmers(v.k_) : 0);
  if (v.k_ == 0 || t.size() != expected) {
    std::string msg = source + ": " + std::to_string(t.size()) + " tokens";
    if (v.k_ == 0) throw Error(msg + ", expected the 5 special tokens followed by k-mers");
    msg += ", expected " + std::to_string(expected) + " for k=" + std::to_string(v.k_) + " (5 special + 4^" +
           std::to_string(v.k_) + " k-mers)";
    // Every token is a distinct valid k-mer, so a wrong size means k-mers are missing.
    for (uint32_t code = 0; code < num_kmers(v.k_); ++code) {
      std::string kmer = kmer_string(code, v.k_);
      if (!v.index_.count(kmer)) throw Error(msg + "; missing k-mer " + quote_text(kmer));
    }
    throw Error(msg);
  }
  if (!v.canonical_) {
    v.code_to_id_.assign(num_kmers(v.k_), kUnkId);
    v.id_to_code_.assign(num_kmers(v.k_), 0);
    for (size_t i = kNumSpecial; i < t.size(); ++i) {
      auto code = static_cast<uint32_t>(pack(t[i]));
      v.code_to_id_[code] = static_cast<int32_t>(i);
      v.id_to_code_[i - kNumSpecial] = code;
    }
  }
  return v;
}

Vocab Vocab::read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open vocab file '" + path + "': " + std::strerror(errno));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (text.empty()) throw Error(path + ": empty vocab file");
  const bool trailing_newline = text.back() == '\n';
  if (trailing_newline) text.pop_back();
  std::vector<std::string> tokens;
  size_t start = 0;
  while (true) {
    size_t end = text.find('\n', start);
    std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    tokens.push_back(std::move(line));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  Vocab v = from_tokens(std::move(tokens), path);
  v.trailing_newline_ = trailing_newline;
  return v;
}

std::string Vocab::to_text() const {
  std::string out;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (i) out += '\n';
    out += tokens_[i];
  }
  if (trailing_newline_) out += '\n';
  return out;
}

void Vocab::write(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  const std::string text = to_text();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw Error("cannot write '" + tmp + "': " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      throw Error("cannot write '" + tmp + "': " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  int sync_failed = ::fsync(fd) != 0 ? errno : 0;
  int close_failed = ::close(fd) != 0 ? errno : 0;
  if (sync_failed || close_failed)
    throw Error("cannot write '" + tmp + "': " + std::strerror(sync_failed ? sync_failed : close_failed));
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw Error("cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(errno));
}

const std::string& Vocab::token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= tokens_.size())
    throw Error("token id " + std::to_string(id) + " is outside the vocabulary (size " +
                std::to_string(tokens_.size()) + ")");
  return tokens_[static_cast<size_t>(id)];
}

std::optional<int32_t> Vocab::find(std::string_view token) const {
  auto it = index_.find(std::string(token));
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

}  // namespace dnabert::tokenizer
