#!/usr/bin/env bash
# The pretrain-then-fine-tune results table: test MCC and accuracy on
# GUE prom_core_tata, prom_300_tata, tf_human_0 and a CNNProm set (E. coli σ70,
# split by `dnabert split`), fine-tuned from a pretrained model and, as a
# control, from random initialisation (`finetune --random-init`: the same config
# and vocabulary, no pretrained weights), next to DNABERT-6's published MCC.
# Every run's wall time is measured; the table goes to bench/FINETUNE.md.
#
#   scripts/finetune_table.sh [--pretrained MODEL_DIR [--pretrain-log LOG]] [--threads N]
#                             [--out DIR] [--dnabert BIN] [--data DIR] [--report FILE] [--report-only]
#                             [--note TEXT]
#
# Without --pretrained it first pretrains the tiny preset on human chrX (the
# command in the report's header). A finished run (its
# results, wall time and identical command on disk) is reused, so an
# interrupted table resumes where it stopped. --report-only runs nothing and
# writes the report from the runs that have finished (the others show "—").
# --note adds a paragraph to the report (e.g. what else ran on the machine).
set -euo pipefail

# The whole script is one function, read before it runs, so editing this file
# does not disturb a table that is being produced.
main() {
here=$(cd "$(dirname "$0")/.." && pwd)
script_name=finetune_table.sh
source "$here/scripts/table_lib.sh"  # timed, mmss, tsv_col
pretrained="" pretrain_log="" threads=1 out="$here/out/finetune_table" data="$here/../shared/data"
dnabert="$here/build/dnabert" report="$here/bench/FINETUNE.md" report_only=0 note=""
while [ $# -gt 0 ]; do
  case "$1" in
    --pretrained) pretrained=$2; shift 2 ;;
    --pretrain-log) pretrain_log=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --dnabert) dnabert=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --report) report=$2; shift 2 ;;
    --report-only) report_only=1; shift ;;
    --note) note=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "finetune_table.sh: error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$dnabert" ] || { echo "finetune_table.sh: error: $dnabert: not an executable (build first or give --dnabert)" >&2; exit 2; }
[ -d "$data/gue" ] || { echo "finetune_table.sh: error: $data/gue: no such directory (give --data)" >&2; exit 2; }
data=$(cd "$data" && pwd)
mkdir -p "$out"
db=("$dnabert" --threads "$threads")

# 1. Pretraining (or the given model).
pretrain=("${db[@]}" pretrain --fasta "$data/genomes/human_GRCh37_chrX_first70Mb.fa.gz" --k 6 --config tiny
  --max-len 320 --batch 16 --steps 800 --lr 1e-3 --warmup 60 --mask-rate 0.15 --eval-every 100 --eval-batches 8
  --seed 1 --heldout-fraction 0.01 --out "$out/pretrain")
if [ -z "$pretrained" ]; then
  timed "$out/pretrain" "$out/pretrain/model/model.safetensors" "${pretrain[@]}"
  pretrained="$out/pretrain/model"
  pretrain_cmd="\`${pretrain[*]}\`"
  pretrain_wall="$(mmss "$(cat "$out/pretrain.wall")") (measured by this script)"
  pretrain_log="$out/pretrain.log"
else
  [ -f "$pretrained/model.safetensors" ] || { echo "finetune_table.sh: error: $pretrained: no model.safetensors" >&2; exit 2; }
  pretrain_cmd="given (\`--pretrained $pretrained\`), not run by this script; without --pretrained it runs
\`${pretrain[*]}\`"
  pretrain_wall="unknown (give --pretrain-log)"
  if [ -n "$pretrain_log" ]; then
    done_line=$(grep -m1 '^done: ' "$pretrain_log" || true)
    done_line=${done_line#done: }
    [ -n "$done_line" ] && pretrain_wall="${done_line%%;*} (from $pretrain_log)"
  fi
fi
pretrain_eval=$(grep -h '^held-out masked-token accuracy' "$pretrain_log" 2>/dev/null | tail -1 || true)

# 2. CNNProm has no published split: a fixed, seeded, stratified one.
cnnprom="$out/data/cnnprom_ecoli"
timed "$out/split_cnnprom_ecoli" "$cnnprom/test.csv" "${db[@]}" split \
  --pos "$data/cnnprom/Ecoli_prom.fa.gz" --neg "$data/cnnprom/Ecoli_non_prom.fa.gz" \
  --fractions 0.8,0.1,0.1 --seed 42 --out "$cnnprom"

# 3. Fine-tuning: the hyperparameters of README's first fine-tuning runs (lr 1e-4,
#    batch 32, warm-up 10 %, seed 42, selection by dev MCC; 2 epochs, 1 for the
#    32k-example tf_human_0), the same for both initialisations. Cheapest first.
#    task|train|dev|test|epochs|published DNABERT-6 MCC x100
tasks=(
  "prom_core_tata|$data/gue/prom_core_tata/train.csv.gz|$data/gue/prom_core_tata/dev.csv.gz|$data/gue/prom_core_tata/test.csv.gz|2|76.06"
  "cnnprom_ecoli|$cnnprom/train.csv|$cnnprom/dev.csv|$cnnprom/test.csv|2|—"
  "tf_human_0|$data/gue/tf_human_0/train.csv.gz|$data/gue/tf_human_0/dev.csv.gz|$data/gue/tf_human_0/test.csv.gz|1|66.84"
  "prom_300_tata|$data/gue/prom_300_tata/train.csv.gz|$data/gue/prom_300_tata/dev.csv.gz|$data/gue/prom_300_tata/test.csv.gz|2|61.56"
)
for t in "${tasks[@]}"; do
  IFS='|' read -r task train dev test epochs _ <<< "$t"
  mkdir -p "$out/$task"
  for init in pretrained random; do
    flag=(); [ "$init" = random ] && flag=(--random-init)
    timed "$out/$task/$init" "$out/$task/$init/eval_results.tsv" "${db[@]}" finetune --init "$pretrained" "${flag[@]}" \
      --train "$train" --dev "$dev" --test "$test" --out "$out/$task/$init" \
      --epochs "$epochs" --lr 1e-4 --batch 32 --warmup-ratio 0.1 --seed 42 --metric mcc
  done
done

# 4. The report. Test metrics come from each run's eval_results.tsv (by column name).
cell() {  # cell RUN_DIR -> "MCC×100 | acc | AUC | wall"
  local f="$1/eval_results.tsv"
  if [ ! -f "$f" ] || [ ! -f "$1.wall" ]; then printf '— | — | — | not run'; return; fi
  awk -v m="$(tsv_col "$f" test mcc)" -v a="$(tsv_col "$f" test accuracy)" -v u="$(tsv_col "$f" test auc)" \
    'BEGIN { printf "%.2f | %.4f | %.4f", 100 * m, a, u }'
  printf ' | %s' "$(mmss "$(cat "$1.wall")")"
}
order=(prom_core_tata prom_300_tata tf_human_0 cnnprom_ecoli)
tmp="$report.tmp.$$"
{
  echo "# Fine-tuning results: pretrained vs random initialisation"
  echo
  echo "Produced by \`scripts/finetune_table.sh\` on $(date -u +%Y-%m-%d) (dnabert $("${db[@]}" --version | sed 's/^dnabert //'),"
  echo "commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$here" diff --quiet 2>/dev/null || echo ' plus uncommitted changes'))."
  echo "Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; every run used \`--threads $threads\`."
  echo
  echo "Test-set scores of the checkpoint best on dev (MCC, as the GUE paper reports it, ×100). *pretrained*:"
  echo "fine-tuned from the model below; *random init*: the same architecture, vocabulary and fine-tuning"
  echo "command with \`--random-init\` (seeded N(0, 0.02) weights, no pretraining). Wall: whole \`finetune\` run"
  echo "(loading, training, dev evaluation each epoch, test evaluation)."
  [ -n "$note" ] && printf '\n%s\n' "$note"
  echo
  echo "| task | epochs | DNABERT-6 published MCC×100 | pretrained MCC×100 | acc | AUC | wall | random-init MCC×100 | acc | AUC | wall |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  for task in "${order[@]}"; do
    for t in "${tasks[@]}"; do
      IFS='|' read -r name _ _ _ epochs published <<< "$t"
      [ "$name" = "$task" ] || continue
      label="GUE \`$task\`"; [ "$task" = cnnprom_ecoli ] && label="CNNProm E. coli σ70 (own split)"
      echo "| $label | $epochs | $published | $(cell "$out/$task/pretrained") | $(cell "$out/$task/random") |"
    done
  done
  echo
  echo "CNNProm has no DNABERT-6 figure; its own paper (Umarov & Solovyev 2017) reports a correlation coefficient"
  echo "of 0.84 for E. coli σ70 under cross-validation, a different protocol from this fixed split."
  echo
  echo "Pretrained model: \`$pretrained\` ($(sed -n 's/.*"num_hidden_layers": *\([0-9]*\).*/\1/p' "$pretrained/config.json") layers ×"
  echo "$(sed -n 's/.*"hidden_size": *\([0-9]*\).*/\1/p' "$pretrained/config.json") hidden, model.safetensors sha256 \`$(sha256sum "$pretrained/model.safetensors" | cut -c1-16)…\`)."
  echo "Pretraining wall time: $pretrain_wall."
  [ -n "$pretrain_eval" ] && echo "Pretraining result: $pretrain_eval."
  echo
  echo "Pretraining: $pretrain_cmd."
  echo
  echo "CNNProm split (E. coli σ70 promoters vs. non-promoters, 81 bp; 80/10/10 per class, seed 42):"
  echo
  echo '```'
  cat "$out/split_cnnprom_ecoli.cmd" 2>/dev/null || echo "(not run)"
  sed 's/^/  /' "$out/split_cnnprom_ecoli.log" 2>/dev/null || true
  echo '```'
  echo
  echo "Fine-tuning commands (in run order):"
  echo
  echo '```'
  for t in "${tasks[@]}"; do
    IFS='|' read -r task _ <<< "$t"
    cat "$out/$task/pretrained.cmd" "$out/$task/random.cmd" 2>/dev/null || true
  done
  echo '```'
} > "$tmp"
mv "$tmp" "$report"
echo "wrote $report"
}

main "$@"
