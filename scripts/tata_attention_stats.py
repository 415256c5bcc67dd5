#!/usr/bin/env python3
"""How much of `dnabert attention`'s score falls on a motif (docs/interpretation.md).

Usage: scripts/tata_attention_stats.py atten.npy test.csv [MOTIF=TATAAA]

For the positive sequences (label 1) that contain MOTIF: in how many is the mean score over its
first occurrence above the sequence's mean score, and in how many is the highest-scoring base
within 3 bases of it. Also the median max/min score ratio over all sequences. Standard library
only (reads the float32 .npy header itself).
"""
import ast
import array
import csv
import statistics
import struct
import sys


def read_npy(path):
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            sys.exit(f"{path}: not a .npy file")
        major = f.read(2)[0]
        header_len = struct.unpack("<H" if major == 1 else "<I", f.read(2 if major == 1 else 4))[0]
        header = ast.literal_eval(f.read(header_len).decode("latin1"))
        if header["descr"] != "<f4" or header["fortran_order"]:
            sys.exit(f"{path}: expected little-endian float32 in C order, got {header}")
        n, width = header["shape"]
        data = array.array("f")
        data.frombytes(f.read())
        if len(data) != n * width:
            sys.exit(f"{path}: {len(data)} values, header says {n} x {width}")
        return [data[i * width:(i + 1) * width] for i in range(n)]


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    scores = read_npy(sys.argv[1])
    motif = sys.argv[3] if len(sys.argv) == 4 else "TATAAA"
    with open(sys.argv[2], newline="") as f:
        rows = list(csv.reader(f))[1:]
    if len(rows) != len(scores):
        sys.exit(f"{sys.argv[2]}: {len(rows)} sequences, {sys.argv[1]}: {len(scores)} rows")
    holders = above = near = 0
    for (seq, label), sc in zip(rows, scores):
        i = seq.find(motif)
        if label != "1" or i < 0:
            continue
        holders += 1
        n = len(seq)
        above += sum(sc[i:i + len(motif)]) / len(motif) > sum(sc[:n]) / n
        best = max(range(n), key=lambda j: sc[j])
        near += i - 3 <= best < i + len(motif) + 3
    ratios = [max(sc) / max(min(sc), 1e-9) for sc in scores]
    print(f"positives holding {motif}: {holders}; mean score over it above the sequence mean: {above}; "
          f"highest base within 3 of it: {near}; median max/min ratio: {statistics.median(ratios):.1f}")


if __name__ == "__main__":
    main()
