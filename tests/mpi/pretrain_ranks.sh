#!/usr/bin/env bash
# 1 rank against 2 ranks (mpirun on loopback): the same seed and global batch
# must write byte-identical weights and Adam moments, and a checkpoint written
# by either rank count must resume under the other and end byte-identical to
# the run that never stopped. Usage: pretrain_ranks.sh MPIRUN DNABERT SOURCE_DIR WORK_DIR
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
# grad-accum 4 = 2 micro-batches per rank: each rank sums its own pair, then the ranks add.
accum=(--grad-accum 4)
args=(--threads 1 pretrain --fasta "$src/tests/data/genomes/lambda_phage.fa.gz" --k 6
      --config "$src/tests/mpi/micro_config.json" --max-len 64 --batch 4 --steps 4 --warmup 1
      --lr 1e-3 --mask-rate 0.15 --eval-every 2 --eval-batches 1 --save-every 2 --keep-last 0 --seed 3)

same() {  # same FILE_A FILE_B WHAT
  if ! cmp -s "$1" "$2"; then echo "FAIL: $3: $1 and $2 differ"; exit 1; fi
  echo "ok: $3"
}

"$dnabert" "${args[@]}" "${accum[@]}" --out one > one.log 2>&1 || { cat one.log; exit 1; }
"${launch2[@]}" "$dnabert" "${args[@]}" "${accum[@]}" --out two > two.log 2>&1 || { cat two.log; exit 1; }
grep -q "2 ranks" two.log || { echo "FAIL: the 2-rank run did not run as 2 ranks"; cat two.log; exit 1; }
grep -q "gradient exchange: overlapped with the backward pass" two.log ||
  { echo "FAIL: the 2-rank run did not overlap its gradient exchange"; cat two.log; exit 1; }
# The exchange after the backward pass instead (DNABERT_OVERLAP=0): the same bits again.
DNABERT_OVERLAP=0 "${launch2[@]}" "$dnabert" "${args[@]}" "${accum[@]}" --out two_serial > two_serial.log 2>&1 ||
  { cat two_serial.log; exit 1; }
grep -q "gradient exchange: after the backward pass" two_serial.log ||
  { echo "FAIL: DNABERT_OVERLAP=0 did not turn the overlap off"; cat two_serial.log; exit 1; }
for f in checkpoint-2/model.safetensors checkpoint-2/optimizer.safetensors model/model.safetensors; do
  same one/$f two/$f "1 rank = 2 ranks (overlapped exchange): $f"
  same one/$f two_serial/$f "1 rank = 2 ranks (exchange after the backward pass): $f"
done
# Only rank 0 logs: one line per step and per evaluation, with the same losses.
untimed() { sed 's/"seconds":[^,}]*//' "$1"; }
same <(untimed one/log.jsonl) <(untimed two/log.jsonl) "1 rank = 2 ranks: log.jsonl (without timings)"

# Resume with the other rank count from step 2.
mkdir resume21 resume12
cp -r two/checkpoint-2 resume21/ && cp -r one/checkpoint-2 resume12/
"$dnabert" "${args[@]}" "${accum[@]}" --out resume21 --resume resume21 > resume21.log 2>&1 || { cat resume21.log; exit 1; }
"${launch2[@]}" "$dnabert" "${args[@]}" "${accum[@]}" --out resume12 --resume resume12 > resume12.log 2>&1 ||
  { cat resume12.log; exit 1; }
grep -q "resumed from resume12/checkpoint-2 at step 2" resume12.log || { echo "FAIL: no resume"; cat resume12.log; exit 1; }
same one/model/model.safetensors resume21/model/model.safetensors "2-rank checkpoint resumed with 1 rank"
same one/model/model.safetensors resume12/model/model.safetensors "1-rank checkpoint resumed with 2 ranks"
same one/checkpoint-4/optimizer.safetensors resume12/checkpoint-4/optimizer.safetensors "resumed Adam moments"

# A global batch that does not split evenly is refused on every rank, and the job ends.
if "${launch2[@]}" "$dnabert" "${args[@]}" --grad-accum 3 --out bad > bad.log 2>&1; then
  echo "FAIL: --grad-accum 3 on 2 ranks was accepted"; exit 1
fi
grep -q "dnabert: error: rank [01] of 2: pretrain: --grad-accum 3 is not a multiple of the 2 ranks" bad.log ||
  { echo "FAIL: unclear error"; cat bad.log; exit 1; }
echo "ok: uneven split refused"
