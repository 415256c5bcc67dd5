// dnabert fasta-stats FILE...: one TSV line of counts per FASTA/FASTQ file.
// GC fraction is over unambiguous bases (A, C, G, T), so N runs do not dilute it.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "io/formats/fasta.h"

namespace dnabert::cli {
namespace {

int run_fasta_stats(const std::vector<std::string>& files) {
  std::printf("file\trecords\tbases\tN\tsoft_masked\tgc_fraction\n");
  flush_stdout();  // keep the header ahead of an error on stderr; stop at once if output is lost
  std::vector<char> bases(size_t{1} << 20);
  for (const auto& path : files) {
    io::FastaReader reader(path);
    io::SequenceRecord record;
    while (reader.next_record(record))
      while (reader.read_bases(bases.data(), bases.size()) > 0) {
      }
    const io::SequenceStats& s = reader.stats();
    const uint64_t acgt = s.bases - s.n_bases - s.other_iupac;
    const double gc = acgt ? static_cast<double>(s.gc) / static_cast<double>(acgt) : 0.0;
    std::printf("%s\t%llu\t%llu\t%llu\t%llu\t%.6f\n", path.c_str(), static_cast<unsigned long long>(s.records),
                static_cast<unsigned long long>(s.bases), static_cast<unsigned long long>(s.n_bases),
                static_cast<unsigned long long>(s.soft_masked), gc);
    flush_stdout();
  }
  return 0;
}

}  // namespace

Runner fasta_stats_command(CLI::App& app) {
  auto* sub = app.add_subcommand("fasta-stats", "Print per-file counts of a FASTA/FASTQ (.gz) file");
  auto files = std::make_shared<std::vector<std::string>>();
  sub->add_option("FILE", *files, "FASTA/FASTQ files, plain or gzip")->required();
  return [files] { return run_fasta_stats(*files); };
}

}  // namespace dnabert::cli
