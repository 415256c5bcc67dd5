// A fine-tuned classifier slid along whole chromosomes: one score per window,
// reported on the step around the window's centre so that the intervals of a
// track do not overlap. Memory is bounded by the window and the batch,
// whatever the genome size.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "models/analysis/inference.h"
#include "models/network/loading.h"

namespace dnabert::models {

struct ScanOptions {
  int64_t window = 0;  // bp, at least k
  int64_t stride = 0;  // bp between window starts, at least 1
  bool both_strands = false;  // average each window's score with its reverse complement's
  int batch = 32;             // windows per forward pass
  int positive = 1;           // the class whose probability is the score
};

// One window's score: the probability of the positive class, reported on
// [start, end), the step of `stride` bp around the window's centre, clipped to
// the window.
struct ScanInterval {
  const std::string* chrom;
  int64_t start, end;
  double score;
};

struct ScanSummary {
  uint64_t windows = 0, bases = 0;
  uint64_t short_records = 0;  // records shorter than one window: no window fits, nothing scored
};

// The reverse complement of ACGT text; any other letter becomes N.
std::string reverse_complement(const std::string& s);

// Throws dnabert::UsageError for a window shorter than the model's k, a
// stride below 1, or a positive class the model does not have.
void check_scan_options(const LoadedModel& model, const ScanOptions& options);

// Scores every window [p, p + window) with p = 0, stride, 2 stride, … of every
// record of the FASTA/FASTQ file `fasta`, in file order: `emit` receives each
// interval, `progress` the bases read and windows scored so far after each
// piece of the file. Checks the options first (check_scan_options).
ScanSummary scan_genome(const LoadedModel& model, const std::string& fasta, const ScanOptions& options,
                        const std::function<void(const ScanInterval&)>& emit,
                        const std::function<void(uint64_t bases, uint64_t windows)>& progress = {});

}  // namespace dnabert::models
