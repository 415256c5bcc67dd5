// dnabert tokenize: sequences in, one line of token ids (or tokens) out per
// sequence, [CLS] and [SEP] included.
//
// Input (a file, or stdin when INPUT is absent or "-"; plain or gzip):
//   FASTA/FASTQ  if the first non-blank line starts with '>' or '@'; read with
//                io::FastaReader (stdin FASTA is buffered in memory first);
//   otherwise    one sequence per line, blank lines skipped; a line with
//                spaces is a DNABERT k-mer sentence ("ACGTAC CGTACG ...").
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "engine/error.h"
#include "io/dataset.h"
#include "io/fasta.h"
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

class Printer {
 public:
  Printer(const tokenizer::KmerTokenizer& tokenizer, bool as_tokens) : tokenizer_(tokenizer), as_tokens_(as_tokens) {}

  void print(std::string_view text, tokenizer::Input input) {
    tokenizer_.encode(text, input, encoding_);
    line_.clear();
    for (size_t i = 0; i < encoding_.ids.size(); ++i) {
      if (i) line_ += ' ';
      if (as_tokens_)
        line_ += tokenizer_.vocab().token(encoding_.ids[i]);
      else
        line_ += std::to_string(encoding_.ids[i]);
    }
    line_ += '\n';
    if (std::fwrite(line_.data(), 1, line_.size(), stdout) != line_.size())
      throw Error("cannot write to standard output");
  }

 private:
  const tokenizer::KmerTokenizer& tokenizer_;
  bool as_tokens_;
  tokenizer::Encoding encoding_;
  std::string line_;
};

void print_fasta(io::FastaReader& reader, Printer& printer) {
  io::SequenceRecord record;
  std::string sequence;
  while (reader.next(record, sequence)) printer.print(sequence, tokenizer::Input::Sequence);
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
      printer.print(line, input);
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
