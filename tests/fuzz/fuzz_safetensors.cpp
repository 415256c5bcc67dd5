// libFuzzer target for the safetensors reader (io/formats/safetensors.h). Byte 0
// bit 0 picks how the rest becomes the file: 0 = as it is; 1 = the header
// JSON up to the first NUL byte and the data after it, with the 8-byte header
// length written by the target, so that mutations of the JSON keep a
// consistent length. Errors must surface as dnabert::Error; anything else
// (crash, other exception, leak, UB, hang, a huge allocation) is a finding,
// and so is a file that reads but breaks the checks below.
#include <cstddef>
#include <cstdint>

#include "base/error.h"
#include "io/formats/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

using dnabert::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using namespace dnabert::io;
  static dnabert::fuzz::TempFile file("fuzz_safetensors");
  std::string bytes(dnabert::fuzz::as_text(data + 1, size - 1));
  if (data[0] & 1) {
    const size_t header = std::min(bytes.find('\0'), bytes.size());
    std::string length(8, '\0');
    for (int i = 0; i < 8; ++i) length[static_cast<size_t>(i)] = static_cast<char>((uint64_t{header} >> (8 * i)) & 0xff);
    bytes = length + bytes.substr(0, header) + bytes.substr(std::min(header + 1, bytes.size()));
  }
  const std::string& path = file.write(bytes);
  SafetensorsHeader header;
  try {
    header = read_safetensors_header(path);
  } catch (const dnabert::Error&) {
    return 0;
  }
  // The header's promise: tensors in data order tile the data section exactly.
  uint64_t end = 0;
  for (const auto& e : header.tensors) {
    check(e.begin == end && e.end >= e.begin);
    end = e.end;
  }
  check(header.data_start + end == bytes.size());
  try {
    const SafetensorsFile contents = read_safetensors(path);
    check(contents.tensors.size() == header.tensors.size() && contents.metadata == header.metadata);
    for (const auto& e : header.tensors) {
      const auto& t = contents.tensors.at(e.name);
      check(t.shape() == e.shape);
      const bool integer = e.dtype == "I32" || e.dtype == "I64";
      check(t.dtype() == (integer ? dnabert::engine::DType::I32 : dnabert::engine::DType::F32));
    }
  } catch (const dnabert::Error&) {
  }
  return 0;
}
