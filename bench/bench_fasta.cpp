// How fast does genome text reach the tokenizer? Times, on one .fa.gz file:
//   inflate       zlib streaming inflate alone (1 MiB buffers, as the reader does)
//   parse .gz     FastaReader: inflate + parse + stats
//   parse + 6mer  the same plus a 2-bit rolling 6-mer count (what tokenizing costs
//                 at least; reset at N), standing in for the tokenizer
//   parse plain   FastaReader on an uncompressed copy (parser cost alone)
//   sampler       io::Sampler, 150,000 consecutive pieces with a 4096-piece
//                 shuffle (MB/s of bases handed out; N runs are not in pieces)
//   zcat          `zcat FILE > /dev/null`, the reference, in the same run
// Throughput is MB/s of sequence (bases / seconds / 1e6), medians of 3 runs.
// Usage: bench_fasta FILE.fa.gz [repeats]
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "io/formats/fasta.h"
#include "io/data/sampler.h"

namespace {

double seconds_of(const std::function<void()>& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median_of(int repeats, const std::function<void()>& f) {
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) t.push_back(seconds_of(f));
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Decompresses `path` to `out` (nullptr: discard); returns the decoded size.
size_t inflate_file(const std::string& path, std::FILE* out) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<unsigned char> in(1 << 20), buf(1 << 20);
  z_stream z{};
  inflateInit2(&z, 15 + 32);
  size_t total = 0;
  while (size_t n = std::fread(in.data(), 1, in.size(), f)) {
    z.next_in = in.data();
    z.avail_in = static_cast<uInt>(n);
    while (z.avail_in > 0) {
      z.next_out = buf.data();
      z.avail_out = static_cast<uInt>(buf.size());
      int rc = inflate(&z, Z_NO_FLUSH);
      size_t got = buf.size() - z.avail_out;
      total += got;
      if (out) std::fwrite(buf.data(), 1, got, out);
      if (rc == Z_STREAM_END)
        inflateReset(&z);
      else if (rc != Z_OK)
        throw std::runtime_error("zlib error");
    }
  }
  inflateEnd(&z);
  std::fclose(f);
  return total;
}

struct ParseResult {
  uint64_t bases = 0, kmers = 0, checksum = 0;
};

ParseResult parse(const std::string& path, bool count_kmers) {
  constexpr int k = 6;
  static int8_t code[256];
  std::fill(std::begin(code), std::end(code), int8_t{-1});
  code['A'] = 0, code['C'] = 1, code['G'] = 2, code['T'] = 3;
  std::vector<uint32_t> counts(1 << (2 * k));
  dnabert::io::FastaReader reader(path);
  dnabert::io::SequenceRecord rec;
  std::vector<char> buf(1 << 16);
  ParseResult r;
  while (reader.next_record(rec)) {
    uint32_t kmer = 0, valid = 0;  // valid: bases since the last N
    while (size_t n = reader.read_bases(buf.data(), buf.size())) {
      r.bases += n;
      if (!count_kmers) continue;
      for (size_t i = 0; i < n; ++i) {
        int8_t c = code[static_cast<unsigned char>(buf[i])];
        kmer = ((kmer << 2) | static_cast<uint32_t>(c & 3)) & ((1u << (2 * k)) - 1);
        valid = c < 0 ? 0 : valid + 1;
        counts[kmer] += valid >= static_cast<uint32_t>(k);
      }
    }
  }
  for (size_t i = 0; i < counts.size(); ++i) {
    r.kmers += counts[i];
    r.checksum = r.checksum * 1000003u + counts[i];
  }
  return r;
}

// The first `pieces` shuffled consecutive pieces; returns the bases handed out.
uint64_t sample_pieces(const std::string& path, size_t pieces) {
  dnabert::io::SamplerOptions o;
  o.files = {path};
  o.shuffle_buffer = 4096;
  dnabert::io::Sampler sampler(o);
  uint64_t bases = 0;
  for (size_t i = 0; i < pieces; ++i) bases += sampler.next().sequence.size();
  return bases;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_fasta FILE.fa.gz [repeats]\n");
    return 2;
  }
  const std::string path = argv[1];
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 3;
  const char* tmp = std::getenv("TMPDIR");
  const std::string plain =
      std::string(tmp && *tmp ? tmp : "/tmp") + "/bench_fasta_" + std::to_string(::getpid()) + ".fa";
  try {
    ParseResult check = parse(path, true);
    const double mb = static_cast<double>(check.bases) / 1e6;

    double t_zcat = median_of(repeats, [&] {
      if (std::system(("zcat '" + path + "' > /dev/null").c_str()) != 0) throw std::runtime_error("zcat failed");
    });
    double t_inflate = median_of(repeats, [&] { inflate_file(path, nullptr); });
    double t_parse = median_of(repeats, [&] { parse(path, false); });
    double t_kmer = median_of(repeats, [&] { parse(path, true); });
    std::FILE* out = std::fopen(plain.c_str(), "wb");
    if (!out) throw std::runtime_error("cannot write " + plain);
    inflate_file(path, out);
    std::fclose(out);
    double t_plain = median_of(repeats, [&] { parse(plain, false); });
    uint64_t sampled = 0;
    double t_sampler = median_of(repeats, [&] { sampled = sample_pieces(path, 150000); });
    std::remove(plain.c_str());

    std::printf("machine: %s, %ld online cores\n", cpu_model().c_str(), sysconf(_SC_NPROCESSORS_ONLN));
    std::printf("command: bench_fasta %s %d\n", path.c_str(), repeats);
    std::printf("input: %.2f Mb of sequence, %llu 6-mers counted (checksum %016llx)\n", mb,
                static_cast<unsigned long long>(check.kmers), static_cast<unsigned long long>(check.checksum));
    std::printf("%-34s %10s %12s %10s\n", "stage (median of runs)", "seconds", "MB/s seq", "vs zcat");
    auto row = [&](const char* name, double t) {
      std::printf("%-34s %10.3f %12.1f %9.2fx\n", name, t, mb / t, t_zcat / t);
    };
    row("zcat FILE > /dev/null (reference)", t_zcat);
    row("zlib inflate only", t_inflate);
    row("FastaReader .gz (inflate+parse)", t_parse);
    row("FastaReader .gz + 6-mer scan", t_kmer);
    row("FastaReader plain (parse only)", t_plain);
    std::printf("%-34s %10.3f %12.1f %10s  (%.2f Mb in 150k pieces, part of the file)\n", "Sampler, shuffle 4096",
                t_sampler, static_cast<double>(sampled) / 1e6 / t_sampler, "-", static_cast<double>(sampled) / 1e6);
  } catch (const std::exception& e) {
    std::remove(plain.c_str());
    std::fprintf(stderr, "bench_fasta: %s\n", e.what());
    return 1;
  }
  return 0;
}
