// In-silico mutagenesis with a fine-tuned classifier (DNABERT's SNP/ scripts):
// a mutation replaces bases [start, end) of a sequence by an allele, so
// start == end inserts and an empty allele deletes. Its effect on the
// probability p of the positive class, as DNABERT's SNP.py computes it:
//   diff  = (p_mut − p_orig) · max(p_orig, p_mut)
//   logOR = log2(p_orig / (1 − p_orig)) − log2(p_mut / (1 − p_mut))
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/arena.h"
#include "io/data/vcf.h"
#include "models/analysis/inference.h"
#include "models/network/loading.h"
#include "tokenizer/kmer.h"

namespace dnabert::models {

using io::Mutation;

// seq[:start] + allele + seq[end:]. Throws naming `where` if the range does
// not fit the sequence or the allele holds a letter other than A, C, G, T, N.
std::string apply_mutation(const std::string& seq, const Mutation& m, const std::string& where);

struct VariantEffect {
  double diff = 0, log_odds_ratio = 0;
};
VariantEffect variant_effect(double p_orig, double p_mut);

// A VCF record as a mutation of the `window` reference bases around it: the
// window is centred on REF and kept inside the chromosome.
struct VariantWindow {
  io::VcfRecord record;
  std::string reference;  // the window's reference bases
  Mutation mutation;      // index = position of the record in the input list
};
// Streams the FASTA once and cuts a window for every record. Throws naming the
// VCF line if its chromosome is not in the reference, it lies beyond the
// chromosome's end, REF disagrees with the reference, or the chromosome is
// shorter than the window.
std::vector<VariantWindow> variant_windows(const std::vector<io::VcfRecord>& records, const std::string& vcf_path,
                                           const std::string& fasta_path, int64_t window);

// The class scored as positive: `label` (default "1") in the model's
// label_map.json, else the last class. Throws UsageError for an explicit
// label the model does not have.
int positive_class(const std::string& model_dir, int num_labels, const std::string& label);

// Positive-class probabilities of many sequences with a classification
// model, in chunks so memory stays bounded. Throws UsageError for a model
// whose outputs are not a softmax over classes.
class VariantScorer {
 public:
  VariantScorer(const LoadedModel& model, int positive, int batch);
  // One probability per sequence; throws for a sequence shorter than k.
  std::vector<double> operator()(const std::vector<std::string>& sequences);

 private:
  static constexpr size_t kChunk = 1024;
  const LoadedModel& lm_;
  tokenizer::KmerTokenizer tok_;
  int positive_;
  WindowOptions wo_;
  engine::Arena arena_;
};

// Mutations paired with the sequences they change, ready to score: one row
// each, with the columns that name it (`header`, tab-separated).
struct MutationSet {
  std::string header;                     // "index\tstart\tend\tallele" or "chrom\tpos\tid\tref\talt"
  std::vector<std::string> name;          // each row's columns under `header`
  std::vector<std::string> orig, mutant;  // the sequences before and after
  size_t symbolic_skipped = 0;            // VCF ALT alleles such as <DEL>, *, breakends: not scored
};
// A DNABERT mutation file against `sequences` (read from `input`).
MutationSet mutations_from_file(const std::string& mutations_path, const std::vector<std::string>& sequences,
                                const std::string& input);
// A VCF's variants in `window` bases of the reference genome around each.
MutationSet mutations_from_vcf(const std::string& vcf_path, const std::string& reference, int64_t window);

// Every sequence of a TSV/CSV/FASTA/lines file as bases; throws for none.
std::vector<std::string> read_sequence_list(const std::string& path);

// Saturation mutagenesis of `seq`: P(positive) for every position x base
// (A, C, G, T; [position * 4 + base]), the reference base keeping `p_orig`.
std::vector<double> saturation_probabilities(const std::string& seq, double p_orig, VariantScorer& score);

}  // namespace dnabert::models
