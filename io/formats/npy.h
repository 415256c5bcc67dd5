// NumPy .npy files (format version 1.0, little-endian, C order): embeddings and
// attention maps go out in the format every Python tool reads. Headers are
// byte-identical to what numpy.save writes.
#pragma once
#include <cstdint>
#include <string>

#include "engine/tensor.h"
#include "io/formats/atomic_file.h"

namespace dnabert::io {

// Writes an f32 ('<f4') or i32 ('<i4') tensor of any rank and strides, atomically.
void write_npy(const std::string& path, const engine::Tensor& tensor);

// Streams an [N, row...] array whose N is not known in advance: rows are
// written as they come and close() patches N into the header. numpy leaves
// room for a 21-digit first extent, so the header length never changes.
// Nothing appears at `path` until close(); an unclosed writer leaves no file.
class NpyWriter {
 public:
  NpyWriter(const std::string& path, const engine::Dims& row_shape, engine::DType dtype = engine::DType::F32);
  // rows: [k, row...] (k >= 0), same dtype as the writer.
  void append(const engine::Tensor& rows);
  int64_t rows() const { return rows_; }
  void close();

 private:
  AtomicFile file_;
  engine::Dims row_shape_;
  engine::DType dtype_;
  int64_t rows_ = 0;
  bool closed_ = false;
};

// The bytes numpy.save puts before the data of an array of `shape` (magic,
// version, header length, the dict, padding to a multiple of 64 bytes).
std::string npy_header(const engine::Dims& shape, engine::DType dtype);

// Reads a '<f4' or '<i4' C-order .npy file (versions 1, 2, 3). Throws
// dnabert::Error naming the file for a bad magic number, an unsupported
// version or dtype, Fortran order, a malformed header or a wrong data size.
engine::Tensor read_npy(const std::string& path);

}  // namespace dnabert::io
