// libFuzzer target for the variant readers (io/data/vcf.h). Byte 0 bit 0 picks
// the reader: 0 = read_vcf (VCF), 1 = read_mutations (DNABERT's mutation
// file); the rest is the file, plain or gzip. Errors must surface as
// dnabert::Error; anything else (crash, other exception, leak, UB, hang) is
// a finding, and so is a record that breaks what the header promises.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "io/data/vcf.h"
#include "tests/fuzz/fuzz_util.h"

using dnabert::fuzz::check;

namespace {

bool acgtn(const std::string& allele) { return allele.find_first_not_of("ACGTN") == std::string::npos; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using namespace dnabert::io;
  static dnabert::fuzz::TempFile file("fuzz_vcf");
  const std::string& path = file.write(dnabert::fuzz::as_text(data + 1, size - 1));
  try {
    if (data[0] & 1) {
      for (const Mutation& m : read_mutations(path))
        check(m.start >= 0 && m.end >= m.start && m.line > 0 && acgtn(m.allele));
    } else {
      for (const VcfRecord& r : read_vcf(path).records)
        check(r.pos >= 1 && r.line > 0 && !r.ref.empty() && !r.alt.empty() && acgtn(r.ref) && acgtn(r.alt));
    }
  } catch (const dnabert::Error&) {
  }
  return 0;
}
