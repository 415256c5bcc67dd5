#include "models/analysis/scan.h"

#include <algorithm>
#include <vector>

#include "base/error.h"
#include "io/formats/fasta.h"
#include "tokenizer/kmer.h"

namespace dnabert::models {

std::string reverse_complement(const std::string& s) {
  std::string r(s.rbegin(), s.rend());
  for (char& c : r) c = c == 'A' ? 'T' : c == 'T' ? 'A' : c == 'C' ? 'G' : c == 'G' ? 'C' : 'N';
  return r;
}

void check_scan_options(const LoadedModel& lm, const ScanOptions& o) {
  const int C = lm.model->config().num_labels;
  if (o.window < lm.vocab.k() || o.stride < 1) throw UsageError("--window must be at least k and --stride at least 1");
  if (o.positive < 0 || o.positive >= C)
    throw UsageError("class " + std::to_string(o.positive) + " is outside the model's " + std::to_string(C));
}

ScanSummary scan_genome(const LoadedModel& lm, const std::string& fasta, const ScanOptions& o,
                        const std::function<void(const ScanInterval&)>& emit,
                        const std::function<void(uint64_t, uint64_t)>& progress) {
  check_scan_options(lm, o);
  const int C = lm.model->config().num_labels;
  WindowOptions wo;
  wo.max_len = lm.model->config().max_position_embeddings;
  wo.batch = o.batch;
  tokenizer::KmerTokenizer tok(lm.vocab);
  engine::Arena arena;
  ScanSummary sum;
  struct Pending {
    std::string chrom;
    int64_t start, end;
  };
  std::vector<Pending> pending;
  std::vector<std::vector<int32_t>> kmers;
  const size_t per = o.both_strands ? 2 : 1;
  auto flush = [&] {
    if (pending.empty()) return;
    std::vector<float> p = classify_sequences(*lm.model, kmers, wo, arena);
    for (size_t i = 0; i < pending.size(); ++i) {
      double score = 0;
      for (size_t s = 0; s < per; ++s) score += p[(i * per + s) * C + static_cast<size_t>(o.positive)];
      emit({&pending[i].chrom, pending[i].start, pending[i].end, score / static_cast<double>(per)});
    }
    sum.windows += pending.size();
    pending.clear();
    kmers.clear();
  };
  auto add_window = [&](const std::string& chrom, const std::string& seq, int64_t p) {
    const int64_t c = p + o.window / 2;
    pending.push_back({chrom, std::max<int64_t>(p, c - o.stride / 2), std::min<int64_t>(p + o.window, c - o.stride / 2 + o.stride)});
    kmers.emplace_back();
    tok.append_ids(seq, tokenizer::Input::Sequence, kmers.back());
    if (o.both_strands) {
      kmers.emplace_back();
      tok.append_ids(reverse_complement(seq), tokenizer::Input::Sequence, kmers.back());
    }
    if (static_cast<int>(pending.size()) >= o.batch) flush();
  };

  io::FastaReader reader(fasta);
  io::SequenceRecord rec;
  std::vector<char> chunk(1 << 16);
  while (reader.next_record(rec)) {
    std::string buf;  // bases [buf_start, buf_start + buf.size()) of the record
    int64_t buf_start = 0, next = 0, length = 0;
    bool any = false;
    for (;;) {
      const size_t n = reader.read_bases(chunk.data(), chunk.size());
      buf.append(chunk.data(), n);
      length += static_cast<int64_t>(n);
      sum.bases += n;
      for (; next + o.window <= length; next += o.stride, any = true)
        add_window(rec.name, buf.substr(static_cast<size_t>(next - buf_start), static_cast<size_t>(o.window)), next);
      if (next - buf_start > (1 << 20)) {  // drop bases no window needs any more
        buf.erase(0, static_cast<size_t>(next - buf_start));
        buf_start = next;
      }
      if (progress) progress(sum.bases, sum.windows + pending.size());
      if (n == 0) break;
    }
    if (!any) ++sum.short_records;
  }
  flush();
  return sum;
}

}  // namespace dnabert::models
