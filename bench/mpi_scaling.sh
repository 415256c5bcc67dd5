#!/usr/bin/env bash
# Data-parallel scaling on one machine: the same short pretraining
# (tiny preset, E. coli, global batch 2 x 16 sequences of up to 128 tokens)
# as 1 rank x 1 thread, 1 rank x 2 threads and 2 ranks x 1 thread (mpirun on
# loopback). Prints training tokens/s over the steps after the first two
# (warm-up), and checks that all three wrote the same weights.
# Usage: bash bench/mpi_scaling.sh BUILD_DIR [STEPS]
set -euo pipefail
BUILD_DIR=${1:-build}
STEPS=${2:-12}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DNABERT="$BUILD_DIR/dnabert"
command -v mpirun > /dev/null || { echo "skipped: mpirun not found (Debian package openmpi-bin)"; exit 0; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun --oversubscribe --mca btl self,tcp --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo)
ARGS=(pretrain --fasta "$ROOT/tests/data/genomes/ecoli_K12_MG1655.fa.gz" --k 6 --config tiny --max-len 128
      --batch 16 --grad-accum 2 --steps "$STEPS" --warmup 2 --lr 4e-4 --mask-rate 0.15 --eval-batches 0 --seed 1)

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "uptime: $(uptime)"
echo "command: ${ARGS[*]} (tokens/s over steps 3..$STEPS)"
echo
rate() {  # tokens per second of the steps after the first two, from log.jsonl
  python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if "\"loss\"" in l][2:]
print("%.0f" % (sum(r["tokens"] for r in rows) / sum(r["seconds"] for r in rows)))' "$1/log.jsonl"
}
"$DNABERT" --threads 1 "${ARGS[@]}" --out "$OUT/r1t1" > "$OUT/r1t1.log" 2>&1
"$DNABERT" --threads 2 "${ARGS[@]}" --out "$OUT/r1t2" > "$OUT/r1t2.log" 2>&1
# One rank per core: mpirun binds each rank to a core by default for -np 2.
"${MPIRUN[@]}" -np 2 "$DNABERT" --threads 1 "${ARGS[@]}" --out "$OUT/r2t1" > "$OUT/r2t1.log" 2>&1
grep -q ", 2 ranks" "$OUT/r2t1.log" || { echo "ERROR: the mpirun run did not run as 2 ranks:"; cat "$OUT/r2t1.log"; exit 1; }
grep -h "gradient exchange" "$OUT/r2t1.log" | head -1
# The same with the exchange after the backward pass (no overlap), for comparison.
DNABERT_OVERLAP=0 "${MPIRUN[@]}" -np 2 "$DNABERT" --threads 1 "${ARGS[@]}" --out "$OUT/r2t1s" > "$OUT/r2t1s.log" 2>&1
base=$(rate "$OUT/r1t1")
echo "| ranks x threads | tokens/s | vs 1 x 1 |"
echo "|---|---:|---:|"
for run in r1t1 r1t2 r2t1 r2t1s; do
  r=$(rate "$OUT/$run")
  label="${run:1:1} x ${run:3:1}"
  [[ $run == r2t1 ]] && label="$label, exchange overlapped with backward"
  [[ $run == r2t1s ]] && label="$label, exchange after backward (DNABERT_OVERLAP=0)"
  echo "| $label | $r | $(python3 -c "print('%.2fx' % ($r / $base))") |"
done
for run in r1t2 r2t1 r2t1s; do
  cmp -s "$OUT/r1t1/model/model.safetensors" "$OUT/$run/model/model.safetensors" ||
    { echo "ERROR: $run wrote other weights than 1 x 1"; exit 1; }
done
echo
echo "all four wrote byte-identical model.safetensors"
