// dnabert tokenize: sequences in, one line of token ids (or tokens) out per
// sequence, [CLS] and [SEP] included (io/data/token_lines.h has the formats).
#include <cstdio>
#include <memory>
#include <string>

#include "base/error.h"
#include "cli/commands.h"
#include "io/data/token_lines.h"
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
  io::write_token_lines(args.input.empty() ? "-" : args.input, tokenizer, args.format == "tokens", stdout);
  flush_stdout();
  return 0;
}

}  // namespace

Runner tokenize_command(CLI::App& app) {
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
  return [args, k_option] { return run_tokenize(*args, k_option->count() > 0); };
}

}  // namespace dnabert::cli
