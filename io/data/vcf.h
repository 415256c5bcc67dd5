// Variant input files, for scoring mutations with a model:
//
// - VCF (plain or gzip). Only the first five columns are read (CHROM POS ID
//   REF ALT); a record with several ALT alleles becomes one record per allele.
//   Symbolic alleles (<DEL>, '*', breakends) cannot be spelled out in bases
//   and are counted, not returned.
// - DNABERT's mutation file (SNP/example_mut_file.txt): `index<TAB>start<TAB>
//   end<TAB>allele` per line, no header, 0-based, end exclusive; start == end
//   inserts, an empty allele deletes.
//
// In both, '#' lines and blank lines are skipped, alleles are upper-cased and
// may hold only A, C, G, T, N, and errors read "<file>: line N: <cause>".
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dnabert::io {

struct VcfRecord {
  std::string chrom;
  int64_t pos = 0;  // 1-based, as in the file
  std::string id, ref, alt;
  uint64_t line = 0;
};

struct VcfContents {
  std::vector<VcfRecord> records;
  size_t symbolic_skipped = 0;
};

// Errors: fewer than five columns, a POS that is not a positive integer, a
// REF/ALT with another letter.
VcfContents read_vcf(const std::string& path);

struct Mutation {
  size_t index = 0;  // 0-based row of the sequence file
  int64_t start = 0, end = 0;
  std::string allele;
  uint64_t line = 0;  // where it was read (0 if made in code)
};

// Errors: not 4 columns (a deletion is written with its tab before the empty
// allele), a negative or non-integer field, end before start, a bad allele.
std::vector<Mutation> read_mutations(const std::string& path);

}  // namespace dnabert::io
