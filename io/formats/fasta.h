// Streaming FASTA/FASTQ reader: plain, gzip, multi-member gzip and BGZF.
// Memory stays bounded whatever the file size: sequence is delivered in
// chunks through a fixed-size buffer, never as a whole chromosome.
//
// CONTRACT (implemented in io/formats/fasta.cpp): other modules (sampler, datasets,
// tokenize CLI) code against this header only.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace dnabert::io {

// How non-ACGT letters are delivered in the base stream.
enum class SoftMask { Upper, Unknown };  // lower case -> upper (default) or -> 'N'

struct FastaOptions {
  SoftMask soft_mask = SoftMask::Upper;
  // Size of each of the two I/O buffers (compressed in, decoded out). Tests and
  // the fuzzer shrink it so records straddle refills; memory use is ~2x this.
  size_t buffer_bytes = size_t{1} << 20;
};

// Bytes already in memory, read as if they were a file called `name`
// (the fuzzer and tests use it; a gzip stream in `bytes` is inflated).
struct MemoryInput {
  std::string name;
  std::string bytes;
};

// Bytes already taken from an input, then the rest of it from `read` (which
// returns 0 at the end): how a reader that had to look at the start of a pipe
// to tell its format hands it on, since a pipe cannot be opened again.
struct StreamInput {
  std::string name;
  std::string head;
  std::function<size_t(char* out, size_t n)> read;
};

// How messages show one byte of an input: 'A', or '\x00' for a byte that is
// not printable ASCII, so raw binary never reaches the terminal.
std::string show_char(unsigned char c);

// Counts over everything read so far (across records).
struct SequenceStats {
  uint64_t records = 0;
  uint64_t bases = 0;        // all sequence letters
  uint64_t n_bases = 0;      // N / n
  uint64_t other_iupac = 0;  // IUPAC codes other than ACGTN (R, Y, K, ...)
  uint64_t soft_masked = 0;  // lower-case letters
  uint64_t gc = 0;           // G or C, either case
};

struct SequenceRecord {
  std::string name;         // header up to the first white space, without '>' or '@'
  std::string description;  // rest of the header line
  uint64_t index = 0;       // 0-based record number in the file
  uint64_t line = 0;        // 1-based line number of the header
  bool fastq = false;
};

class FastaReader {
 public:
  // Opens `path` ("-" = stdin); detects gzip by magic bytes and FASTA vs FASTQ
  // by the first non-blank character (after a UTF-8 byte order mark, which is
  // skipped). Throws dnabert::Error naming the file
  // (and line/record) for: missing/unreadable file, empty file, not FASTA/FASTQ.
  explicit FastaReader(const std::string& path, FastaOptions options = {});
  explicit FastaReader(MemoryInput input, FastaOptions options = {});
  explicit FastaReader(StreamInput input, FastaOptions options = {});
  ~FastaReader();
  FastaReader(const FastaReader&) = delete;
  FastaReader& operator=(const FastaReader&) = delete;

  // Advances to the next record; false at the end of the file. Any unread
  // sequence of the current record is skipped.
  bool next_record(SequenceRecord& record);

  // Reads up to `n` bases of the current record into `out`: upper-case
  // A C G T, N for N and every other IUPAC code, and (with SoftMask::Unknown)
  // 'N' for lower-case letters. Line breaks, CR and blanks are dropped.
  // Returns 0 at the end of the record. Throws on invalid characters, bad
  // FASTQ quality length, truncated or corrupt gzip, with file and line.
  size_t read_bases(char* out, size_t n);

  // Convenience for short records: the next record and its whole sequence.
  bool next(SequenceRecord& record, std::string& sequence);

  const SequenceStats& stats() const;
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The number of bases in every record of a FASTA/FASTQ file (one pass, in
// pieces, so memory stays small whatever the record lengths).
uint64_t count_bases(const std::string& path);

}  // namespace dnabert::io
