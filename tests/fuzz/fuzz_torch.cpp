// libFuzzer target for the torch.save zip-pickle reader (io/formats/torch_checkpoint.h).
// Byte 0 picks how the rest becomes the file:
//   bit 0 = 0  the file as it is (the ZIP layer: directory, ZIP64, headers);
//   bit 0 = 1  parts separated by kSeparator: archive/data.pkl, then the
//              storages archive/data/0, archive/data/1, ..., which the target
//              packs into a stored zip with correct CRCs, so that mutations of
//              the pickle are not all refused by the CRC check;
//   bit 1      (with bit 0) also an entry archive/byteorder = "little";
//   bit 2      (with bit 0) every size and offset in ZIP64 records.
// Errors must surface as dnabert::Error; anything else (crash, other
// exception, leak, UB, hang, a huge allocation) is a finding, and so is a
// checkpoint that reads but breaks the checks below.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "io/formats/torch_checkpoint.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/stored_zip.h"

using dnabert::fuzz::check;

namespace {

constexpr std::string_view kSeparator = "\n#entry#\n";

std::string archive_of(std::string_view parts, bool byteorder, bool zip64) {
  std::vector<std::pair<std::string, std::string>> entries;
  for (size_t start = 0;;) {
    const size_t end = parts.find(kSeparator, start);
    const std::string name =
        entries.empty() ? "archive/data.pkl" : "archive/data/" + std::to_string(entries.size() - 1);
    entries.emplace_back(name, std::string(parts.substr(start, end == std::string_view::npos ? end : end - start)));
    if (end == std::string_view::npos) break;
    start = end + kSeparator.size();
  }
  if (byteorder) entries.emplace_back("archive/byteorder", "little");
  return dnabert::testing::make_zip(entries, zip64);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static dnabert::fuzz::TempFile file("fuzz_torch");
  const std::string_view rest = dnabert::fuzz::as_text(data + 1, size - 1);
  const std::string& path = file.write((data[0] & 1) ? archive_of(rest, data[0] & 2, data[0] & 4) : std::string(rest));
  try {
    const dnabert::io::TorchCheckpoint ckpt = dnabert::io::read_torch_checkpoint(path);
    // Every tensor read is contiguous f32 or i32 and named once.
    std::set<std::string> names;
    for (const auto& [name, t] : ckpt.tensors) {
      check(names.insert(name).second && t.defined() && t.is_contiguous());
      check(t.dtype() == dnabert::engine::DType::F32 || t.dtype() == dnabert::engine::DType::I32);
    }
  } catch (const dnabert::Error&) {
  }
  return 0;
}
