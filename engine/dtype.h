// Element types. f32 is computed today; bf16 is a storage type the kernels will
// read (issue: fast kernels), so tensors already carry their dtype.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace dnabert::engine {

enum class DType : uint8_t { F32, BF16, I32 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::BF16: return 2;
    case DType::I32: return 4;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::BF16: return "bf16";
    case DType::I32: return "i32";
  }
  return "?";
}

}  // namespace dnabert::engine
