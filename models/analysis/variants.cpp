#include "models/analysis/variants.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "base/error.h"
#include "io/data/dataset.h"
#include "io/formats/fasta.h"

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

}  // namespace dnabert::models
