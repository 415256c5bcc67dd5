// Labelled sequence datasets for fine-tuning and evaluation.
//
// Formats (plain or gzip, detected from the content, not the name):
//   DNABERT TSV  header `sequence<TAB>label`, then one row per example; the
//                sequence is usually a k-mer sentence ("ACGTAC CGTACG ...").
//   GUE CSV      header `sequence,label`, then `ACGT...,1` rows.
//   FASTA        one label for a whole file, given as "FILE:LABEL"
//                (e.g. `pos.fa.gz:1 neg.fa.gz:0`); read with io::FastaReader.
// CRLF line ends and blank lines are accepted. A table's first data row decides
// whether its sequences are raw bases or k-mer sentences (a sentence has spaces).
//
// Labels: the distinct label strings map to ids 0..n-1. If they are exactly the
// numbers 0..n-1 ("0", "1", ..., "10"), each maps to its number; otherwise they
// are sorted (byte order) and numbered in that order. Dev and test sets reuse
// the training set's LabelMap (saved as label_map.json).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/formats/fasta.h"
#include "tokenizer/kmer.h"

namespace dnabert::io {

// Lines of a plain or gzip text file ("-" = stdin); "\n" and "\r\n" ends. A
// UTF-8 byte order mark at the start is dropped. The file is opened once, so a
// pipe or FIFO works.
class TextLineReader {
 public:
  explicit TextLineReader(const std::string& path);  // throws dnabert::Error if unreadable
  ~TextLineReader();
  TextLineReader(const TextLineReader&) = delete;
  TextLineReader& operator=(const TextLineReader&) = delete;

  // The next line without its line end; false at the end. Throws on corrupt gzip.
  bool next(std::string& line);
  uint64_t line_number() const;     // 1-based number of the line last returned
  const std::string& path() const;  // as given; "<stdin>" for "-"
  // The bytes after the line last returned, decompressed, up to `n`; 0 at the end.
  size_t read_rest(char* out, size_t n);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True for an IUPAC nucleotide letter (ACGTNRYKMSWBDHV) in either case: the
// letters a sequence may hold; all but ACGT give [UNK] k-mers.
bool is_nucleotide_letter(char c);

// Reads a file as FASTA/FASTQ after `lines` has returned its first non-blank
// line, `first_line` (one '>' or '@' away from the start of a record): how a
// reader that looked at the first line to tell the format goes on without
// opening the file again, which a pipe or FIFO would not allow.
std::unique_ptr<FastaReader> continue_as_fasta(std::unique_ptr<TextLineReader> lines, const std::string& first_line,
                                               FastaOptions options = {});

enum class DatasetFormat { DnabertTsv, GueCsv, Fasta };
const char* format_name(DatasetFormat format);  // "DNABERT TSV", "GUE CSV", "FASTA"

// From the first line: '>' or '@' -> FASTA, a tab -> DNABERT TSV, a comma ->
// GUE CSV. Throws dnabert::Error for an empty file or anything else.
DatasetFormat detect_format(const std::string& path);

class LabelMap {
 public:
  LabelMap() = default;
  // The rule in the header comment, applied to the distinct strings in `labels`.
  static LabelMap from_labels(const std::vector<std::string>& labels);
  // label_map.json: {"num_labels": n, "id2label": {"0": ..}, "label2id": {..: 0}}.
  static LabelMap load(const std::string& path);
  static LabelMap from_json(const std::string& text, const std::string& source = "label map");
  std::string to_json() const;
  void save(const std::string& path) const;  // atomic: path.tmp, fsync, rename

  size_t size() const { return names_.size(); }
  const std::vector<std::string>& names() const { return names_; }  // id -> label
  const std::string& name(int32_t id) const;
  std::optional<int32_t> find(std::string_view label) const;
  bool operator==(const LabelMap& other) const { return names_ == other.names_; }

 private:
  explicit LabelMap(std::vector<std::string> names) : names_(std::move(names)) {}
  std::vector<std::string> names_;
};

struct LabelledDataset {
  DatasetFormat format = DatasetFormat::GueCsv;
  tokenizer::Input input = tokenizer::Input::Sequence;  // what `texts` hold
  int sentence_k = 0;                                   // k of the sentences; 0 for raw sequences
  std::vector<std::string> texts;                       // one per example, as written in the file
  std::vector<std::string> texts_b;                     // second sequences of pair inputs; empty otherwise
  std::vector<int32_t> labels;                          // one per example, ids under label_map
  LabelMap label_map;
  size_t size() const { return texts.size(); }
};

struct DatasetOptions {
  // Use this map (the training set's) instead of building one; a label not in
  // it is an error naming the file and line.
  std::optional<LabelMap> label_map;
};

// A DNABERT TSV or GUE CSV file. Errors name the file and line: empty file,
// missing header, wrong column count, missing label, empty sequence, invalid
// character, k-mers of mixed length, no rows.
LabelledDataset read_table(const std::string& path, const DatasetOptions& options = {});

struct LabelledFasta {
  std::string path;
  std::string label;
};
// "pos.fa.gz:1" -> {"pos.fa.gz", "1"}, split at the last ':'. Throws
// dnabert::UsageError if there is no non-empty label after it.
LabelledFasta parse_labelled_fasta(const std::string& spec);
// Every record of each file, labelled with that file's label, files in order.
LabelledDataset read_labelled_fasta(const std::vector<LabelledFasta>& files, const DatasetOptions& options = {});

// Front door for the CLI: one table path, or one or more "FASTA:LABEL" specs.
LabelledDataset read_dataset(const std::vector<std::string>& inputs, const DatasetOptions& options = {});

// The files that a comma-separated dataset argument names (as finetune's
// --train "pos.fa:1,neg.fa:0"): a table's path as it is, a FASTA spec's path
// without its label.
std::vector<std::string> dataset_files(const std::string& spec);

}  // namespace dnabert::io
