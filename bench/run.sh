#!/usr/bin/env bash
# Benchmarks, one section per question. `make bench` runs `bash bench/run.sh BUILD_DIR`.
# Sections append below; each prints its own table (see bench/RESULTS.md).
set -euo pipefail
BUILD_DIR=${1:-build}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${DNABERT_SHARED:-$ROOT/../shared}

# ---- FASTA input (issue 3): inflate + parse + 6-mer scan of human chrX vs zcat ----
echo "## FASTA input (issue 3)"
CHRX="$SHARED/data/genomes/human_GRCh37_chrX_first70Mb.fa.gz"
if [[ -f "$CHRX" ]]; then
  "$BUILD_DIR/bench_fasta" "$CHRX" 3
else
  echo "skipped: $CHRX not found (set DNABERT_SHARED to the shared/ folder)"
fi
echo

# ---- GEMM (issue 5): our fp32 GEMM vs oneDNN's dnnl_sgemm on BERT-base shapes ----
echo "## GEMM (issue 5)"
echo "uptime: $(uptime)"
# 2 threads, wall time, 7 repeats (the headline), then 1 thread on process CPU
# time (steadier when other jobs share the cores).
"$BUILD_DIR/bench_gemm" 7 2 447
"$BUILD_DIR/bench_gemm" 5 1 223 "" cpu
echo
