#!/usr/bin/env bash
# Fine-tuning, 1 rank against 2 ranks (mpirun on loopback): each batch is cut
# into 2 shards either way (--shards 2 on one rank, the default on two), so
# the best checkpoint and the dev scores must come out byte-identical.
# Usage: finetune_ranks.sh MPIRUN DNABERT SOURCE_DIR WORK_DIR
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
# A 2-step pretrained micro model to start from.
"$dnabert" --threads 1 pretrain --fasta "$src/tests/data/genomes/lambda_phage.fa.gz" --k 6 \
  --config "$src/tests/mpi/micro_config.json" --max-len 64 --batch 4 --steps 2 --warmup 1 --eval-batches 0 \
  --out pre > pre.log 2>&1 || { cat pre.log; exit 1; }
data="$src/tests/data/labelled/gue_prom_core_tata_dev200.csv.gz"
args=(--threads 1 finetune --init pre/model --train "$data" --dev "$data" --max-len 32 --batch 16 --epochs 2
      --lr 1e-3 --seed 5)
"$dnabert" "${args[@]}" --shards 2 --out one > one.log 2>&1 || { cat one.log; exit 1; }
"${launch2[@]}" "$dnabert" "${args[@]}" --out two > two.log 2>&1 || { cat two.log; exit 1; }
for f in best/model.safetensors eval_results.json log.jsonl; do
  if ! cmp -s one/$f two/$f; then echo "FAIL: 1 rank = 2 ranks: one/$f and two/$f differ"; exit 1; fi
  echo "ok: 1 rank = 2 ranks: $f"
done
# Unsharded, the same run is a different computation (the test above could fail).
"$dnabert" "${args[@]}" --shards 1 --out whole > whole.log 2>&1 || { cat whole.log; exit 1; }
if cmp -s one/best/model.safetensors whole/best/model.safetensors; then
  echo "FAIL: 2 shards and 1 shard gave the same bits; the comparison proves nothing"; exit 1
fi
echo "ok: 1 shard differs from 2 shards"
