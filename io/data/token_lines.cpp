#include "io/data/token_lines.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "io/data/dataset.h"
#include "io/formats/fasta.h"

namespace dnabert::io {
namespace {

// A plain-text line must hold nucleotide letters only (and, in a sentence,
// spaces and vocabulary tokens such as [MASK]).
void check_line(const std::string& line, tokenizer::Input input, const tokenizer::Vocab& vocab,
                const TextLineReader& reader) {
  for (size_t pos = 0; pos < line.size();) {
    if (line[pos] == ' ' && input == tokenizer::Input::Sentence) {
      ++pos;
      continue;
    }
    size_t end = input == tokenizer::Input::Sentence ? std::min(line.find(' ', pos), line.size()) : line.size();
    if (!(input == tokenizer::Input::Sentence && vocab.find(std::string_view(line).substr(pos, end - pos))))
      for (size_t i = pos; i < end; ++i)
        if (!is_nucleotide_letter(line[i]))
          throw Error(reader.path() + ": line " + std::to_string(reader.line_number()) + ": invalid character " +
                      show_char(static_cast<unsigned char>(line[i])) + " at column " + std::to_string(i + 1));
    pos = end;
  }
}

// Prints one line per sequence as its k-mer ids arrive, so neither the ids nor
// the line of a long sequence is held whole: [CLS], the k-mers up to max_len,
// [SEP]. With drop_last (raw sequences only) each id is held back until the
// next arrives, and the last one is dropped.
class Printer {
 public:
  Printer(const tokenizer::KmerTokenizer& tokenizer, bool as_tokens, std::FILE* out)
      : tokenizer_(tokenizer), as_tokens_(as_tokens), out_(out), stream_(tokenizer) {
    const size_t max_len = tokenizer.options().max_len;
    cap_ = max_len == 0 ? SIZE_MAX : max_len - 2;
  }

  void begin(tokenizer::Input input) {
    input_ = input;
    printed_ = 0;
    holding_ = false;
    stream_.reset();
    first_ = true;
    put(tokenizer::kClsId, false);
  }
  // More of the sequence's text: bases, or a whole k-mer sentence.
  void text(std::string_view text) {
    ids_.clear();
    if (input_ == tokenizer::Input::Sentence)
      tokenizer_.append_ids(text, input_, ids_);
    else
      stream_.append(text, ids_);
    const bool hold = input_ == tokenizer::Input::Sequence && tokenizer_.options().drop_last;
    for (int32_t id : ids_) {
      if (!hold) {
        put(id, true);
      } else {
        if (holding_) put(held_, true);
        held_ = id, holding_ = true;
      }
    }
  }
  bool full() const { return printed_ >= cap_; }  // the rest of the sequence would be truncated
  void end() {
    put(tokenizer::kSepId, false);
    line_ += '\n';
    write();
  }

 private:
  void put(int32_t id, bool kmer) {
    if (kmer && printed_++ >= cap_) return;
    if (!first_) line_ += ' ';
    first_ = false;
    if (as_tokens_)
      line_ += tokenizer_.vocab().token(id);
    else
      line_ += std::to_string(id);
    if (line_.size() >= (size_t{1} << 16)) write();
  }
  void write() {
    if (std::fwrite(line_.data(), 1, line_.size(), out_) != line_.size())
      throw Error(std::string("cannot write to ") + (out_ == stdout ? "standard output" : "the token output") +
                  ": " + std::strerror(errno));
    line_.clear();
  }

  const tokenizer::KmerTokenizer& tokenizer_;
  bool as_tokens_;
  std::FILE* out_;
  tokenizer::KmerStream stream_;
  tokenizer::Input input_ = tokenizer::Input::Sequence;
  size_t cap_, printed_ = 0;
  int32_t held_ = 0;
  bool holding_ = false, first_ = true;
  std::vector<int32_t> ids_;
  std::string line_;
};

void print_fasta(FastaReader& reader, Printer& printer) {
  SequenceRecord record;
  std::vector<char> bases(size_t{1} << 16);
  while (reader.next_record(record)) {
    printer.begin(tokenizer::Input::Sequence);
    size_t got;
    while (!printer.full() && (got = reader.read_bases(bases.data(), bases.size())) > 0)
      printer.text(std::string_view(bases.data(), got));
    printer.end();  // next_record skips what truncation left unread
  }
}

// A line already in memory, in pieces, so its ids are never all held.
void print_line(std::string_view line, tokenizer::Input input, Printer& printer) {
  printer.begin(input);
  if (input == tokenizer::Input::Sentence)
    printer.text(line);
  else
    for (size_t at = 0; at < line.size() && !printer.full(); at += size_t{1} << 16)
      printer.text(line.substr(at, size_t{1} << 16));
  printer.end();
}

}  // namespace

void write_token_lines(const std::string& path, const tokenizer::KmerTokenizer& tokenizer, bool as_tokens,
                       std::FILE* out) {
  Printer printer(tokenizer, as_tokens, out);
  // FastaReader upper-cases soft-masked bases itself unless told to make them 'N'.
  FastaOptions fasta_options;
  fasta_options.soft_mask = tokenizer.options().lowercase_unknown ? SoftMask::Unknown : SoftMask::Upper;
  auto lines = std::make_unique<TextLineReader>(path);
  std::string line;
  bool found = false;
  while (!found && lines->next(line)) found = line.find_first_not_of(" \t") != std::string::npos;
  if (!found) return;
  if (line[line.find_first_not_of(" \t")] == '>' || line[line.find_first_not_of(" \t")] == '@') {
    // Read on from the same open file: stdin or a pipe cannot be read twice.
    std::unique_ptr<FastaReader> reader = continue_as_fasta(std::move(lines), line, fasta_options);
    print_fasta(*reader, printer);
  } else {
    do {
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      auto input = tokenizer::detect_input(line);
      check_line(line, input, tokenizer.vocab(), *lines);
      print_line(line, input, printer);
    } while (lines->next(line));
  }
}

}  // namespace dnabert::io
