// The safetensors format (github.com/huggingface/safetensors), the format HF
// checkpoints use: an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {"k": "v"}, "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
// (padded with spaces), then the raw little-endian tensor data, row-major;
// offsets are relative to the start of the data. Files we write are
// byte-identical to what the safetensors library writes for the same tensors.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace dnabert::io {

struct NamedTensor {
  std::string name;
  engine::Tensor tensor;
};

using StringMap = std::map<std::string, std::string>;

// Writes `tensors` (f32, bf16 or i32; any strides) and `metadata` atomically.
// Data are laid out as HF does: by dtype alignment, then by name; the header
// is padded with spaces to a multiple of 8 bytes so every tensor is aligned.
void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const StringMap& metadata = {});

// One header entry, as the file states it.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // "F32", "BF16", "I64", ...
  engine::Dims shape;
  uint64_t begin = 0, end = 0;  // byte range within the data section
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;  // in data order
  StringMap metadata;
  uint64_t data_start = 0;  // file offset of the data section: 8 + N
};

// Reads and validates only the header (cheap even for a 400 MB file). Throws
// dnabert::Error naming the file (and the tensor) for anything malformed:
// short file, header length beyond the file, bad JSON, missing or bad fields,
// unknown dtype, offsets that overlap, leave gaps, disagree with shape × dtype,
// or do not end exactly at the end of the file.
SafetensorsHeader read_safetensors_header(const std::string& path);

struct SafetensorsFile {
  std::map<std::string, engine::Tensor> tensors;
  StringMap metadata;
};

// Reads every tensor into memory of its own. F32, F16, BF16 and F64 become
// f32 tensors; I32 and I64 become i32 tensors (an I64 value outside the i32
// range is an error). Other dtypes are an error naming the tensor.
SafetensorsFile read_safetensors(const std::string& path);

// IEEE half and bfloat16 to float (exact: every value is representable).
float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t b);

}  // namespace dnabert::io
