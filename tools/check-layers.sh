#!/usr/bin/env bash
# The layers of the source tree, and a check that no #include crosses them the
# wrong way. Run by the build (CMakeLists.txt, target dnabert_layers) on every
# change to a source file, so a layering violation fails the build.
#
#   tools/check-layers.sh [SOURCE_DIR]
#
# Each folder may include only the folders listed for it (its own included).
# The arrows, lowest first:
#   base <- engine <- ops <- models <- cli
#   base <- tokenizer
#   engine, tokenizer <- io <- models
# and inside io/ and models/, along the data flow:
#   io/formats <- io/data;  io/formats <- io/report
#   models/network <- models/training;  models/network <- models/analysis
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"

allowed() {  # FOLDER: the include prefixes it may use
  case "$1" in
    base) echo "base" ;;
    engine) echo "base engine" ;;
    ops) echo "base engine ops" ;;
    tokenizer) echo "base tokenizer" ;;
    io/formats) echo "base engine tokenizer io/formats" ;;
    io/data) echo "base engine tokenizer io/formats io/data" ;;
    io/report) echo "base io/formats io/report" ;;
    models/network) echo "base engine ops tokenizer io models/network" ;;
    models/training) echo "base engine ops tokenizer io models/network models/training" ;;
    models/analysis) echo "base engine ops tokenizer io models/network models/analysis" ;;
    cli) echo "base engine ops tokenizer io models cli" ;;
    *) return 1 ;;
  esac
}

status=0
while IFS= read -r file; do
  dir=${file%/*}
  case "$dir" in io/*|models/*) layer=${dir%%/*}/$(cut -d/ -f2 <<< "$dir") ;; *) layer=${dir%%/*} ;; esac
  if ! prefixes=$(allowed "$layer"); then
    echo "$file: error: $layer/ is not a layer this check knows; add it to tools/check-layers.sh" >&2
    status=1
    continue
  fi
  while IFS=: read -r line target; do
    ok=0
    for p in $prefixes; do
      case "$target" in "$p"/*) ok=1; break ;; esac
    done
    if [ $ok = 0 ]; then
      echo "$file:$line: error: $layer/ may not include \"$target\" (allowed: ${prefixes// /, })" >&2
      status=1
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[a-z_]+/' "$file" |
             sed -E 's/^([0-9]+):[^"]*"([^"]+)".*/\1:\2/' || true)
done < <(find base engine ops tokenizer io models cli -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.inc' \) | sort)
[ $status = 0 ] && echo "layers: every #include follows the arrows"
exit $status
