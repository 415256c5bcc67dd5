// libFuzzer target for io::FastaReader. Byte 0 picks the options (soft-mask
// mode, buffer size from 16 bytes up, so records straddle refills) and how the
// sequence is pulled (chunk size); the rest is the file. Errors must surface
// as dnabert::Error; anything else (crash, leak, hang, UB) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "base/error.h"
#include "io/formats/fasta.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using namespace dnabert::io;
  const uint8_t control = data[0];
  FastaOptions options;
  options.soft_mask = (control & 1) ? SoftMask::Unknown : SoftMask::Upper;
  options.buffer_bytes = size_t{16} << ((control >> 1) & 7);  // 16 B .. 2 KiB
  const size_t chunk = size_t{1} + ((control >> 4) & 15) * 7;
  std::unique_ptr<FastaReader> reader;
  try {
    reader = std::make_unique<FastaReader>(
        MemoryInput{"fuzz.fa", std::string(reinterpret_cast<const char*>(data) + 1, size - 1)}, options);
    SequenceRecord record;
    char bases[128];
    uint64_t total = 0;
    while (reader->next_record(record)) {
      // Leave every other record partly read, so skipping is exercised too.
      size_t got;
      while ((got = reader->read_bases(bases, chunk)) > 0) {
        for (size_t i = 0; i < got; ++i)
          if (bases[i] == 0 || std::strchr("ACGTN", bases[i]) == nullptr) __builtin_trap();
        total += got;
        if (record.index % 2 == 1) break;
      }
    }
    if (reader->stats().bases < total) __builtin_trap();
  } catch (const dnabert::Error& first) {
    if (reader) {  // a failed reader keeps failing the same way
      try {
        SequenceRecord record;
        reader->next_record(record);
        __builtin_trap();
      } catch (const dnabert::Error& again) {
        if (std::string(again.what()) != first.what()) __builtin_trap();
      }
    }
  }
  return 0;
}
