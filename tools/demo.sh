#!/usr/bin/env bash
# make demo: pretrain the tiny preset on the bundled E. coli genome for a few
# minutes, with a progress bar, a loss curve and the held-out masked-token
# accuracy next to the unigram baseline.
set -euo pipefail
BUILD_DIR=${1:-build}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DNABERT="$BUILD_DIR/dnabert"
GENOME="$ROOT/tests/data/genomes/ecoli_K12_MG1655.fa.gz"
OUT=${DEMO_OUT:-$ROOT/out/demo}
STEPS=${DEMO_STEPS:-400}

"$DNABERT" --version
echo
echo "== the genome (bundled; provenance in tests/data/genomes/PROVENANCE.md)"
"$DNABERT" fasta-stats "$GENOME"
echo
echo "== masked-LM pretraining: tiny preset (4 layers x 256), 6-mers, $STEPS steps"
rm -rf "$OUT"
"$DNABERT" pretrain --fasta "$GENOME" --k 6 --config tiny --max-len 128 --batch 32 --steps "$STEPS" \
  --lr 1e-3 --warmup 40 --mask-rate 0.15 --eval-every 50 --eval-batches 8 --seed 1 --out "$OUT"
echo
echo "loss curve: $OUT/loss.svg   per-step log: $OUT/log.jsonl   model: $OUT/model/"
