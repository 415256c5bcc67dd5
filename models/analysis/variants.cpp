#include "models/analysis/variants.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "base/error.h"
#include "io/data/dataset.h"
#include "io/data/sequence_source.h"
#include "io/formats/fasta.h"
#include "models/analysis/interpret.h"

namespace dnabert::models {

std::string apply_mutation(const std::string& seq, const Mutation& m, const std::string& where) {
  if (m.start < 0 || m.end < m.start || m.end > static_cast<int64_t>(seq.size()))
    throw Error(where + "mutation [" + std::to_string(m.start) + ", " + std::to_string(m.end) +
                ") does not fit sequence " + std::to_string(m.index) + " of " + std::to_string(seq.size()) + " bases");
  for (char c : m.allele)
    if (c != 'A' && c != 'C' && c != 'G' && c != 'T' && c != 'N')
      throw Error(where + "allele '" + m.allele + "' holds a character other than A, C, G, T, N");
  return seq.substr(0, static_cast<size_t>(m.start)) + m.allele + seq.substr(static_cast<size_t>(m.end));
}

VariantEffect variant_effect(double p_orig, double p_mut) {
  VariantEffect e;
  e.diff = (p_mut - p_orig) * std::max(p_orig, p_mut);
  e.log_odds_ratio = std::log2(p_orig / (1 - p_orig)) - std::log2(p_mut / (1 - p_mut));
  return e;
}

std::vector<VariantWindow> variant_windows(const std::vector<io::VcfRecord>& records, const std::string& vcf_path,
                                           const std::string& fasta_path, int64_t window) {
  if (window < 1) throw UsageError("--window must be at least 1");
  std::map<std::string, std::vector<size_t>> by_chrom;
  for (size_t i = 0; i < records.size(); ++i) by_chrom[records[i].chrom].push_back(i);
  std::vector<VariantWindow> out(records.size());
  std::vector<char> done(records.size(), 0);
  io::FastaReader reader(fasta_path);
  io::SequenceRecord rec;
  std::string chrom;
  std::vector<char> chunk(size_t{1} << 16);
  // The whole reference is read, to refuse a name given twice: which of the
  // two records a variant lies on would otherwise depend on the file order.
  std::map<std::string, uint64_t> line_of;
  while (reader.next_record(rec)) {
    const auto [seen, fresh] = line_of.emplace(rec.name, rec.line);
    if (!fresh)
      throw Error(fasta_path + ": line " + std::to_string(rec.line) + ": record '" + rec.name +
                  "' has the name of the record at line " + std::to_string(seen->second));
    auto it = by_chrom.find(rec.name);
    if (it == by_chrom.end()) continue;
    chrom.clear();
    while (size_t got = reader.read_bases(chunk.data(), chunk.size())) chrom.append(chunk.data(), got);
    const int64_t n = static_cast<int64_t>(chrom.size());
    for (size_t i : it->second) {
      const io::VcfRecord& v = records[i];
      const std::string where = vcf_path + ": line " + std::to_string(v.line) + ": ";
      const int64_t pos0 = v.pos - 1, ref_len = static_cast<int64_t>(v.ref.size());
      if (pos0 + ref_len > n)
        throw Error(where + v.chrom + ":" + std::to_string(v.pos) + " lies beyond the end of " + rec.name + " (" +
                    std::to_string(n) + " bases) in " + fasta_path);
      if (ref_len > window)
        throw Error(where + "REF of " + std::to_string(ref_len) + " bases is longer than --window " + std::to_string(window));
      if (n < window)
        throw Error(where + rec.name + " has " + std::to_string(n) + " bases, fewer than --window " + std::to_string(window));
      const std::string ref_here = chrom.substr(static_cast<size_t>(pos0), static_cast<size_t>(ref_len));
      if (ref_here != v.ref)
        throw Error(where + "REF " + v.ref + " differs from the reference's " + ref_here + " at " + v.chrom + ":" +
                    std::to_string(v.pos) + " (another genome build?)");
      const int64_t start = std::clamp<int64_t>(pos0 - (window - ref_len) / 2, 0, n - window);
      VariantWindow& w = out[i];
      w.record = v;
      w.reference = chrom.substr(static_cast<size_t>(start), static_cast<size_t>(window));
      w.mutation = {i, pos0 - start, pos0 - start + ref_len, v.alt, v.line};
      done[i] = 1;
    }
    by_chrom.erase(it);
  }
  for (size_t i = 0; i < records.size(); ++i)
    if (!done[i])
      throw Error(vcf_path + ": line " + std::to_string(records[i].line) + ": chromosome '" + records[i].chrom +
                  "' is not in " + fasta_path);
  return out;
}

int positive_class(const std::string& model_dir, int num_labels, const std::string& label) {
  const std::string map_path = model_dir + "/label_map.json";
  if (std::filesystem::exists(map_path)) {
    const io::LabelMap map = io::LabelMap::load(map_path);
    if (auto id = map.find(label.empty() ? "1" : label)) return *id;
  }
  if (!label.empty() && label != "1")
    throw UsageError("--positive '" + label + "' is not a label of the model in " + model_dir);
  return num_labels - 1;
}

VariantScorer::VariantScorer(const LoadedModel& lm, int positive, int batch)
    : lm_(lm), tok_(lm.vocab), positive_(positive) {
  wo_.max_len = lm.model->config().max_position_embeddings;
  wo_.batch = batch;
  wo_.output = output_kind_for(lm.model->config());
  if (wo_.output != OutputKind::Softmax) throw UsageError("variants needs a classification model (softmax over classes)");
}

std::vector<double> VariantScorer::operator()(const std::vector<std::string>& seqs) {
  const int C = lm_.model->config().num_labels;
  std::vector<double> p;
  for (size_t s0 = 0; s0 < seqs.size(); s0 += kChunk) {
    std::vector<std::vector<int32_t>> ids;
    for (size_t s = s0; s < std::min(seqs.size(), s0 + kChunk); ++s) {
      ids.emplace_back();
      tok_.append_ids(seqs[s], tokenizer::Input::Sequence, ids.back());
      if (ids.back().empty()) throw Error("variants: a sequence is shorter than k = " + std::to_string(tok_.k()));
    }
    const std::vector<float> probs = classify_sequences(*lm_.model, ids, wo_, arena_);
    for (size_t b = 0; b < ids.size(); ++b) p.push_back(probs[b * C + static_cast<size_t>(positive_)]);
  }
  return p;
}

std::vector<std::string> read_sequence_list(const std::string& path) {
  io::SequenceSource source(path);
  io::SourceItem item;
  std::vector<std::string> seqs;
  while (source.next(item)) seqs.push_back(bases_of(item.text, item.input));
  if (seqs.empty()) throw Error(path + ": no sequences");
  return seqs;
}

MutationSet mutations_from_file(const std::string& path, const std::vector<std::string>& seqs,
                                const std::string& input) {
  MutationSet set;
  set.header = "index\tstart\tend\tallele";
  for (const Mutation& m : io::read_mutations(path)) {
    const std::string where = path + ": line " + std::to_string(m.line) + ": ";
    if (m.index >= seqs.size())
      throw Error(where + "index " + std::to_string(m.index) + " is beyond the " + std::to_string(seqs.size()) +
                  " sequences of " + input);
    set.orig.push_back(seqs[m.index]);
    set.mutant.push_back(apply_mutation(seqs[m.index], m, where));
    set.name.push_back(std::to_string(m.index) + "\t" + std::to_string(m.start) + "\t" + std::to_string(m.end) +
                       "\t" + m.allele);
  }
  return set;
}

MutationSet mutations_from_vcf(const std::string& vcf_path, const std::string& reference, int64_t window) {
  const io::VcfContents vcf = io::read_vcf(vcf_path);
  MutationSet set;
  set.symbolic_skipped = vcf.symbolic_skipped;
  set.header = "chrom\tpos\tid\tref\talt";
  for (const VariantWindow& w : variant_windows(vcf.records, vcf_path, reference, window)) {
    set.orig.push_back(w.reference);
    set.mutant.push_back(apply_mutation(w.reference, w.mutation, vcf_path + ": line " + std::to_string(w.record.line) + ": "));
    set.name.push_back(w.record.chrom + "\t" + std::to_string(w.record.pos) + "\t" + w.record.id + "\t" +
                       w.record.ref + "\t" + w.record.alt);
  }
  return set;
}

std::vector<double> saturation_probabilities(const std::string& s, double p_orig, VariantScorer& score) {
  static const char kBases[4] = {'A', 'C', 'G', 'T'};
  // The reference base keeps p_orig (diff 0); only the other three are scored.
  std::vector<std::string> mutants;
  for (size_t j = 0; j < s.size(); ++j)
    for (char b : kBases)
      if (b != s[j]) {
        std::string m = s;
        m[j] = b;
        mutants.push_back(std::move(m));
      }
  const std::vector<double> scored = score(mutants);
  std::vector<double> p;
  for (size_t j = 0, next = 0; j < s.size(); ++j)
    for (char b : kBases) p.push_back(b == s[j] ? p_orig : scored[next++]);
  return p;
}

}  // namespace dnabert::models
