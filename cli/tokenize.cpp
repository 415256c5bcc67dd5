// dnabert tokenize: sequences in, one line of token ids (or tokens) out per
// sequence, [CLS] and [SEP] included.
//
// Input (a file, or stdin when INPUT is absent or "-"; plain or gzip):
//   FASTA/FASTQ  if the first non-blank line starts with '>' or '@'; read with
//                io::FastaReader, in pieces: a record of any length is printed as it is
//                read, and only what --max-len keeps is read at all;
//   otherwise    one sequence per line, blank lines skipped; a line with
//                spaces is a DNABERT k-mer sentence ("ACGTAC CGTACG ...").
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "base/error.h"
#include "io/data/dataset.h"
#include "io/formats/fasta.h"
#include "tokenizer/kmer.h"

namespace dnabert::cli {
namespace {

struct TokenizeArgs {
  int k = 6;
  std::string vocab_path;
  std::string format = "ids";
  size_t max_len = 0;
  bool drop_last = false;
  bool lowercase_unknown = false;
  std::string write_vocab;
  std::string input;
};

// A plain-text line must hold nucleotide letters only (and, in a sentence,
// spaces and vocabulary tokens such as [MASK]).
void check_line(const std::string& line, tokenizer::Input input, const tokenizer::Vocab& vocab,
                const io::TextLineReader& reader) {
  for (size_t pos = 0; pos < line.size();) {
    if (line[pos] == ' ' && input == tokenizer::Input::Sentence) {
      ++pos;
      continue;
    }
    size_t end = input == tokenizer::Input::Sentence ? std::min(line.find(' ', pos), line.size()) : line.size();
    if (!(input == tokenizer::Input::Sentence && vocab.find(std::string_view(line).substr(pos, end - pos))))
      for (size_t i = pos; i < end; ++i)
        if (!io::is_nucleotide_letter(line[i]))
          throw Error(reader.path() + ": line " + std::to_string(reader.line_number()) + ": invalid character " +
                      io::show_char(static_cast<unsigned char>(line[i])) + " at column " + std::to_string(i + 1));
    pos = end;
  }
}

// Prints one line per sequence as its k-mer ids arrive, so neither the ids nor
// the line of a long sequence is held whole: [CLS], the k-mers up to max_len,
// [SEP]. With drop_last (raw sequences only) each id is held back until the
// next arrives, and the last one is dropped.
class Printer {
 public:
  Printer(const tokenizer::KmerTokenizer& tokenizer, bool as_tokens)
      : tokenizer_(tokenizer), as_tokens_(as_tokens), stream_(tokenizer) {
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
    if (std::fwrite(line_.data(), 1, line_.size(), stdout) != line_.size())
      throw Error("cannot write to standard output");
    line_.clear();
  }

  const tokenizer::KmerTokenizer& tokenizer_;
  bool as_tokens_;
  tokenizer::KmerStream stream_;
  tokenizer::Input input_ = tokenizer::Input::Sequence;
  size_t cap_, printed_ = 0;
  int32_t held_ = 0;
  bool holding_ = false, first_ = true;
  std::vector<int32_t> ids_;
  std::string line_;
};

void print_fasta(io::FastaReader& reader, Printer& printer) {
  io::SequenceRecord record;
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

int run_tokenize(const TokenizeArgs& args, bool k_given) {
  tokenizer::Vocab vocab =
      args.vocab_path.empty() ? tokenizer::Vocab::kmer(args.k) : tokenizer::Vocab::read(args.vocab_path);
  if (k_given && vocab.k() != args.k)
    throw UsageError("--k " + std::to_string(args.k) + " but " + args.vocab_path + " is a " +
                     std::to_string(vocab.k()) + "-mer vocabulary");
  if (args.max_len == 1) throw UsageError("--max-len must be 0 (no limit) or at least 2 ([CLS] and [SEP])");
  if (!args.write_vocab.empty()) {
    vocab.write(args.write_vocab);
    if (args.input.empty()) return 0;  // only the vocabulary was asked for
  }
  tokenizer::TokenizerOptions options;
  options.drop_last = args.drop_last;
  options.lowercase_unknown = args.lowercase_unknown;
  options.max_len = args.max_len;
  tokenizer::KmerTokenizer tokenizer(std::move(vocab), options);
  Printer printer(tokenizer, args.format == "tokens");

  // FastaReader upper-cases soft-masked bases itself unless told to make them 'N'.
  io::FastaOptions fasta_options;
  fasta_options.soft_mask = args.lowercase_unknown ? io::SoftMask::Unknown : io::SoftMask::Upper;
  const std::string path = args.input.empty() ? "-" : args.input;
  auto lines = std::make_unique<io::TextLineReader>(path);
  std::string line;
  bool found = false;
  while (!found && lines->next(line)) found = line.find_first_not_of(" \t") != std::string::npos;
  if (!found) return 0;
  if (line[line.find_first_not_of(" \t")] == '>' || line[line.find_first_not_of(" \t")] == '@') {
    // Read on from the same open file: stdin or a pipe cannot be read twice.
    std::unique_ptr<io::FastaReader> reader = io::continue_as_fasta(std::move(lines), line, fasta_options);
    print_fasta(*reader, printer);
  } else {
    do {
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      auto input = tokenizer::detect_input(line);
      check_line(line, input, tokenizer.vocab(), *lines);
      print_line(line, input, printer);
    } while (lines->next(line));
  }
  flush_stdout();
  return 0;
}

Registration reg([](CLI::App& app) {
  auto* sub = app.add_subcommand("tokenize",
                                 "Print the k-mer token ids of each sequence ([CLS] ... [SEP]), one line per sequence");
  sub->footer(
      "INPUT is one sequence per line (a line with spaces is a DNABERT k-mer sentence) or FASTA/FASTQ, "
      "plain or gzip; stdin when absent or '-'.");
  auto args = std::make_shared<TokenizeArgs>();
  auto* k_option = sub->add_option("--k", args->k, "k-mer size (3..8)")->check(integer_in<int>(3, 8));
  sub->add_option("--vocab", args->vocab_path, "vocab.txt to use (DNABERT layout; default: built for --k)");
  sub->add_option("--format", args->format, "Print token ids or token strings")
      ->check(CLI::IsMember({"ids", "tokens"}));
  sub->add_option("--max-len", args->max_len, "Truncate to this many tokens, [CLS]/[SEP] included (0 = no limit)")
      ->check(integer_in<size_t>(0));
  sub->add_flag("--drop-last", args->drop_last,
                "DNABERT pretraining-script compatibility: L-k k-mers per sequence instead of L-k+1");
  sub->add_flag("--lowercase-unk", args->lowercase_unknown, "Lower-case (soft-masked) letters give [UNK]");
  sub->add_option("--write-vocab", args->write_vocab,
                  "Write the vocabulary (vocab.txt) to this file; without INPUT, do only that");
  sub->add_option("input", args->input, "Input file (default: stdin)");
  return std::function<int()>([args, k_option] { return run_tokenize(*args, k_option->count() > 0); });
});

}  // namespace
}  // namespace dnabert::cli
