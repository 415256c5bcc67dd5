#!/usr/bin/env python3
"""Fixtures for tests/test_safetensors.cpp and tests/test_npy.cpp, written
independently of the C++ code: the safetensors file by hand from the format
description (no safetensors or torch package needed), the .npy files by
numpy.save itself.

Regenerate (from the repository root):
    /usr/bin/python3 tests/oracle/make_safetensors_fixture.py tests/fixtures
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np


def bf16_bits(values):
    """bfloat16 by truncating float32 (values are chosen to be exact)."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32)
    assert np.all(bits & 0xFFFF == 0), "pick values exactly representable in bf16"
    return (bits >> 16).astype("<u2")


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, dtype string, shape, raw little-endian bytes)."""
    header = {"__metadata__": metadata}
    offset = 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    # Spaces after the JSON (and a space-separated dump) as other writers do.
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8 + 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, raw in tensors:
            f.write(raw)


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tensors = [
        # Deliberately not in name order: readers must go by data_offsets.
        ("bert.embeddings.word_embeddings.weight", "F32", (3, 4),
         (np.arange(12, dtype="<f4") * 0.5 - 1.0).tobytes()),
        ("half", "F16", (2, 3),
         np.array([1.0, -2.5, 65504.0, 2.0**-14, 2.0**-24, -0.0], dtype="<f2").tobytes()),
        ("bf", "BF16", (4,), bf16_bits([1.0, -3.140625, 2.0**100, 0.0]).tobytes()),
        ("dbl", "F64", (2, 2), np.array([0.1, -1e-3, 1e10, 3.5], dtype="<f8").tobytes()),
        ("ids", "I64", (5,), np.array([0, 1, -7, 2**31 - 1, -2**31], dtype="<i8").tobytes()),
        ("i32", "I32", (2,), np.array([-5, 100000], dtype="<i4").tobytes()),
        ("scalar", "F32", (), np.array(42.0, dtype="<f4").tobytes()),
        ("empty", "F32", (0, 3), b""),
    ]
    write_safetensors(out / "safetensors_python.safetensors", tensors, {"format": "pt", "source": "numpy"})

    np.save(out / "npy_f32_2x3.npy", (np.arange(6, dtype=np.float32) - 2.5).reshape(2, 3))
    np.save(out / "npy_i32_4.npy", np.array([3, -1, 0, 2147483647], dtype=np.int32))
    np.save(out / "npy_f32_scalar.npy", np.float32(-0.75))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
