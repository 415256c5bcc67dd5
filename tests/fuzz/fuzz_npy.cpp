// libFuzzer target for the .npy reader (io::read_npy). The input is the file.
// Errors must surface as dnabert::Error; anything else (crash, other
// exception, leak, UB, hang, a huge allocation) is a finding, and so is an
// array that reads but does not come back the same from npy_header() and its
// data, which is what write_npy writes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "base/error.h"
#include "io/formats/npy.h"
#include "tests/fuzz/fuzz_util.h"

using dnabert::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dnabert;
  static fuzz::TempFile file("fuzz_npy");
  engine::Tensor t;
  try {
    t = io::read_npy(file.write(fuzz::as_text(data, size)));
  } catch (const Error&) {
    return 0;
  }
  check(t.dtype() == engine::DType::F32 || t.dtype() == engine::DType::I32);
  const std::string values(static_cast<const char*>(t.raw()), static_cast<size_t>(t.numel()) * 4);
  check(size >= values.size() && std::memcmp(data + size - values.size(), values.data(), values.size()) == 0);
  try {
    const engine::Tensor again = io::read_npy(file.write(io::npy_header(t.shape(), t.dtype()) + values));
    check(again.shape() == t.shape() && again.dtype() == t.dtype());
    check(std::memcmp(again.raw(), values.data(), values.size()) == 0);
  } catch (const Error&) {
    fuzz::violated();
  }
  return 0;
}
