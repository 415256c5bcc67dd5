# PyTorch's tuned profile for the side-by-side benchmark (issue 5). Source it,
# then run /usr/bin/python3 bench/torch_bench.py; torch_bench.py prints what
# actually got loaded (OpenBLAS core, libraries from /proc/self/maps, ATen's
# CPU capability), so every setting below is checked in the output.
#
# - OPENBLAS_CORETYPE: these machines' environment sets it to Haswell, which
#   makes OpenBLAS use its AVX2 kernels (half the AVX-512 SkylakeX ones).
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
