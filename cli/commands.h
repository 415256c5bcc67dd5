// What the subcommands share: how each is declared, the job wrapper, option
// checks. Every cli/<name>.cpp parses its flags and calls the library; main.cpp
// lists the subcommands.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>

namespace dnabert::cli {

// What a chosen subcommand runs, once its flags are parsed.
using Runner = std::function<int()>;

// The subcommands, one per cli/<name>.cpp: each adds itself and its flags to
// `app` and returns its runner.
Runner pretrain_command(CLI::App& app);
Runner finetune_command(CLI::App& app);
Runner evaluate_mlm_command(CLI::App& app);
Runner predict_command(CLI::App& app);
Runner embed_command(CLI::App& app);
Runner scan_command(CLI::App& app);
Runner attention_command(CLI::App& app);
Runner motifs_command(CLI::App& app);
Runner variants_command(CLI::App& app);
Runner tokenize_command(CLI::App& app);
Runner fasta_stats_command(CLI::App& app);
Runner split_command(CLI::App& app);
Runner convert_command(CLI::App& app);

// Runs a command's work as one job of an MPI run (or alone without mpirun).
// In a job of several ranks an error does not unwind into MPI_Finalize (which
// would wait forever for the other ranks): it prints "dnabert: error: rank R
// of N: <cause>" and ends every rank (exit 2 for a usage error, 3 when the
// ranks lost each other, else 1). A single rank rethrows to main's handler.
int run_job(const std::function<int()>& body);

// --out (required) and --overwrite of a command that writes files into an
// output directory (io/formats/output_dir.h has the rules).
void add_output_dir_options(CLI::App* command, std::string& out, bool& overwrite);

// Checks for numeric options. A value out of range fails the parse (exit 2,
// before any work) with its real bounds: "--max-len: must be an integer in
// 8..512, got -1". CLI11's own PositiveNumber and Range print the limits of
// double instead, and let NaN through; every numeric option uses one of these.
//
// An integer in lo..hi; hi defaults to the largest T, and is then left out of
// the message ("must be an integer >= 1") unless the value exceeds it.
CLI::Validator integer_check(int64_t lo, uint64_t hi, bool hi_is_type_limit);
template <class T>
CLI::Validator integer_in(int64_t lo, uint64_t hi = std::numeric_limits<T>::max()) {
  return integer_check(lo, hi, hi == static_cast<uint64_t>(std::numeric_limits<T>::max()));
}
// A finite number in lo..hi; `ends` says which ends are included, as in
// interval notation: "[]", "[)", "(]" or "()". An infinite hi reads "> lo" or
// ">= lo". NaN and infinities are refused.
CLI::Validator number_in(double lo, double hi, const std::string& ends = "[]");
constexpr double kUnbounded = std::numeric_limits<double>::infinity();

// --max-len against the model, once its config is read: "--max-len: must be
// an integer in 3..64 (max_position_embeddings of DIR), got 100".
void check_max_len(int64_t max_len, int64_t lo, int64_t max_position_embeddings, const std::string& model_dir);

// Throws dnabert::UsageError unless `path`, given to `option`, is a regular
// file: `why` says what reads it more than once, which stdin, a pipe or a FIFO
// would not allow (the second read would block or find nothing).
void require_regular_file(const std::string& option, const std::string& path, const std::string& why);

// Flushes standard output; throws dnabert::Error "cannot write to standard
// output: <reason>" if that or any earlier write failed (a full disk, a
// closed pipe), so no command reports success for output that was lost.
void flush_stdout();

}  // namespace dnabert::cli
