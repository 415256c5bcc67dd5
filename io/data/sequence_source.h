// Unlabelled sequences for inference (embed, predict): FASTA/FASTQ (.gz), a
// GUE CSV or DNABERT TSV (first column; the header and labels are skipped), or
// one sequence (or k-mer sentence) per line. Streams: memory does not grow
// with the number of sequences, and, read in pieces (set_piece_bases), not
// with the length of a FASTA/FASTQ record either. A line of the line-based
// formats is held whole, one byte per base.
#pragma once
#include <memory>
#include <string>

#include "tokenizer/kmer.h"

namespace dnabert::io {

struct SourceItem {
  std::string id;    // FASTA name, or "line<N>" / "row<N>"
  std::string text;  // bases, or a k-mer sentence
  tokenizer::Input input = tokenizer::Input::Sequence;
  // `text` is the first piece of a longer sequence; more() gives the rest.
  bool partial = false;
};

class SequenceSource {
 public:
  explicit SequenceSource(const std::string& path);  // "-" = stdin
  ~SequenceSource();
  SequenceSource(const SequenceSource&) = delete;
  SequenceSource& operator=(const SequenceSource&) = delete;
  // The next sequence; false at the end. Throws dnabert::Error with file and line.
  bool next(SourceItem& item);
  const char* format() const;  // "FASTA", "CSV", "TSV" or "lines"
  // From now on a sequence of fewer than `k` bases (it has no k-mer, so it
  // would be scored as [CLS] [SEP] alone) is an error naming its record or line.
  void require_kmer(int k);
  // From now on a sequence of raw bases longer than `bases` comes in pieces of
  // at most `bases` (0, the default: whole). Its first piece is next()'s, with
  // item.partial set when more may follow; a caller that wants only a prefix
  // calls next() again, which skips the rest unread.
  void set_piece_bases(size_t bases);
  // The next piece of the current sequence into item.text; false (and empty
  // text) at its end.
  bool more(SourceItem& item);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dnabert::io
