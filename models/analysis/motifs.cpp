#include "models/analysis/motifs.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <set>
#include <string_view>
#include <unordered_map>

#include "base/error.h"
#include "models/analysis/interpret.h"

namespace dnabert::models {

std::vector<Region> high_attention_regions(std::span<const float> score, int min_len, double min_ratio) {
  std::vector<Region> out;
  if (score.empty()) return out;
  double sum = 0;
  float mn = score[0];
  for (float v : score) sum += v, mn = std::min(mn, v);
  // The mean is taken in double; numpy's float32 mean may differ in the last bit,
  // which matters only for a score equal to the mean.
  const double mean = sum / static_cast<double>(score.size());
  const double above_min = min_ratio * static_cast<double>(mn);
  int64_t start = -1;
  const int64_t n = static_cast<int64_t>(score.size());
  for (int64_t i = 0; i <= n; ++i) {
    const bool high = i < n && score[static_cast<size_t>(i)] > mean && score[static_cast<size_t>(i)] > above_min;
    if (high && start < 0) start = i;
    if (!high && start >= 0) {
      if (i - start >= min_len) out.push_back({start, i});
      start = -1;
    }
  }
  return out;
}

namespace {

double log_choose(int64_t n, int64_t k) {
  return std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(k) + 1) -
         std::lgamma(static_cast<double>(n - k) + 1);
}

}  // namespace

double hypergeom_sf(int64_t k, int64_t N, int64_t K, int64_t n) {
  if (N < 0 || K < 0 || n < 0 || K > N || n > N) throw Error("hypergeom_sf: invalid parameters");
  const int64_t lo = std::max<int64_t>(0, n - (N - K)), hi = std::min(n, K);
  if (k < lo) return 1.0;
  if (k >= hi) return 0.0;
  // Sum the pmf over k+1..hi in log space, relative to its largest term.
  const double denom = log_choose(N, n);
  std::vector<double> terms;
  terms.reserve(static_cast<size_t>(hi - k));
  for (int64_t i = k + 1; i <= hi; ++i) terms.push_back(log_choose(K, i) + log_choose(N - K, n - i) - denom);
  const double mx = *std::max_element(terms.begin(), terms.end());
  double s = 0;
  for (double t : terms) s += std::exp(t - mx);
  return std::min(1.0, std::exp(mx) * s);
}

std::vector<double> benjamini_hochberg(const std::vector<double>& p) {
  const size_t m = p.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> adjusted(m);
  double running = 1.0;
  for (size_t r = m; r-- > 0;) {
    running = std::min(running, p[order[r]] * static_cast<double>(m) / static_cast<double>(r + 1));
    adjusted[order[r]] = running;
  }
  return adjusted;
}

EndGapAlignment align_end_gaps(std::string_view q, std::string_view key) {
  EndGapAlignment best;
  best.score = -1;
  const int64_t nq = static_cast<int64_t>(q.size()), nk = static_cast<int64_t>(key.size());
  // d = query_start - key_start: query position i faces key position i - d.
  for (int64_t d = -(nk - 1); d <= nq - 1; ++d) {
    const int64_t qs = std::max<int64_t>(0, d), ks = qs - d;
    const int64_t len = std::min(nq - qs, nk - ks);
    if (len <= 0) continue;
    int score = 0;
    for (int64_t i = 0; i < len; ++i) score += q[static_cast<size_t>(qs + i)] == key[static_cast<size_t>(ks + i)];
    if (score > best.score) best = {score, qs, ks, len};
  }
  if (best.score < 0) best = {};
  return best;
}

std::vector<Candidate> merge_candidates(const std::vector<Candidate>& filtered, int min_len, bool align_all_ties) {
  std::vector<size_t> order(filtered.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return filtered[a].motif.size() < filtered[b].motif.size(); });
  std::vector<Candidate> merged;
  for (size_t i : order) {
    const Candidate& c = filtered[i];
    std::vector<std::pair<size_t, EndGapAlignment>> aligned;
    int best = -1;
    for (size_t j = 0; j < merged.size(); ++j) {
      const std::string& key = merged[j].motif;
      const EndGapAlignment a = align_end_gaps(c.motif, key);
      const double cond = std::max(static_cast<double>(min_len - 1), 0.5 * static_cast<double>(std::min(c.motif.size(), key.size())));
      if (a.score >= cond) aligned.emplace_back(j, a), best = std::max(best, a.score);
    }
    if (aligned.empty()) {
      merged.push_back(c);
      continue;
    }
    for (const auto& [j, a] : aligned) {
      if (a.score != best) continue;
      // Each instance moves to where the key motif lies against it.
      Candidate& key = merged[j];
      const int64_t shift = a.query_start - a.key_start, klen = static_cast<int64_t>(key.motif.size());
      for (const Instance& inst : c.instances)
        key.instances.push_back({inst.seq, {inst.region.start + shift, inst.region.start + shift + klen}});
      if (!align_all_ties) break;
    }
  }
  return merged;
}

Motif make_windows(const Candidate& merged, const std::vector<std::string>& positives, int window, bool shift) {
  Motif m;
  m.key = merged;
  for (const Instance& inst : merged.instances) {
    const int64_t len = inst.region.end - inst.region.start, extra = window - len;
    // Python floor division: the odd extra base goes to the right.
    const int64_t left = extra >= 0 ? extra / 2 : -((-extra + 1) / 2);
    int64_t start = inst.region.start - left;
    const int64_t seq_len = static_cast<int64_t>(positives.at(inst.seq).size());
    if (shift && seq_len >= window) start = std::clamp<int64_t>(start, 0, seq_len - window);
    const int64_t end = start + window;
    if (start >= 0 && (shift ? end <= seq_len : end < seq_len)) {  // DNABERT's strict '<': a window ending at the last base is dropped
      m.windows.push_back({inst.seq, {start, end}});
      m.sites.push_back(positives[inst.seq].substr(static_cast<size_t>(start), static_cast<size_t>(window)));
    }
  }
  return m;
}

namespace {

// For every candidate, in how many sequences of [first, last) it occurs (once per sequence).
// Substrings of each candidate length are looked up in a hash map, so the cost is
// O(total length × distinct candidate lengths), not O(total length × candidates).
void count_sequences(const std::vector<const std::string*>& seqs, const std::vector<std::string>& motifs,
                     std::vector<int64_t>& counts) {
  std::unordered_map<std::string_view, size_t> index;
  std::set<size_t> lengths;
  for (size_t i = 0; i < motifs.size(); ++i) index.emplace(motifs[i], i), lengths.insert(motifs[i].size());
  counts.assign(motifs.size(), 0);
  std::vector<int64_t> last_seen(motifs.size(), -1);
  for (size_t s = 0; s < seqs.size(); ++s) {
    const std::string_view seq = *seqs[s];
    for (size_t len : lengths)
      for (size_t i = 0; i + len <= seq.size(); ++i) {
        auto it = index.find(seq.substr(i, len));
        if (it != index.end() && last_seen[it->second] != static_cast<int64_t>(s))
          last_seen[it->second] = static_cast<int64_t>(s), ++counts[it->second];
      }
  }
}

}  // namespace

MotifReport find_motifs(const std::vector<std::string>& positives, const std::vector<std::string>& negatives,
                        const std::vector<std::vector<float>>& scores, const MotifOptions& o) {
  if (scores.size() != positives.size())
    throw Error("find_motifs: " + std::to_string(scores.size()) + " score rows for " + std::to_string(positives.size()) +
                " positive sequences");
  MotifReport report;
  // 1. candidates in order of first appearance (DNABERT's dict order)
  std::vector<Candidate> candidates;
  std::unordered_map<std::string, size_t> where;
  for (size_t i = 0; i < positives.size(); ++i) {
    const size_t n = std::min(positives[i].size(), scores[i].size());
    for (const Region& r : high_attention_regions(std::span<const float>(scores[i].data(), n), o.min_len, o.min_ratio)) {
      std::string motif = positives[i].substr(static_cast<size_t>(r.start), static_cast<size_t>(r.end - r.start));
      auto [it, fresh] = where.emplace(motif, candidates.size());
      if (fresh) candidates.push_back({motif, {}, 0, 0, 1, 1});
      candidates[it->second].instances.push_back({i, r});
    }
  }
  report.candidates = candidates.size();
  // 2. hypergeometric test with BH correction
  std::vector<std::string> motifs;
  for (const auto& c : candidates) motifs.push_back(c.motif);
  std::vector<const std::string*> pos_ptrs, all_ptrs;
  for (const auto& s : positives) pos_ptrs.push_back(&s), all_ptrs.push_back(&s);
  for (const auto& s : negatives) all_ptrs.push_back(&s);
  std::vector<int64_t> pos_counts, all_counts;
  count_sequences(pos_ptrs, motifs, pos_counts);
  count_sequences(all_ptrs, motifs, all_counts);
  const int64_t N = static_cast<int64_t>(all_ptrs.size()), K = static_cast<int64_t>(positives.size());
  std::vector<double> p;
  for (size_t i = 0; i < candidates.size(); ++i) {
    candidates[i].positives = pos_counts[i], candidates[i].all = all_counts[i];
    p.push_back(hypergeom_sf(pos_counts[i] - 1, N, K, all_counts[i]));
  }
  const std::vector<double> adjusted = benjamini_hochberg(p);
  std::vector<Candidate> significant;
  for (size_t i = 0; i < candidates.size(); ++i) {
    candidates[i].p = p[i], candidates[i].p_adjusted = adjusted[i];
    if (adjusted[i] < o.pval_cutoff) significant.push_back(candidates[i]);
  }
  report.significant = significant.size();
  // 3. merge, 4. windows
  const std::vector<Candidate> merged = merge_candidates(significant, o.min_len, o.align_all_ties);
  report.merged = merged.size();
  for (const Candidate& c : merged) {
    Motif m = make_windows(c, positives, o.window, o.shift_windows);
    if (static_cast<int>(m.windows.size()) >= o.min_instances) report.motifs.push_back(std::move(m));
  }
  report.tested = std::move(candidates);
  return report;
}

std::vector<std::array<double, 4>> position_frequencies(const std::vector<std::string>& sites) {
  size_t width = 0;
  for (const auto& s : sites) width = std::max(width, s.size());
  std::vector<std::array<double, 4>> f(width, {0, 0, 0, 0});
  for (size_t j = 0; j < width; ++j) {
    double total = 0;
    for (const auto& s : sites) {
      if (j >= s.size()) continue;
      const char c = s[j];
      const int b = c == 'A' ? 0 : c == 'C' ? 1 : c == 'G' ? 2 : c == 'T' ? 3 : -1;
      if (b >= 0) f[j][static_cast<size_t>(b)] += 1, total += 1;
    }
    for (double& v : f[j]) v = total > 0 ? v / total : 0.25;
  }
  return f;
}

std::string meme_text(const std::vector<Motif>& motifs, const std::array<double, 4>& bg) {
  char buf[160];
  std::string o = "MEME version 4\n\nALPHABET= ACGT\n\nstrands: +\n\nBackground letter frequencies\n";
  std::snprintf(buf, sizeof buf, "A %.4f C %.4f G %.4f T %.4f\n\n", bg[0], bg[1], bg[2], bg[3]);
  o += buf;
  for (const Motif& m : motifs) {
    const auto f = position_frequencies(m.sites);
    o += "MOTIF " + m.key.motif + " motif_" + m.key.motif + "_" + std::to_string(m.sites.size()) + "\n";
    std::snprintf(buf, sizeof buf, "letter-probability matrix: alength= 4 w= %zu nsites= %zu E= %.3g\n", f.size(),
                  m.sites.size(), m.key.p_adjusted);
    o += buf;
    for (const auto& col : f) {
      std::snprintf(buf, sizeof buf, " %.6f %.6f %.6f %.6f\n", col[0], col[1], col[2], col[3]);
      o += buf;
    }
    o += "\n";
  }
  return o;
}

MotifInputs motif_inputs(const io::LabelledDataset& data, int32_t positive_label, const engine::Tensor& atten,
                         const std::string& atten_path, const std::string& input_path) {
  if (atten.rank() != 2 || atten.dtype() != engine::DType::F32)
    throw Error(atten_path + ": expected a float32 [N, L] array, got " + atten.str());
  if (atten.dim(0) != static_cast<int64_t>(data.size()))
    throw Error(atten_path + ": has " + std::to_string(atten.dim(0)) + " rows but " + input_path + " has " +
                std::to_string(data.size()) + " sequences (run attention on the same file)");
  const int64_t L = atten.dim(1);
  MotifInputs in;
  std::array<double, 4> counts{0, 0, 0, 0};
  for (size_t i = 0; i < data.size(); ++i) {
    std::string bases = bases_of(data.texts[i], data.input);
    for (char c : bases) {
      const int b = c == 'A' ? 0 : c == 'C' ? 1 : c == 'G' ? 2 : c == 'T' ? 3 : -1;
      if (b >= 0) counts[static_cast<size_t>(b)] += 1;
    }
    if (data.labels[i] != positive_label) {
      in.negative.push_back(std::move(bases));
      continue;
    }
    if (static_cast<int64_t>(bases.size()) > L)
      throw Error(atten_path + ": rows hold " + std::to_string(L) + " scores but sequence " + std::to_string(i + 1) +
                  " of " + input_path + " has " + std::to_string(bases.size()) + " bases");
    const float* row = atten.f32() + static_cast<int64_t>(i) * L;
    in.scores.emplace_back(row, row + bases.size());
    in.positive.push_back(std::move(bases));
  }
  const double total = counts[0] + counts[1] + counts[2] + counts[3];
  if (total > 0)
    for (size_t b = 0; b < 4; ++b) in.background[b] = counts[b] / total;
  return in;
}

}  // namespace dnabert::models
