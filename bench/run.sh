#!/usr/bin/env bash
# Benchmarks, one section per question. `make bench` runs `bash bench/run.sh BUILD_DIR`.
# Sections append below; each prints its own table (see bench/RESULTS.md).
# BENCH_ONLY=fasta|gemm|torch|mpi runs one section; BENCH_WORKLOADS (below) narrows the torch one.
set -euo pipefail
BUILD_DIR=${1:-build}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${DNABERT_SHARED:-$ROOT/../shared}
want() { [[ -z "${BENCH_ONLY:-}" || "$BENCH_ONLY" == "$1" ]]; }

# ---- The running CPU's peaks: every "% of peak" column divides by these ----
echo "## Peaks of this CPU (bench_peak)"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; uptime: $(uptime)"
# KEY=VALUE on stdout (GFLOP/s, GOP/s), a summary on stderr; 2 threads, then 1.
peaks2=$("$BUILD_DIR/bench_peak" 2 1.0)
peaks1=$("$BUILD_DIR/bench_peak" 1 1.0)
DNABERT_PEAK_FP32=$(sed -n 's/^peak_fp32=//p' <<< "$peaks2")
DNABERT_PEAK_BF16=$(sed -n 's/^peak_bf16=//p' <<< "$peaks2")
DNABERT_PEAK_INT8=$(sed -n 's/^peak_int8=//p' <<< "$peaks2")
PEAK_FP32_1T=$(sed -n 's/^peak_fp32=//p' <<< "$peaks1")
export DNABERT_PEAK_FP32 DNABERT_PEAK_BF16 DNABERT_PEAK_INT8
echo

# ---- FASTA input: inflate + parse + 6-mer scan of human chrX vs zcat ----
if want fasta; then
echo "## FASTA input (issue 3)"
CHRX="$SHARED/data/genomes/human_GRCh37_chrX_first70Mb.fa.gz"
if [[ -f "$CHRX" ]]; then
  "$BUILD_DIR/bench_fasta" "$CHRX" 3
else
  echo "skipped: $CHRX not found (set DNABERT_SHARED to the shared/ folder)"
fi
echo
fi

# ---- GEMM: our fp32 GEMM vs oneDNN's dnnl_sgemm on BERT-base shapes ----
if want gemm; then
echo "## GEMM (issue 5)"
echo "uptime: $(uptime)"
# 2 threads, wall time, 7 repeats (the headline), then 1 thread on process CPU
# time (steadier when other jobs share the cores).
"$BUILD_DIR/bench_gemm" 7 2 "$DNABERT_PEAK_FP32"
"$BUILD_DIR/bench_gemm" 5 1 "$PEAK_FP32_1T" "" cpu
echo
fi

# ---- Training and inference vs PyTorch ----
# Every workload runs in a fresh process (peak RSS is the process's), ours
# (bench_train) then torch in its tuned profile (bench/torch_env.sh), both with
# 2 threads. Steps: warm-up then timed, medians; base steps take seconds.
if want torch; then
echo "## Training and inference vs PyTorch (issue 5)"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC'); uptime: $(uptime)"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
# OpenMP: idle worker threads sleep for both engines (both use libgomp). The
# machine is shared; spinning waits cost whoever shares the cores.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
echo "OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
ours() { "$BUILD_DIR/bench_train" "$@"; }
theirs() { (source "$ROOT/bench/torch_env.sh" && /usr/bin/python3 "$ROOT/bench/torch_bench.py" "$@"); }
export BUILD_DIR ROOT
export -f ours theirs  # for the bash -c of interleave.py
# Each round (BENCH_ROUNDS, default 3) runs ours fp32, torch fp32 and, for
# training, ours bf16 one after the other, and compare.py takes the median of
# the per-round ratios to torch fp32 of the same round: a virtual machine's
# speed can drift over minutes (bench/RESULTS.md, "Reading the numbers"). With
# BENCH_INTERLEAVE=1 the engines of a round take turns step by step instead
# (bench/interleave.py: all set up at once, then one step at a time, never two
# at once), so their timed steps share the same minutes; each step then starts
# with caches the other engine has used (bench/RESULTS.md, "Reading the
# numbers", compares the two).
# Training also runs torch with its last layer on the masked rows only
# (fp32-lastrows, the algorithm our step uses) and torch's bf16 autocast, once
# each, as information.
ROUNDS=${BENCH_ROUNDS:-3}
INTERLEAVE=${BENCH_INTERLEAVE:-0}
if [[ $INTERLEAVE != 0 && $INTERLEAVE != 1 ]]; then
  echo "bench/run.sh: BENCH_INTERLEAVE must be 0 or 1, got '$INTERLEAVE'" >&2
  exit 2
fi
echo "rounds: $ROUNDS, $([[ $INTERLEAVE == 0 ]] && echo "engines one after the other" || echo "engines step by step in turn (bench/interleave.py)")"
run() {  # workload steps warmup
  local w=$1 s=$2 wu=$3 i
  local cmds=("ours $w fp32 $s $wu" "theirs $w fp32 $s $wu")
  if [[ $w == train-* ]]; then cmds+=("ours $w bf16 $s $wu"); fi
  for ((i = 0; i < ROUNDS; ++i)); do
    if [[ $INTERLEAVE == 0 ]]; then
      local c
      for c in "${cmds[@]}"; do bash -c "$c" | tee -a "$OUT/log"; done
    else
      python3 "$ROOT/bench/interleave.py" "${cmds[@]}" | tee -a "$OUT/log"
    fi
  done
  if [[ $w == train-* ]]; then
    theirs "$w" fp32-lastrows "$s" "$wu" | tee -a "$OUT/log"
    theirs "$w" bf16-autocast "$s" "$wu" | tee -a "$OUT/log"
  fi
}
# BENCH_WORKLOADS="infer-tiny train-tiny" runs only those workloads.
WORKLOADS="train-tiny train-small train-base infer-base infer-tiny"
for w in ${BENCH_WORKLOADS:-}; do
  if [[ " $WORKLOADS " != *" $w "* ]]; then
    echo "bench/run.sh: BENCH_WORKLOADS: unknown workload '$w' (choose from: $WORKLOADS)" >&2
    exit 2
  fi
done
only() { [[ -z "${BENCH_WORKLOADS:-}" || " $BENCH_WORKLOADS " == *" $1 "* ]]; }
only train-tiny && run train-tiny 10 2
only train-small && run train-small 5 2
only train-base && run train-base 3 1
only infer-base && run infer-base 3 1
only infer-tiny && run infer-tiny 10 2
echo
grep '^RESULT ' "$OUT/log" > "$OUT/results.jsonl"
python3 "$ROOT/bench/compare.py" "$OUT/results.jsonl"
# Where a speed target is missed: per-op profiles of both engines (separate,
# shorter runs: profiling adds overhead, so these times are not the table's).
# Torch's profile (fp32, the reference) once per workload.
python3 "$ROOT/bench/compare.py" --missed "$OUT/results.jsonl" | while read -r w p; do
  steps=2; [[ $w == *-base ]] && steps=1
  echo
  echo "### per-op profile: $w $p, ours"
  DNABERT_PROFILE=1 ours "$w" "$p" "$steps" 1 | grep -v '^RESULT '
  if [[ ! -e "$OUT/profiled-$w" ]]; then
    touch "$OUT/profiled-$w"
    echo
    echo "### per-op profile: $w fp32, torch"
    theirs "$w" fp32 "$steps" 1 --profile | grep -v '^RESULT '
  fi
done
echo
fi

# ---- MPI data parallelism: 2 ranks x 1 thread vs 1 rank x 2 threads ----
if want mpi; then
echo "## MPI scaling (issue 8)"
bash "$ROOT/bench/mpi_scaling.sh" "$BUILD_DIR"
echo
fi
