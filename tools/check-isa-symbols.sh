#!/usr/bin/env bash
# Fails if a per-ISA kernel object shares a linkable (weak/COMDAT) symbol with
# any other object. Such a symbol (an inline function or template compiled with
# -mavx512f, say) could be picked by the linker for generic code and then crash
# with SIGILL on a CPU without that ISA. Usage: check-isa-symbols.sh OBJECT...
set -euo pipefail
isa_objs=() other_objs=()
for o in "$@"; do
  case "$o" in
    *kernels_avx512*|*kernels_avx2*) isa_objs+=("$o") ;;
    *) other_objs+=("$o") ;;
  esac
done
[[ ${#isa_objs[@]} -gt 0 ]] || { echo "no per-ISA kernel objects given" >&2; exit 1; }
defined() { nm --defined-only "$1" | awk '$2 ~ /^[WVuTBDR]$/ {print $3}' | sort -u; }
# DW.ref.__gxx_personality_v0 is a data pointer every C++ object shares: harmless.
weak() { nm --defined-only "$1" | awk '$2 ~ /^[WVu]$/ && $3 !~ /^DW.ref./ {print $3}' | sort -u; }
status=0
for o in "${isa_objs[@]}"; do
  for p in "${isa_objs[@]}" "${other_objs[@]}"; do
    [[ "$o" == "$p" ]] && continue
    shared=$(comm -12 <(weak "$o") <(defined "$p") || true)
    if [[ -n "$shared" ]]; then
      echo "$(basename "$o") shares symbols with $(basename "$p"):" >&2
      echo "$shared" | c++filt | head -20 >&2
      status=1
    fi
  done
done
[[ $status -eq 0 ]] && echo "ok: ${#isa_objs[@]} ISA objects share no linkable symbol with ${#other_objs[@]} others"
exit $status
