// Reading PyTorch's torch.save() files (the `pytorch_model.bin` of HF
// checkpoints) without Python, in the zip format of torch >= 1.6:
//
//   <name>/data.pkl       a pickle (protocol 2) of the state dict: an OrderedDict
//                         (or dict) name -> torch._utils._rebuild_tensor_v2(
//                         storage, storage_offset, size, stride, requires_grad, hooks)
//                         where each storage is a persistent id
//                         ('storage', torch.FloatStorage, key, location, numel)
//   <name>/data/<key>     the raw little-endian bytes of storage <key>
//   <name>/version, <name>/byteorder (torch >= 2.1), ...
//
// Entries must be stored, not compressed (torch never compresses them); ZIP64
// sizes and offsets are understood. Only the part of the pickle machine that
// state dicts use is implemented: no arbitrary callables are ever run, and an
// unknown opcode or callable is an error, not a crash. CRC-32 of every entry
// read is checked. The legacy format of torch < 1.6 (a bare pickle stream) is
// refused with a message saying how to re-save the file.
#pragma once
#include <string>
#include <vector>

#include "io/formats/safetensors.h"

namespace dnabert::io {

struct TorchCheckpoint {
  // The tensors in the file's order, contiguous: float32/float16/bfloat16/
  // float64 become f32 (float64 rounded to nearest), int64 and int32 become
  // i32. Views are resolved (storage offset, size and stride; tensors sharing
  // a storage, such as tied weights, each get their own copy).
  std::vector<NamedTensor> tensors;
  // Entries that are not converted, each "name: reason": an int64 tensor
  // with a value outside the i32 range, a storage type other than the six
  // above (bool, uint8, ...), or a value that is not a tensor.
  std::vector<std::string> skipped;
};

// Throws dnabert::Error naming `path` and the cause for anything malformed:
// not a zip (or the legacy format), a truncated archive, compressed or
// encrypted entries, a bad CRC, a pickle opcode or callable outside the
// supported subset, a missing storage entry, a storage whose size disagrees
// with its element count, or a view (offset, size, stride) reaching outside
// its storage.
TorchCheckpoint read_torch_checkpoint(const std::string& path);

}  // namespace dnabert::io
