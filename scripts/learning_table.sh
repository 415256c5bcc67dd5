#!/usr/bin/env bash
# The learning table, bench/LEARNING.md: does our pretraining help? Test MCC on
# the GUE tasks of DATA/gue, fine-tuned under `finetune --protocol gue` from a
# pretrained model and, as a control, from random initialisation (the same
# command with --random-init: same config and vocabulary, seeded N(0, 0.02)
# weights), over several seeds where a task is small, next to DNABERT-6's
# published MCC; with the pretraining's held-out loss curve, every run's wall
# time, the machine and the exact commands.
#
# Each arm's learning rate is chosen on dev, never on test: on the tuning task
# (seed: its first), one run per rate of the arm's grid, and the rate whose best
# checkpoint scores the highest dev MCC is used for every task and seed of that
# arm (a tie goes to the earlier rate in the grid). Both arms search the same
# grid by default, the protocol's 3e-5 among it: the control, trained from
# scratch, is tuned exactly as carefully as the pretrained model.
#
#   scripts/learning_table.sh [--pretrained DIR] [--pretrain-log LOG.jsonl] [--threads N] [--jobs N]
#       [--tasks "a b"] [--seeds "42 43 44"] [--lrs-pretrained "3e-5"] [--lrs-random "3e-5 1e-4 3e-4"]
#       [--tune-task TASK] [--data DIR] [--dnabert BIN] [--out DIR]
#       [--results DIR] [--report FILE] [--report-only] [-h|--help]
#
#   --pretrained DIR     the pretrained model (config.json, model.safetensors, vocab.txt);
#                        default pretrained/dnabert6-tiny-chrx
#   --pretrain-log LOG   its pretraining's log.jsonl (default: DIR/eval.jsonl if there, as
#                        scripts/package_pretrained.sh writes): the held-out loss curve goes in the report,
#                        and the loss.svg beside LOG is copied to the results folder
#   --threads N          threads of each fine-tune when one runs at a time (default 2)
#   --jobs N             run N fine-tunes side by side, --threads 1 each (default 1)
#   --tasks "a b"        a subset of the GUE tasks (default: every task folder in DATA/gue)
#   --seeds "42 43"      the seeds of every task (default: 42 43 44 for a task with under
#                        10,000 training rows, 42 otherwise)
#   --lrs-pretrained "A B"  learning rates tried for the pretrained arm (default 3e-5 1e-4 3e-4 1e-3)
#   --lrs-random "A B"   learning rates tried for the random-init arm (default 3e-5 1e-4 3e-4 1e-3)
#   --tune-task TASK     the task the rates are chosen on, by dev MCC (default prom_core_tata when it
#                        is among the tasks, else the cheapest task)
#   --data DIR           the folder holding gue/ (default ../shared/data)
#   --dnabert BIN        the binary (default build/dnabert)
#   --out DIR            working output: checkpoints and logs (default out/learning_table)
#   --results DIR        one small JSON per finished run (default bench/learning)
#   --report FILE        the report (default bench/LEARNING.md)
#   --report-only        run nothing; write the report from the finished runs
#
# Resumable: a run whose result file exists, holding the same command (the
# binary's path aside: a frozen copy given with --dnabert runs the same runs)
# and the same pretrained weights (sha256 of model.safetensors), is not run again.
# The command is the fine-tune's without its --threads (results are the same
# bits with any thread count; each result records the threads it ran with).
# Runs go cheapest first (training rows × epochs × sequence length). Paths in
# the commands and the report are relative to the repository.
set -euo pipefail

# The whole script is one function, read before it runs, so editing this file
# does not disturb a table that is being produced.
main() {
here=$(cd "$(dirname "$0")/.." && pwd -P)
script_name=learning_table.sh
source "$here/scripts/table_lib.sh"  # timed, mmss, tsv_col, cpu_model
cd "$here"
pretrained=pretrained/dnabert6-tiny-chrx pretrain_log="" threads=2 njobs=1 tasks="" seeds="" data=../shared/data
protocol_lr=3e-5 lrs_pretrained="3e-5 1e-4 3e-4 1e-3" lrs_random="3e-5 1e-4 3e-4 1e-3" tune_task=""
dnabert=build/dnabert out=out/learning_table results=bench/learning report=bench/LEARNING.md report_only=0
die() { echo "$script_name: error: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --pretrained|--pretrain-log|--threads|--jobs|--tasks|--seeds|--lrs-pretrained|--lrs-random|--tune-task|\
    --data|--dnabert|--out|--results|--report)
      [ $# -ge 2 ] || die "$1 needs a value (see --help)" ;;&
    --pretrained) pretrained=$2; shift 2 ;;
    --pretrain-log) pretrain_log=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --jobs) njobs=$2; shift 2 ;;
    --tasks) tasks=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --lrs-pretrained) lrs_pretrained=$2; shift 2 ;;
    --lrs-random) lrs_random=$2; shift 2 ;;
    --tune-task) tune_task=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --dnabert) dnabert=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    --report) report=$2; shift 2 ;;
    --report-only) report_only=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads $threads: not a positive number"
[[ "$njobs" =~ ^[1-9][0-9]*$ ]] || die "--jobs $njobs: not a positive number"
for s in $seeds; do [[ "$s" =~ ^[0-9]+$ ]] || die "--seeds: '$s' is not a seed"; done
for lr in $lrs_pretrained $lrs_random; do
  [[ "$lr" =~ ^[0-9]+(\.[0-9]+)?([eE]-?[0-9]+)?$ ]] || die "--lrs-pretrained/--lrs-random: '$lr' is not a learning rate"
done
[ -n "$(echo $lrs_pretrained)" ] && [ -n "$(echo $lrs_random)" ] || die "--lrs-pretrained and --lrs-random need at least one rate"

# A path relative to the repository: ./inside/it, ../beside/it (so no machine's absolute path is written).
rel() {
  local r
  r=$(realpath -s -m --relative-to="$here" "$1")
  case "$r" in ..|../*) echo "$r" ;; .) echo . ;; *) echo "./$r" ;; esac
}
dnabert=$(rel "$dnabert") data=$(rel "$data") pretrained=$(rel "$pretrained") out=$(rel "$out")
results=$(rel "$results") report=$(rel "$report")
# A packaged model (scripts/package_pretrained.sh) carries its held-out evaluations and curve.
[ -z "$pretrain_log" ] && [ -f "$pretrained/eval.jsonl" ] && pretrain_log=$pretrained/eval.jsonl
[ -n "$pretrain_log" ] && { [ -f "$pretrain_log" ] || die "$pretrain_log: no such file (--pretrain-log)"; pretrain_log=$(rel "$pretrain_log"); }
[ -x "$dnabert" ] || die "$dnabert: not an executable (build first, or give --dnabert)"
[ -d "$data/gue" ] || die "$data/gue: no such directory (give --data)"
[ -f "$pretrained/model.safetensors" ] && [ -f "$pretrained/config.json" ] ||
  die "$pretrained: no config.json and model.safetensors (give --pretrained)"
if [ -z "$tasks" ]; then
  for d in "$data"/gue/*/; do [ -n "$(ls "$d"train.csv* 2>/dev/null)" ] && tasks+="$(basename "$d") "; done
fi
for t in $tasks; do [ -n "$(ls "$data/gue/$t"/train.csv* 2>/dev/null)" ] || die "$data/gue/$t: no train.csv(.gz) (--tasks)"; done
run_threads=$threads; [ "$njobs" -gt 1 ] && run_threads=1
model_sha=$(sha256sum "$pretrained/model.safetensors" | cut -d' ' -f1)
version=$("$dnabert" --threads "$run_threads" --version)
cpu=$(cpu_model)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit+=" plus uncommitted changes"
mkdir -p "$out" "$results"

# Per task: its files, training rows, sequence length and the protocol's epochs (as dnabert picks them).
split_file() { ls "$data/gue/$1/$2".csv* | head -1; }
declare -A rows length epochs_of
for t in $tasks; do
  rows[$t]=$(zcat -f "$(split_file "$t" train)" | tail -n +2 | wc -l)
  length[$t]=$(zcat -f "$(split_file "$t" train)" | sed -n 2p | cut -d, -f1 | tr -d '\r' | wc -L)
  case $t in
    prom_core_tata|prom_300_tata) epochs_of[$t]=10 ;;
    prom_*) epochs_of[$t]=4 ;; mouse*) epochs_of[$t]=5 ;; splice*) epochs_of[$t]=5 ;; covid) epochs_of[$t]=9 ;;
    *) epochs_of[$t]=3 ;;
  esac
done
seeds_of() { if [ -n "$seeds" ]; then echo $seeds; elif [ "${rows[$1]}" -lt 10000 ]; then echo 42 43 44; else echo 42; fi; }
cost_of() { echo $(( rows[$1] * epochs_of[$1] * length[$1] )); }
if [ -z "$tune_task" ]; then
  case " $(echo $tasks) " in *" prom_core_tata "*) tune_task=prom_core_tata ;;
    *) tune_task=$(for t in $tasks; do echo "$(cost_of "$t") $t"; done | sort -k1,1n -k2,2 | head -1 | cut -d' ' -f2) ;; esac
fi
case " $(echo $tasks) " in *" $tune_task "*) ;; *) die "--tune-task $tune_task: not among the tasks" ;; esac
tune_seed=$(seeds_of "$tune_task" | cut -d' ' -f1)
lrs_of() { if [ "$1" = pretrained ]; then echo $lrs_pretrained; else echo $lrs_random; fi; }

# A run is "cost task seed init lr". The run's command without --threads (its
# identity), and its files: the protocol's own rate adds no flag and no name part.
lr_tag() { [ "$1" = "$protocol_lr" ] || echo "_lr$1"; }
command_of() {  # TASK SEED INIT LR
  local flag="" lrflag=""; [ "$3" = random ] && flag=" --random-init"
  [ "$4" = "$protocol_lr" ] || lrflag=" --lr $4"
  echo "$dnabert finetune --init $pretrained$flag --train $(split_file "$1" train) --dev $(split_file "$1" dev)" \
    "--test $(split_file "$1" test) --out $out/$1/${3}$(lr_tag "$4")_s$2 --protocol gue --seed $2$lrflag"
}
result_of() { echo "$results/${1}_${3}$(lr_tag "$4")_s$2.json"; }
# jget FILE KEY: a value of the one-key-a-line JSON written below.
jget() {
  awk -v key="  \"$2\": " 'index($0, key) == 1 { v = substr($0, length(key) + 1); sub(/,$/, "", v)
    if (v ~ /^"/) { v = substr(v, 2, length(v) - 2); gsub(/\\"/, "\"", v); gsub(/\\\\/, "\\", v) } print v }' "$1"
}
finished() {  # TASK SEED INIT LR: its result is there for this command and these weights
  local f; f=$(result_of "$@")
  [ -f "$f" ] && same_command "$(jget "$f" command)" "$(command_of "$@")" && [ "$(jget "$f" init_model_sha256)" = "$model_sha" ]
}
json_str() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }

# Runs one fine-tune (resuming a finished one in out/) and writes its result JSON.
run_one() {  # TASK SEED INIT LR
  local task=$1 seed=$2 init=$3 lr=$4 cmd dir f tsv
  cmd=$(command_of "$@")
  dir=$out/$task/${init}$(lr_tag "$lr")_s$seed
  mkdir -p "$out/$task"
  # shellcheck disable=SC2086
  timed "$dir" "$dir/eval_results.tsv" $cmd --threads "$run_threads"
  tsv=$dir/eval_results.tsv f=$(result_of "$@")
  local predicted
  predicted=$(awk '/^test:/ { t = 1; getline; next } t && NF > 1 { for (i = 2; i <= NF; i++) s[i] += $i; n = NF }
    END { c = 0; for (i = 2; i <= n; i++) if (s[i] > 0) c++; print c }' "$dir/confusion_matrix.txt")
  {
    echo "{"
    echo "  \"command\": $(json_str "$cmd"),"
    echo "  \"task\": \"$task\","
    echo "  \"init\": \"$init\","
    echo "  \"seed\": $seed,"
    echo "  \"lr\": $lr,"
    echo "  \"epochs\": $(sed -n 's/^protocol gue.* \([0-9][0-9]*\) epochs.*/\1/p' "$dir.log" | head -1),"
    echo "  \"train_rows\": ${rows[$task]},"
    # JSON has no NaN (an AUC with one class in the test set): null.
    awk -v m="$(tsv_col "$tsv" test mcc)" -v a="$(tsv_col "$tsv" test accuracy)" -v u="$(tsv_col "$tsv" test auc)" \
      -v d="$(tsv_col "$tsv" dev mcc)" 'function num(x, scale, fmt) { return x ~ /^-?[0-9.]+$/ ? sprintf(fmt, scale * x) : "null" }
      BEGIN { printf "  \"test_mcc_x100\": %s,\n  \"test_accuracy\": %s,\n", num(m, 100, "%.4f"), num(a, 1, "%.6f")
        printf "  \"test_auc\": %s,\n  \"dev_mcc_x100\": %s,\n", num(u, 1, "%.6f"), num(d, 100, "%.4f") }'
    echo "  \"best_step\": $(sed -n 's/^  "best_step": \([0-9]*\),*$/\1/p' "$dir/eval_results.json"),"
    echo "  \"best_epoch\": $(sed -n 's/^  "best_epoch": \([0-9]*\),*$/\1/p' "$dir/eval_results.json"),"
    echo "  \"test_predicted_classes\": $predicted,"
    echo "  \"collapsed\": $([ "$predicted" -le 1 ] && echo true || echo false),"
    echo "  \"wall_seconds\": $(cat "$dir.wall"),"
    echo "  \"threads\": $run_threads,"
    echo "  \"jobs\": $njobs,"
    echo "  \"init_model_sha256\": \"$model_sha\","
    echo "  \"dnabert_version\": $(json_str "$version"),"
    echo "  \"cpu\": $(json_str "$cpu"),"
    echo "  \"commit\": $(json_str "$commit"),"
    echo "  \"finished_utc\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\""
    echo "}"
  } > "$f.tmp"
  mv "$f.tmp" "$f"
  echo "result: $f (test MCC×100 $(jget "$f" test_mcc_x100), wall $(mmss "$(jget "$f" wall_seconds)"))"
}

# run_all RUNS: the runs not finished before, up to $njobs at a time; waits for them all.
failed=0
run_all() {
  [ "$report_only" = 0 ] || return 0
  local task seed init lr
  while read -r _ task seed init lr; do
    [ -n "$task" ] || continue
    if finished "$task" "$seed" "$init" "$lr"; then
      echo "done before: $task $init lr $lr seed $seed ($(result_of "$task" "$seed" "$init" "$lr"))"; continue
    fi
    while [ "$(jobs -rp | wc -l)" -ge "$njobs" ]; do wait -n || failed=1; done
    ( run_one "$task" "$seed" "$init" "$lr" ) &
  done <<< "$1"
  while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || failed=1; done
}

# 1. Each arm's learning rate, by dev MCC on the tuning task (only an arm with a grid runs anything here).
tune_runs=$(for init in pretrained random; do set -- $(lrs_of "$init"); [ $# -gt 1 ] || continue
  for lr; do echo "$(cost_of "$tune_task") $tune_task $tune_seed $init $lr"; done; done)
run_all "$tune_runs"
declare -A lr_of
for init in pretrained random; do
  lr_of[$init]=$(for lr in $(lrs_of "$init"); do
      if finished "$tune_task" "$tune_seed" "$init" "$lr"; then echo "$lr $(jget "$(result_of "$tune_task" "$tune_seed" "$init" "$lr")" dev_mcc_x100)"
      else echo "$lr"; fi
    done | awk 'NF == 2 && $2 != "null" && (best == "" || $2 > bestv) { best = $1; bestv = $2 } END { print best }')
  [ -n "${lr_of[$init]}" ] || lr_of[$init]=$(lrs_of "$init" | cut -d' ' -f1)
  echo "learning rate of the $init arm: ${lr_of[$init]}"
done

# 2. Every run at its arm's rate, cheapest first.
runs=$(for t in $tasks; do for s in $(seeds_of "$t"); do for init in pretrained random; do
  echo "$(cost_of "$t") $t $s $init ${lr_of[$init]}"; done; done; done | sort -k1,1n -k2,2 -k3,3n -k4,4)
run_all "$runs"

# 3. The report. Every run: the tuning's, then the table's (a run in both is listed once).
all_runs=$(printf '%s\n%s\n' "$tune_runs" "$runs" | awk 'NF && !seen[$2 " " $3 " " $4 " " $5]++')
published() {  # DNABERT (6-mer) test MCC×100 on GUE: the DNABERT-2 paper's Table 4, as DATA/README.md quotes it
  case $1 in
    prom_300_tata) echo 61.56 ;; prom_core_all) echo 68.90 ;; prom_core_notata) echo 70.47 ;; prom_core_tata) echo 76.06 ;;
    tf_human_0) echo 66.84 ;; tf_human_1) echo 70.14 ;; tf_human_2) echo 61.03 ;; tf_human_3) echo 51.89 ;; tf_human_4) echo 70.97 ;;
    *) echo "—" ;;
  esac
}
stats() { awk '$1 !~ /^-?[0-9.]+$/ { next } { n++; s += $1; q += $1 * $1 } END { if (!n) { print "—"; exit }
  m = s / n; if (n > 1) { v = (q - n * m * m) / (n - 1); if (v < 0) v = 0; printf "%.2f ± %.2f", m, sqrt(v) } else printf "%.2f", m }'; }
mean() { awk '$1 !~ /^-?[0-9.]+$/ { next } { n++; s += $1 } END { if (n) printf "%.4f", s / n }'; }
values() {  # TASK INIT FIELD: the field of each finished run of that task and init (at its arm's rate), one a line
  local s lr=${lr_of[$2]}; for s in $(seeds_of "$1"); do finished "$1" "$s" "$2" "$lr" && jget "$(result_of "$1" "$s" "$2" "$lr")" "$3"; done; true
}
fmt() { jget "$1" "$2" | awk -v f="$3" '{ if ($1 == "null") printf "—"; else printf f, $1 }'; }  # FILE KEY FORMAT
link() { realpath -s -m --relative-to="$(dirname "$report")" "$1"; }
cell() {  # VALUES COLLAPSED_COUNT: "mean ± sd (each seed's), N collapsed"
  [ -n "$1" ] || { printf 'not run'; return; }
  printf '%s (%s)' "$(echo "$1" | stats)" "$(echo "$1" | awk '{ printf "%s%.2f", (NR > 1 ? ", " : ""), $1 }')"
  [ "$2" -gt 0 ] && printf ', %s collapsed' "$2"; true
}
tmp="$report.tmp.$$"
{
  echo "# Does pretraining help? GUE fine-tuning from our pretrained model vs random initialisation"
  echo
  echo "Produced by \`scripts/learning_table.sh\` (\`make learning-table\`) on $(date -u +%Y-%m-%d) at commit $commit;"
  echo "\`$version\`. Machine: $cpu, $(nproc) cores; each fine-tune ran with \`--threads $run_threads\`, $njobs at a time"
  echo "(runs resumed from earlier invocations record their own threads, below)."
  echo
  echo "Every run is \`dnabert finetune --protocol gue\`: lr 3e-5 (unless its arm's rate was chosen otherwise on dev, below),"
  echo "batch 32, linear warm-up over 50 steps, dev scored"
  echo "every 200 steps and after the last one, the checkpoint best by dev MCC kept and scored once on test, epochs"
  echo "per task family as the DNABERT-2 repository's \`finetune/scripts/run_dnabert1.sh\` (README, \"Commands\")."
  echo "*pretrained*: from the model below; *random init*: the same command with \`--random-init\` (the same"
  echo "architecture and vocabulary, seeded N(0, 0.02) weights, no pretraining). Test MCC×100, mean ± sample sd"
  echo "over the seeds, then each seed's value. Δ = pretrained − random init (means)."
  echo
  echo "## Pretraining"
  echo
  echo "Model: \`$pretrained\` ($(sed -n 's/.*"num_hidden_layers": *\([0-9]*\).*/\1/p' "$pretrained/config.json") layers ×"
  echo "$(sed -n 's/.*"hidden_size": *\([0-9]*\).*/\1/p' "$pretrained/config.json") hidden, \`model.safetensors\` sha256 \`${model_sha:0:16}…\`)."
  provenance=$(ls -d "$pretrained"/[Pp][Rr][Oo][Vv][Ee][Nn][Aa][Nn][Cc][Ee]* 2>/dev/null | head -1 || true)
  if [ -n "$provenance" ]; then echo "How it was made: [\`$provenance\`]($(link "$provenance"))."
  else echo "The model folder holds no provenance file."; fi
  echo
  if [ -z "$pretrain_log" ]; then
    echo "No \`--pretrain-log\` was given, so the pretraining's held-out loss curve is not shown here."
  else
    svg=$(dirname "$pretrain_log")/loss.svg
    if [ -f "$svg" ]; then
      cp "$svg" "$results/pretrain_loss.svg"
      echo "![training and held-out MLM loss]($(link "$results/pretrain_loss.svg"))"
      echo
      echo "(\`$results/pretrain_loss.svg\`, a copy of the \`loss.svg\` beside \`$pretrain_log\`.)"
      echo
    fi
    echo "Held-out evaluations in \`$pretrain_log\` (masked-LM loss; a uniform guess over the vocabulary scores ln V):"
    echo
    echo "| step | held-out MLM loss | masked-token accuracy | unigram baseline |"
    echo "|---|---|---|---|"
    grep '"eval_loss"' "$pretrain_log" | awk '
      function num(k,  r) { r = $0; if (!match(r, "\"" k "\":[-0-9.eE+]+")) return ""; r = substr(r, RSTART, RLENGTH); sub(/^[^:]*:/, "", r); return r }
      { step[NR] = num("step"); loss[NR] = num("eval_loss"); acc[NR] = num("eval_accuracy"); uni[NR] = num("unigram_accuracy") }
      END { every = NR > 20 ? int((NR + 19) / 20) : 1
        for (i = 1; i <= NR; i++) if (i % every == 0 || i == 1 || i == NR)
          printf "| %d | %.4f | %.4f | %.4f |\n", step[i], loss[i], acc[i], uni[i] }'
    grep -c '"eval_loss"' "$pretrain_log" | awk '$1 > 20 { print "\n(" $1 " evaluations in the log; every few shown, with the first and the last.)" }'
    awk 'index($0, "\"loss\":") && index($0, "\"seconds\":") { n++; r = $0; match(r, /"seconds":[-0-9.eE+]+/); sec += substr(r, RSTART + 10, RLENGTH - 10)
      r = $0; match(r, /"step":[0-9]+/); last = substr(r, RSTART + 7, RLENGTH - 7) }
      END { if (n) printf "\nTraining steps in the log: %d (up to step %d), their summed step time %d:%02d.\n", n, last, sec / 60, sec % 60 }' "$pretrain_log"
  fi
  echo
  echo "## Learning rate of each arm, chosen on dev"
  echo
  echo "On \`$tune_task\`, seed $tune_seed: one run per rate of the arm's grid; the rate with the highest dev MCC (of its"
  echo "best checkpoint) is used for every task and seed of that arm. Test MCC is shown, but plays no part in the choice."
  echo
  echo "| arm | lr | dev MCC×100 | test MCC×100 | wall | chosen |"
  echo "|---|---|---|---|---|---|"
  for init in pretrained random; do for lr in $(lrs_of "$init"); do
    f=$(result_of "$tune_task" "$tune_seed" "$init" "$lr")
    if finished "$tune_task" "$tune_seed" "$init" "$lr"; then
      echo "| $init | $lr | $(fmt "$f" dev_mcc_x100 %.2f) | $(fmt "$f" test_mcc_x100 %.2f) | $(mmss "$(jget "$f" wall_seconds)") | $([ "$lr" = "${lr_of[$init]}" ] && echo yes) |"
    else echo "| $init | $lr | not run | | | $([ "$lr" = "${lr_of[$init]}" ] && echo yes) |"; fi
  done; done
  [ "$(echo $lrs_pretrained)" = "$protocol_lr" ] && echo && echo "The pretrained arm is not tuned: it keeps the protocol's rate, as published runs do."
  untuned=$(for init in pretrained random; do set -- $(lrs_of "$init"); [ $# -gt 1 ] || continue
    for lr; do finished "$tune_task" "$tune_seed" "$init" "$lr" || echo "$init $lr"; done; done | wc -l)
  [ "$untuned" -eq 0 ] || { echo; echo "**The rate tuning is incomplete** ($untuned run(s) not run): the rates above were chosen among the finished runs only."; }
  echo
  echo "## Fine-tuning on GUE: test MCC×100"
  echo
  echo "| task | train rows | epochs | seeds | DNABERT-6 published | pretrained | random init | Δ | pretrained / DNABERT-6 |"
  echo "|---|---|---|---|---|---|---|---|---|"
  wins=0 wins_vs_collapse=0 compared=0 ratio_list="" notes=""
  for t in $(printf '%s\n' $tasks | sort); do
    pre=$(values "$t" pretrained test_mcc_x100) rnd=$(values "$t" random test_mcc_x100)
    pub=$(published "$t")
    ep=$(values "$t" pretrained epochs | head -1); [ -n "$ep" ] || ep="(${epochs_of[$t]})"
    pre_collapsed=$(values "$t" pretrained collapsed | grep -c true || true)
    rnd_collapsed=$(values "$t" random collapsed | grep -c true || true)
    delta="—" ratio="—"
    if [ -n "$pre" ] && [ -n "$rnd" ]; then
      delta=$(awk -v a="$(echo "$pre" | mean)" -v b="$(echo "$rnd" | mean)" 'BEGIN { printf "%+.2f", a - b }')
      compared=$((compared + 1))
      if awk -v d="$delta" 'BEGIN { exit !(d >= 3) }'; then
        if [ "$pre_collapsed" -gt 0 ]; then notes+="- \`$t\`: Δ $delta, but $pre_collapsed pretrained run(s) collapsed to one class: not counted as a win."$'\n'
        else wins=$((wins + 1)); [ "$rnd_collapsed" -gt 0 ] && wins_vs_collapse=$((wins_vs_collapse + 1)); fi
      fi
    fi
    if [ -n "$pre" ] && [ "$pub" != "—" ]; then
      ratio_list+="$(awk -v a="$(echo "$pre" | mean)" -v p="$pub" 'BEGIN { printf "%.6f", a / p }')"$'\n'
      ratio=$(printf '%s' "$ratio_list" | tail -1 | awk '{ printf "%.2f", $1 }')
    fi
    echo "| \`$t\` | ${rows[$t]} | $ep | $(seeds_of "$t" | tr ' ' ',') | $pub | $(cell "$pre" "$pre_collapsed") | $(cell "$rnd" "$rnd_collapsed") | $delta | $ratio |"
  done
  echo
  echo "- Tasks where pretraining beats random initialisation by at least 3 MCC points (means; a task whose"
  echo "  pretrained runs collapsed is not counted): **$wins of $compared** compared$([ "$wins_vs_collapse" -gt 0 ] && echo ", $wins_vs_collapse of them against random-init runs that collapsed")."
  ratio_mean=$(printf '%s' "$ratio_list" | grep . | mean | awk '{ printf "%.2f", $1 }' || true)
  echo "- Mean ratio of our pretrained MCC to DNABERT-6's, over the $(printf '%s' "$ratio_list" | grep -c . || true) task(s) with a published figure: **${ratio_mean:-—}**."
  [ -n "$notes" ] && printf '%s' "$notes"
  echo
  echo "A *collapse* is a run whose best checkpoint predicts one class for the whole test set (MCC 0): a model"
  echo "that learned nothing, never a win. DNABERT-6 published: the DNABERT (6-mer) row of Table 4 of the DNABERT-2"
  echo "paper (Zhou et al., ICLR 2024; also \`figures/Performance.png\` in \`MAGICS-LAB/DNABERT_2\`), as \`$data/README.md\`"
  echo "quotes it; a task without a figure there shows \"—\" and has no ratio."
  echo
  echo "## Every run"
  echo
  echo "| task | init | lr | seed | test MCC×100 | acc | AUC | dev MCC×100 | best step | wall | threads | note |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  total=0 total_pre=0 total_rnd=0 nrun=0
  while read -r _ t s init lr; do
    [ -n "$t" ] || continue
    f=$(result_of "$t" "$s" "$init" "$lr")
    if ! finished "$t" "$s" "$init" "$lr"; then echo "| \`$t\` | $init | $lr | $s | — | — | — | — | — | not run | | |"; continue; fi
    w=$(jget "$f" wall_seconds)
    note=""; [ "$(jget "$f" collapsed)" = true ] && note="collapse: one class predicted"
    [ "$lr" = "${lr_of[$init]}" ] || note="lr tuning only${note:+; $note}"
    echo "| \`$t\` | $init | $lr | $s | $(fmt "$f" test_mcc_x100 %.2f) | $(fmt "$f" test_accuracy %.4f) |" \
      "$(fmt "$f" test_auc %.4f) | $(fmt "$f" dev_mcc_x100 %.2f) | $(jget "$f" best_step) |" \
      "$(mmss "$w") | $(jget "$f" threads) | $note |"
    total=$(awk -v a="$total" -v b="$w" 'BEGIN { print a + b }'); nrun=$((nrun + 1))
    if [ "$init" = pretrained ]; then total_pre=$(awk -v a="$total_pre" -v b="$w" 'BEGIN { print a + b }')
    else total_rnd=$(awk -v a="$total_rnd" -v b="$w" 'BEGIN { print a + b }'); fi
  done <<< "$all_runs"
  echo
  echo "Wall time (whole \`finetune\` run: loading, training, dev evaluations, test): $nrun runs (with the rate tuning's), **$(mmss "$total")** in all"
  echo "($(mmss "$total_pre") from the pretrained model, $(mmss "$total_rnd") from random init), summed over runs; runs side by"
  echo "side (\`--jobs\`) overlap in time."
  echo
  echo "## Commands"
  echo
  echo "The table, as run (paths relative to the repository):"
  echo
  echo '```'
  printf 'scripts/learning_table.sh --pretrained %s' "$pretrained"
  [ -n "$pretrain_log" ] && printf ' --pretrain-log %s' "$pretrain_log"
  printf ' --data %s --threads %s --jobs %s --tasks "%s"' "$data" "$threads" "$njobs" "$(echo $tasks)"
  [ -n "$seeds" ] && printf ' --seeds "%s"' "$(echo $seeds)"
  printf ' --lrs-pretrained "%s" --lrs-random "%s" --tune-task %s' "$(echo $lrs_pretrained)" "$(echo $lrs_random)" "$tune_task"
  echo
  echo '```'
  echo
  echo "Each fine-tune, the rate tuning's first, then cheapest first (each ran with \`--threads\` as in the table above):"
  echo
  echo '```'
  while read -r _ t s init lr; do [ -n "$t" ] && command_of "$t" "$s" "$init" "$lr"; done <<< "$all_runs"
  echo '```'
} > "$tmp"
mv "$tmp" "$report"
echo "wrote $report"
[ "$failed" = 0 ] || { echo "$script_name: error: some runs failed (see the logs above); the report shows them as not run" >&2; exit 1; }
}

main "$@"
