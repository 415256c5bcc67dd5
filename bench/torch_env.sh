# PyTorch's tuned profile for the side-by-side benchmark. Source it,
# then run /usr/bin/python3 bench/torch_bench.py; torch_bench.py prints what
# actually got loaded (OpenBLAS core, libraries from /proc/self/maps, ATen's
# CPU capability), so every setting below is checked in the output.
#
# - OPENBLAS_CORETYPE: unset, since an environment that sets it to Haswell
#   makes OpenBLAS use its AVX2 kernels (half the vector width of the AVX-512
#   SkylakeX ones).
# - the OpenMP build of OpenBLAS (libopenblas0-openmp): torch's libblas.so.3
#   and libopenblas.so.0 resolve there first; it shares libgomp with torch, so
#   torch.set_num_threads governs the GEMMs too.
# - tcmalloc (libtcmalloc-minimal4): torch's CPU allocator is plain malloc.
# - ATEN_CPU_CAPABILITY=avx512: Debian's torch 1.13 defaults to its AVX2
#   kernels for elementwise ops even on AVX-512 machines.
unset OPENBLAS_CORETYPE
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
export LD_LIBRARY_PATH="/usr/lib/$MULTIARCH/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_PRELOAD="/usr/lib/$MULTIARCH/libtcmalloc_minimal.so.4${LD_PRELOAD:+:$LD_PRELOAD}"
export ATEN_CPU_CAPABILITY=avx512
# - OpenBLAS 0.3.21 does not know CPUs newer than itself and then falls back
#   to its SSE3 "Prescott" core. Where the core it picks is not an AVX-512 one
#   but the CPU has AVX-512, name the core from the CPU's flags: Cooperlake
#   (SkylakeX's kernels plus bf16) with AVX512_BF16, else SkylakeX; likewise
#   Haswell for an AVX2 CPU it does not recognise.
_ob_core=$(/usr/bin/python3 -c 'import ctypes; o = ctypes.CDLL("libopenblas.so.0"); o.openblas_get_corename.restype = ctypes.c_char_p; print(o.openblas_get_corename().decode())' 2>/dev/null || echo "?")
_ob_flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
_ob_has() { for f; do [[ $_ob_flags == *" $f "* ]] || return 1; done; }
case "$_ob_core" in
  SkylakeX | Cooperlake | SapphireRapids) ;;
  *)
    if _ob_has avx512f avx512bw avx512vl avx512dq; then
      if _ob_has avx512_bf16; then export OPENBLAS_CORETYPE=Cooperlake; else export OPENBLAS_CORETYPE=SkylakeX; fi
    elif [[ $_ob_core != Haswell && $_ob_core != Zen ]] && _ob_has avx2 fma; then
      export OPENBLAS_CORETYPE=Haswell
    fi
    ;;
esac
unset _ob_core _ob_flags
unset -f _ob_has
