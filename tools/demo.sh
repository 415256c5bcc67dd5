#!/usr/bin/env bash
# make demo: the bundled pretrained model (pretrained/dnabert6-tiny-chrx, human
# chrX, `pretrain --recipe tiny-2h`) measured on the bundled E. coli genome,
# then a few minutes of continued pretraining on E. coli from it, with a
# progress bar, a loss curve and the held-out masked-token accuracy next to
# the unigram baseline.
set -euo pipefail
BUILD_DIR=${1:-build}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DNABERT="$BUILD_DIR/dnabert"
GENOME="$ROOT/tests/data/genomes/ecoli_K12_MG1655.fa.gz"
MODEL="$ROOT/pretrained/dnabert6-tiny-chrx"
OUT=${DEMO_OUT:-$ROOT/out/demo}
STEPS=${DEMO_STEPS:-200}

"$DNABERT" --version
echo
echo "== the genome (bundled; provenance in tests/data/genomes/PROVENANCE.md)"
"$DNABERT" fasta-stats "$GENOME"
echo
echo "== the bundled pretrained model (provenance in pretrained/dnabert6-tiny-chrx/PROVENANCE.md),"
echo "   on held-out E. coli pieces it has never seen (6-mers, DNABERT's span masking, 15%)"
"$DNABERT" evaluate-mlm --model "$MODEL" --fasta "$GENOME" --max-len 128 --batch 32 --eval-batches 8 --seed 1
echo
echo "== continued masked-LM pretraining on E. coli from that model: $STEPS steps"
rm -rf "$OUT"
"$DNABERT" pretrain --init "$MODEL" --fasta "$GENOME" --k 6 --max-len 128 --batch 32 --steps "$STEPS" \
  --lr 5e-4 --warmup 20 --mask-rate 0.15 --dropout 0 --eval-every 50 --eval-batches 8 --seed 1 --out "$OUT"
echo
echo "loss curve: $OUT/loss.svg   per-step log: $OUT/log.jsonl   model: $OUT/model/"
echo "(a new model trained the same way from scratch stays near 7.6 for these steps: docs/pretraining.md)"
