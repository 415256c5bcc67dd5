#!/usr/bin/env bash
# A rank killed (SIGKILL) in the middle of a 2-rank pretraining ends the whole
# job with a non-zero exit and a message naming the dead rank, and the newest
# checkpoint on disk is complete: a 1-rank run resumes from it and finishes.
# Usage: rank_killed.sh MPIRUN DNABERT SOURCE_DIR WORK_DIR
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
args=(--threads 1 pretrain --fasta "$src/tests/data/genomes/lambda_phage.fa.gz" --k 6
      --config "$src/tests/mpi/micro_config.json" --max-len 64 --batch 8 --grad-accum 2 --steps 100000
      --save-every 3 --keep-last 2 --eval-batches 0 --seed 9)
"${launch2[@]}" "$dnabert" "${args[@]}" --out run > run.log 2>&1 &
job=$!
# The newest complete checkpoint's step (0 if none). With --keep-last 2 a checkpoint lives only
# until the next-but-one is saved (tens of ms at this model's ~100 steps/s), so wait for any
# complete one from step 6 on, not for checkpoint-6 itself.
newest() { { ls -d run/checkpoint-* 2> /dev/null || true; } | { grep -oE 'checkpoint-[0-9]+$' || echo checkpoint-0; } |
  cut -d- -f2 | sort -n | tail -1; }
for _ in $(seq 900); do
  (( $(newest) >= 6 )) && break
  kill -0 "$job" 2> /dev/null || { echo "FAIL: the 2-rank job ended before checkpoint 6"; cat run.log; exit 1; }
  sleep 0.1
done
(( $(newest) >= 6 )) || { echo "FAIL: no checkpoint from step 6 on within 90 s"; kill "$job"; cat run.log; exit 1; }
victim=$(ps -o pid= --ppid "$job" | tail -1)
kill -9 $victim
status=0
wait "$job" || status=$?
[[ $status -ne 0 ]] || { echo "FAIL: the job exited 0 after a rank was killed"; exit 1; }
# Either mpirun reports the killed rank, or the surviving rank's MPI call fails first and our
# error handler says so (which of the two comes first is a race).
grep -qE "exited on signal 9|MPI communication failed .*another rank probably died" run.log ||
  { echo "FAIL: no message about the killed rank"; cat run.log; exit 1; }
if grep -q "exited on signal 13" run.log; then
  echo "FAIL: the surviving rank died of SIGPIPE instead of reporting the failure"; cat run.log; exit 1
fi
echo "ok: killed rank ended the job (exit $status): $(grep -oE 'process rank [0-9]* .*exited on signal 9 \(Killed\)|rank [0-9] of 2: MPI communication failed' run.log | head -1)"
# A checkpoint being written when the job died is only a checkpoint-N.tmp.<pid> directory.
latest=$(ls -d run/checkpoint-* | grep -E 'checkpoint-[0-9]+$' | sort -t- -k2 -n | tail -1)
step=${latest##*-}
"$dnabert" "${args[@]/100000/$((step + 2))}" --out run --resume run > resume.log 2>&1 || { cat resume.log; exit 1; }
grep -q "resumed from $latest at step $step" resume.log || { echo "FAIL: did not resume"; cat resume.log; exit 1; }
[[ -f run/model/model.safetensors ]] || { echo "FAIL: no final model after resuming"; exit 1; }
echo "ok: $latest was complete; 1 rank resumed from it and finished step $((step + 2))"
