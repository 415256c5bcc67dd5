#!/usr/bin/env bash
# Turns a finished `dnabert pretrain` run into a model folder users start
# from: config.json, model.safetensors and vocab.txt (HF BertForMaskedLM, the
# run's model/), the loss curve (loss.svg), the held-out evaluations
# (eval.jsonl) and PROVENANCE.md: the exact command, the commit, the data with
# sha256, the machine, wall time, tokens seen and the held-out loss, which it
# re-measures from the copied model with `dnabert evaluate-mlm`.
#
#   scripts/package_pretrained.sh RUN_DIR DEST --command "dnabert pretrain ..." \
#       [--commit REV] [--wall SECONDS] [--dnabert BIN]
#
# RUN_DIR is the run's --out (with log.jsonl, loss.svg, model/ and a
# checkpoint holding trainer_state.json); the command must be the one that ran
# (paths relative to the repository). Writes DEST atomically (temp + rename).
set -euo pipefail
main() {
here=$(cd "$(dirname "$0")/.." && pwd -P)
source "$here/scripts/table_lib.sh"  # mmss, cpu_model
run="" dest="" command="" commit="" wall="" dnabert="$here/build/dnabert"
die() { echo "package_pretrained.sh: error: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --command|--commit|--wall|--dnabert) [ $# -ge 2 ] || die "$1 needs a value" ;;&
    --command) command=$2; shift 2 ;;
    --commit) commit=$2; shift 2 ;;
    --wall) wall=$2; shift 2 ;;
    --dnabert) dnabert=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) if [ -z "$run" ]; then run=$1; elif [ -z "$dest" ]; then dest=$1; else die "extra argument '$1'"; fi; shift ;;
  esac
done
[ -n "$run" ] && [ -n "$dest" ] && [ -n "$command" ] || die "give RUN_DIR DEST --command CMD (see --help)"
for f in log.jsonl loss.svg model/config.json model/model.safetensors model/vocab.txt; do
  [ -f "$run/$f" ] || die "$run/$f: missing (is the run finished?)"
done
state=$(ls -d "$run"/checkpoint-*/trainer_state.json 2>/dev/null | sort -V | tail -1)
[ -n "$state" ] || die "$run: no checkpoint-*/trainer_state.json"
[ -x "$dnabert" ] || die "$dnabert: not an executable (build first or give --dnabert)"

# The folder as the repository's files name it (relative to the root when inside it).
dest_name=$(realpath -m --relative-to="$here" "$dest")
case "$dest_name" in ../*) dest_name=$(realpath -m "$dest") ;; esac
tmp="$dest.tmp.$$"
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
cp "$run/model/config.json" "$run/model/model.safetensors" "$run/model/vocab.txt" "$run/loss.svg" "$tmp/"
grep '"eval_loss"' "$run/log.jsonl" > "$tmp/eval.jsonl"

# The run's settings (fingerprint) and data, from its checkpoint and command.
fp=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fingerprint"])' "$state")
read -r steps tokens masked seconds < <(python3 - "$run/log.jsonl" <<'PY'
import json, sys
steps = tokens = masked = 0; seconds = 0.0
for line in open(sys.argv[1]):
    j = json.loads(line)
    if "loss" in j:
        steps += 1; tokens += j["tokens"]; masked += j["masked"]; seconds += j["seconds"]
print(steps, tokens, masked, round(seconds, 1))
PY
)
last_eval=$(tail -1 "$tmp/eval.jsonl")
fasta=$(sed -n 's/.*--fasta \([^ ]*\).*/\1/p' <<< "$command")
sha=""
for f in $fasta; do
  [ -f "$here/$f" ] && sha+="$(cd "$here" && sha256sum "$f")"$'\n'
done
# Re-measure the held-out loss from the copied files with the run's options.
read -r max_len batch seed p < <(python3 -c 'import json,sys; f=json.loads(sys.argv[1]); print(f["max_len"], f["batch"], f["seed"], f["mlm_probability"])' "$fp")
eval_batches=$(sed -n 's/.*--eval-batches \([0-9]*\).*/\1/p' <<< "$command"); eval_batches=${eval_batches:-4}
remeasured=$("$dnabert" evaluate-mlm --model "$tmp" --fasta $(for f in $fasta; do echo "$here/$f"; done) \
  --max-len "$max_len" --batch "$batch" --eval-batches "$eval_batches" --seed "$seed" --mlm-probability "$p" \
  --out "$tmp/heldout.json" | sed "s#$tmp#$dest_name#")
{
  echo "# Provenance of \`$(basename "$dest")\`"
  echo
  echo "A DNABERT-style masked-LM model (HF \`BertForMaskedLM\`: \`config.json\`, \`model.safetensors\`,"
  echo "\`vocab.txt\`), pretrained from scratch by this repository's \`dnabert pretrain\`, unchanged."
  echo
  echo "- Command (from the repository root):"
  echo
  echo '  ```'
  echo "  $command"
  echo '  ```'
  echo "- Commit of the binary: \`${commit:-$(git -C "$here" rev-parse --short HEAD)}\`; $("$dnabert" --version 2>&1 | head -1)"
  echo "- Machine: $(cpu_model), $(nproc) cores; the run used \`--threads\` as in the command."
  echo "- Steps: $steps; tokens seen: $tokens (of them masked and predicted: $masked)."
  echo "- Time: $(mmss "${wall:-$seconds}") wall${wall:+ (the whole command)}; the steps themselves $(mmss "$seconds")."
  echo "- Settings (the run's resume fingerprint): \`$fp\`"
  echo "- Data (sha256, path relative to the repository):"
  echo
  echo '  ```'
  printf '%s' "$sha" | sed 's/^/  /'
  echo '  ```'
  echo "- Last held-out evaluation logged by the run: \`$last_eval\`"
  echo "- Re-measured from these files: $remeasured"
  echo
  echo "\`eval.jsonl\` holds every held-out evaluation of the run, \`loss.svg\` its curves, \`heldout.json\`"
  echo "the re-measured figures."
} | sed "s#$here/##g" > "$tmp/PROVENANCE.md"
sed -i "s#$tmp#$dest_name#g; s#$here/##g" "$tmp/heldout.json"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "wrote $dest"
}
main "$@"
