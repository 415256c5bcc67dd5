# shellcheck shell=bash disable=SC2154
# Shared pieces of the results-table scripts (finetune_table.sh, learning_table.sh),
# sourced by them. Expects $script_name (for messages) and $report_only (1: run nothing).

# same_command A B: the two command lines are the same but for the path of the
# program (its first word): a copy of the binary elsewhere runs the same run.
same_command() { [ "${1#* }" = "${2#* }" ]; }

# timed NAME DONE_FILE CMD...: runs CMD with stdout+stderr in NAME.log unless a
# finished run (DONE_FILE and NAME.wall exist, NAME.cmd holds the same command,
# see same_command) is there; leaves the wall time (seconds) in NAME.wall and
# the command in NAME.cmd.
timed() {
  local name=$1 done_file=$2; shift 2
  local cmd="$*"
  if [ -f "$done_file" ] && [ -f "$name.wall" ] && same_command "$(cat "$name.cmd" 2>/dev/null)" "$cmd"; then
    echo "reusing $name ($(cat "$name.wall") s)"; return 0
  fi
  [ "$report_only" = 1 ] && return 0
  echo "running: $cmd"
  rm -f "$name.wall"
  local t0 t1
  t0=$(date +%s.%N)
  "$@" > "$name.log" 2>&1 || { echo "$script_name: error: failed, see $name.log" >&2; tail -3 "$name.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  printf '%s\n' "$cmd" > "$name.cmd"
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", b - a }' > "$name.wall"
}

# mmss SECONDS: m:ss (h:mm:ss from an hour on).
mmss() {
  awk -v s="$1" 'BEGIN { s = int(s + 0.5); if (s >= 3600) printf "%d:%02d:%02d", s / 3600, s % 3600 / 60, s % 60;
    else printf "%d:%02d", s / 60, s % 60 }'
}

# tsv_col FILE ROW COLUMN: the COLUMN (by header name) of the row whose first field is ROW.
tsv_col() {
  awk -F'\t' -v row="$2" -v name="$3" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i }
    $1 == row && c { print $c }' "$1"
}

# cpu_model: the CPU's model name, as /proc/cpuinfo gives it.
cpu_model() { sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -1; }
