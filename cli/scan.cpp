// dnabert scan: a fine-tuned classifier slid along whole chromosomes, written
// as a bedGraph track. Memory is bounded by the window and the batch, whatever
// the genome size.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/progress.h"
#include "base/error.h"
#include "io/formats/atomic_file.h"
#include "io/data/dataset.h"
#include "io/formats/fasta.h"
#include "models/analysis/inference.h"
#include "models/network/loading.h"
#include "models/analysis/variants.h"

namespace dnabert::cli {
namespace {

struct ScanArgs {
  std::string model, fasta, out, positive;
  int64_t window = 0, stride = 0;
  bool both_strands = false;
  int batch = 32;
};

std::string reverse_complement(const std::string& s) {
  std::string r(s.rbegin(), s.rend());
  for (char& c : r) c = c == 'A' ? 'T' : c == 'T' ? 'A' : c == 'C' ? 'G' : c == 'G' ? 'C' : 'N';
  return r;
}

int run(const ScanArgs& a) {
  require_regular_file("--fasta", a.fasta, "scan reads it twice (lengths first, then windows)");
  models::LoadedModel lm = models::load_model(a.model, models::Heads::Classification);
  const int C = lm.model->config().num_labels;
  // The scored class: --positive, else the label "1", else the last class.
  const int positive = models::positive_class(a.model, C, a.positive);
  const int k = lm.vocab.k();
  if (a.window < k || a.stride < 1) throw UsageError("--window must be at least k and --stride at least 1");
  models::WindowOptions wo;
  wo.max_len = lm.model->config().max_position_embeddings;
  wo.batch = a.batch;
  tokenizer::KmerTokenizer tok(lm.vocab);

  // A first pass for the total, so the progress bar can give an ETA.
  uint64_t total = 0;
  {
    io::FastaReader counter(a.fasta);
    io::SequenceRecord rec;
    std::vector<char> chunk(1 << 20);
    while (counter.next_record(rec))
      while (size_t n = counter.read_bases(chunk.data(), chunk.size())) total += n;
  }
  ProgressBar bar("scan", static_cast<int64_t>(total), "bp");
  io::AtomicFile out(a.out);
  out.write("track type=bedGraph name=\"dnabert scan\" description=\"P(class " + std::to_string(positive) +
            ") in " + std::to_string(a.window) + " bp windows, step " + std::to_string(a.stride) + "\"\n");
  engine::Arena arena;
  io::FastaReader reader(a.fasta);
  io::SequenceRecord rec;
  std::vector<char> chunk(1 << 16);
  uint64_t done_bases = 0, windows = 0, short_records = 0;
  struct Pending {
    std::string chrom;
    int64_t start, end;
  };
  std::vector<Pending> pending;
  std::vector<std::vector<int32_t>> kmers;
  auto flush = [&] {
    if (pending.empty()) return;
    std::vector<float> p = models::classify_sequences(*lm.model, kmers, wo, arena);
    const size_t per = a.both_strands ? 2 : 1;
    for (size_t i = 0; i < pending.size(); ++i) {
      double score = 0;
      for (size_t s = 0; s < per; ++s) score += p[(i * per + s) * C + static_cast<size_t>(positive)];
      char line[256];
      std::snprintf(line, sizeof line, "%s\t%lld\t%lld\t%.5f\n", pending[i].chrom.c_str(),
                    static_cast<long long>(pending[i].start), static_cast<long long>(pending[i].end),
                    score / static_cast<double>(per));
      out.write(line);
    }
    windows += pending.size();
    pending.clear();
    kmers.clear();
  };
  // Each window [p, p + W) reports its score on the step [c - S/2, c + S/2) around its centre c, so
  // the track's intervals do not overlap.
  auto add_window = [&](const std::string& chrom, const std::string& seq, int64_t p, int64_t w) {
    const int64_t c = p + w / 2;
    pending.push_back({chrom, std::max<int64_t>(p, c - a.stride / 2), std::min<int64_t>(p + w, c - a.stride / 2 + a.stride)});
    kmers.emplace_back();
    tok.append_ids(seq, tokenizer::Input::Sequence, kmers.back());
    if (a.both_strands) {
      kmers.emplace_back();
      tok.append_ids(reverse_complement(seq), tokenizer::Input::Sequence, kmers.back());
    }
    if (static_cast<int>(pending.size()) >= a.batch) flush();
  };
  while (reader.next_record(rec)) {
    std::string buf;      // bases [buf_start, buf_start + buf.size()) of the record
    int64_t buf_start = 0, next = 0, length = 0;
    bool any = false;
    for (;;) {
      size_t n = reader.read_bases(chunk.data(), chunk.size());
      buf.append(chunk.data(), n);
      length += static_cast<int64_t>(n);
      done_bases += n;
      while (next + a.window <= length) {
        add_window(rec.name, buf.substr(static_cast<size_t>(next - buf_start), static_cast<size_t>(a.window)), next,
                   a.window);
        any = true;
        next += a.stride;
      }
      if (next - buf_start > (1 << 20)) {  // drop bases no window needs any more
        buf.erase(0, static_cast<size_t>(next - buf_start));
        buf_start = next;
      }
      bar.update(static_cast<int64_t>(done_bases), std::to_string(windows + pending.size()) + " windows");
      if (n == 0) break;
    }
    // A record shorter than one window has no score at this window length: counted, not scored.
    if (!any) ++short_records;
  }
  flush();
  if (short_records > 0)
    std::fprintf(stderr, "scan: warning: %llu record%s shorter than --window %lld bp skipped (no window fits)\n",
                 static_cast<unsigned long long>(short_records), short_records == 1 ? "" : "s",
                 static_cast<long long>(a.window));
  if (windows == 0)
    throw Error(a.fasta + ": no record is at least --window " + std::to_string(a.window) + " bp long; nothing to score");
  out.commit();
  bar.finish(std::to_string(windows) + " windows");
  std::printf("wrote %s: %llu windows over %llu bp\n", a.out.c_str(), static_cast<unsigned long long>(windows),
              static_cast<unsigned long long>(total));
  return 0;
}

Registration reg([](CLI::App& app) {
  auto a = std::make_shared<ScanArgs>();
  auto* s = app.add_subcommand("scan", "Slide a fine-tuned classifier along genomes; write a bedGraph track");
  s->add_option("--model", a->model, "Fine-tuned model directory")->required()->check(CLI::ExistingDirectory);
  s->add_option("--fasta", a->fasta, "Genome FASTA (.gz)")->required()->check(CLI::ExistingFile);
  s->add_option("--window", a->window, "Window length in bp")->required()->check(integer_in<int64_t>(1));
  s->add_option("--stride", a->stride, "Step between windows in bp")->required()->check(integer_in<int64_t>(1));
  s->add_flag("--both-strands", a->both_strands, "Average the score of each window and its reverse complement");
  s->add_option("--positive", a->positive, "Label whose probability is written (default: \"1\", else the last class)");
  s->add_option("--batch", a->batch, "Windows per forward pass")->check(integer_in<int>(1))->capture_default_str();
  s->add_option("--out", a->out, "Output bedGraph")->required();
  return std::function<int()>([a] { return run(*a); });
});

}  // namespace
}  // namespace dnabert::cli
