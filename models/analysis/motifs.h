// DNABERT-viz motif discovery (DNABERT's motif/motif_utils.py, motif_analysis):
//
//  1. In each positive sequence, high-attention regions: runs of at least
//     min_len nucleotides whose score is > the sequence's mean and > 10 × its
//     minimum (the 10 is MotifOptions::min_ratio). Each region's bases are a candidate motif.
//  2. A hypergeometric test per candidate on sequence counts (a sequence counts
//     once however often it holds the candidate): x of the n sequences holding
//     it are positive, out of K positives in N sequences; p = P(X ≥ x),
//     Benjamini-Hochberg adjusted; keep adjusted p < pval_cutoff.
//  3. Merge candidates, shortest first, into the earlier ones they align to
//     with end gaps only (match 1, mismatch 0, no internal gap) and a score ≥
//     max(min_len − 1, ½·the shorter length); instances move to the key
//     motif's frame.
//  4. Widen every instance to a window of window_size bases (dropped if it
//     leaves the sequence), keep motifs with ≥ min_instances windows.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tensor.h"
#include "io/data/dataset.h"

namespace dnabert::models {

struct MotifOptions {
  int window = 24;
  int min_len = 5;
  double pval_cutoff = 0.005;
  int min_instances = 3;
  bool align_all_ties = false;  // find_motifs.py's --align_all_ties flag (off by default)
  double min_ratio = 10;        // the "> 10 × minimum" rule; DNABERT lets callers replace it (atten_cond)
  bool shift_windows = false;   // move a window that leaves its sequence inward instead of dropping it (ours)
};

struct Region {
  int64_t start = 0, end = 0;  // [start, end)
  bool operator==(const Region&) const = default;
};

// Step 1 for one sequence's scores (min_ratio: the 10 of "> 10 × minimum").
std::vector<Region> high_attention_regions(std::span<const float> score, int min_len, double min_ratio = 10);

// scipy.stats.hypergeom.sf(k, N, K, n): P(X > k) for X the number of marked
// items among n drawn without replacement from N items of which K are marked.
double hypergeom_sf(int64_t k, int64_t N, int64_t K, int64_t n);

// statsmodels multipletests(p, method="fdr_bh")[1]: BH-adjusted p-values, in input order.
std::vector<double> benjamini_hochberg(const std::vector<double>& p);

// The best alignment of `query` against `key` with free end gaps, no internal
// gaps, match 1 and mismatch 0: an ungapped overlap at some offset. Ties go to
// the smallest query_start − key_start.
struct EndGapAlignment {
  int score = 0;
  int64_t query_start = 0, key_start = 0, length = 0;  // the overlapping block
};
EndGapAlignment align_end_gaps(std::string_view query, std::string_view key);

struct Instance {
  size_t seq = 0;  // index into the positive sequences
  Region region;
};

struct Candidate {
  std::string motif;
  std::vector<Instance> instances;
  int64_t positives = 0, all = 0;  // sequences holding the motif: positive, any
  double p = 1, p_adjusted = 1;
};

// Steps 3 and 4 are exposed for tests; find_motifs runs all four.
std::vector<Candidate> merge_candidates(const std::vector<Candidate>& filtered, int min_len, bool align_all_ties);
struct Motif {
  Candidate key;                   // the key candidate (its test statistics) and its merged instances
  std::vector<Instance> windows;   // widened instances that fit in their sequence
  std::vector<std::string> sites;  // their bases
};
// With `shift`, a window that would leave its sequence is moved inward to
// fit (it may then end at the last base); only a sequence shorter than the
// window drops it. Not DNABERT's rule: short promoters whose motif sits at
// the first bases (GUE prom_core_tata's TATA boxes) lose every instance under it.
Motif make_windows(const Candidate& merged, const std::vector<std::string>& positives, int window, bool shift = false);

struct MotifReport {
  size_t candidates = 0, significant = 0, merged = 0;
  std::vector<Candidate> tested;  // every candidate with its counts and p-values
  std::vector<Motif> motifs;      // the kept motifs
};
// `scores[i]` belongs to positives[i]; only its first positives[i].size() values are used.
MotifReport find_motifs(const std::vector<std::string>& positives, const std::vector<std::string>& negatives,
                        const std::vector<std::vector<float>>& scores, const MotifOptions& options);

// Letter frequencies (A, C, G, T) per column of equal-length sites; other letters are skipped.
std::vector<std::array<double, 4>> position_frequencies(const std::vector<std::string>& sites);

// MEME minimal motif format (version 4) for all motifs, Tomtom's input.
std::string meme_text(const std::vector<Motif>& motifs, const std::array<double, 4>& background);

// find_motifs's inputs from a labelled file and `attention`'s rows for it
// (float32 [N, L]): the sequences labelled `positive_label` with their scores,
// the others, and the A/C/G/T frequencies of all (for the MEME file). Throws
// naming `atten_path` and `input_path` when the array does not fit the file.
struct MotifInputs {
  std::vector<std::string> positive, negative;
  std::vector<std::vector<float>> scores;  // one per positive sequence, one per base
  std::array<double, 4> background{0.25, 0.25, 0.25, 0.25};
};
MotifInputs motif_inputs(const io::LabelledDataset& data, int32_t positive_label, const engine::Tensor& atten,
                         const std::string& atten_path, const std::string& input_path);

}  // namespace dnabert::models
