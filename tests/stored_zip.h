// A hand-made zip archive of stored (uncompressed) entries, as torch.save
// writes them, optionally with every size and offset in ZIP64 records: for
// tests of io::read_torch_checkpoint (tests/test_convert.cpp) and its fuzz
// target (tests/fuzz/fuzz_torch.cpp).
#pragma once
#include <zlib.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dnabert::testing {

// Appends `v` as `n` little-endian bytes.
inline void put(std::string& s, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
}

inline std::string make_zip(const std::vector<std::pair<std::string, std::string>>& entries, bool zip64) {
  std::string out, cd;
  const uint64_t kFF = 0xFFFFFFFFu;
  for (const auto& [name, data] : entries) {
    const uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(data.data()), data.size()));
    const uint64_t local = out.size();
    std::string local_extra, cd_extra;
    if (zip64) {
      put(local_extra, 1, 2), put(local_extra, 16, 2), put(local_extra, data.size(), 8), put(local_extra, data.size(), 8);
      put(cd_extra, 1, 2), put(cd_extra, 24, 2), put(cd_extra, data.size(), 8), put(cd_extra, data.size(), 8);
      put(cd_extra, local, 8);
    }
    put(out, 0x04034b50, 4), put(out, 45, 2), put(out, 0, 2), put(out, 0, 2), put(out, 0, 4), put(out, crc, 4);
    put(out, zip64 ? kFF : data.size(), 4), put(out, zip64 ? kFF : data.size(), 4);
    put(out, name.size(), 2), put(out, local_extra.size(), 2);
    out += name + local_extra + data;
    put(cd, 0x02014b50, 4), put(cd, 45, 2), put(cd, 45, 2), put(cd, 0, 2), put(cd, 0, 2), put(cd, 0, 4), put(cd, crc, 4);
    put(cd, zip64 ? kFF : data.size(), 4), put(cd, zip64 ? kFF : data.size(), 4);
    put(cd, name.size(), 2), put(cd, cd_extra.size(), 2), put(cd, 0, 2), put(cd, 0, 2), put(cd, 0, 2), put(cd, 0, 4);
    put(cd, zip64 ? kFF : local, 4);
    cd += name + cd_extra;
  }
  const uint64_t cd_at = out.size(), n = entries.size();
  out += cd;
  if (zip64) {
    const uint64_t z = out.size();
    put(out, 0x06064b50, 4), put(out, 44, 8), put(out, 45, 2), put(out, 45, 2), put(out, 0, 4), put(out, 0, 4);
    put(out, n, 8), put(out, n, 8), put(out, cd.size(), 8), put(out, cd_at, 8);
    put(out, 0x07064b50, 4), put(out, 0, 4), put(out, z, 8), put(out, 1, 4);
  }
  put(out, 0x06054b50, 4), put(out, 0, 2), put(out, 0, 2);
  put(out, zip64 ? 0xFFFF : n, 2), put(out, zip64 ? 0xFFFF : n, 2);
  put(out, zip64 ? kFF : cd.size(), 4), put(out, zip64 ? kFF : cd_at, 4), put(out, 0, 2);
  return out;
}

}  // namespace dnabert::testing
