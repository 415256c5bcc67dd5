# The release build on CPUs without AVX-512 (Haswell: AVX2) and without any
# AVX (qemu64: baseline x86-64), emulated by qemu-user. Each run lets the
# dispatcher pick the ISA itself, so a stray AVX-512 or AVX instruction in
# generic code would crash here with SIGILL.
find_program(QEMU_X86_64 qemu-x86_64)
if(QEMU_X86_64 AND NOT DNABERT_SANITIZE)  # sanitizer runtimes do not run under qemu-user
  foreach(cpu_isa "Haswell;avx2" "qemu64;scalar")
    list(GET cpu_isa 0 cpu)
    list(GET cpu_isa 1 isa)
    add_test(NAME cpu_${cpu}_version COMMAND ${QEMU_X86_64} -cpu ${cpu} $<TARGET_FILE:dnabert> --version)
    set_tests_properties(cpu_${cpu}_version PROPERTIES PASS_REGULAR_EXPRESSION "isa ${isa},")
    # Emulation is slow: every op test, and the larger all-ops determinism run.
    add_test(NAME cpu_${cpu}_test_ops COMMAND ${QEMU_X86_64} -cpu ${cpu} $<TARGET_FILE:test_ops>)
    add_test(NAME cpu_${cpu}_test_kernels
      COMMAND ${QEMU_X86_64} -cpu ${cpu} $<TARGET_FILE:test_kernels> "--test-case-exclude=gemm matches*")
    add_test(NAME cpu_${cpu}_test_training
      COMMAND ${QEMU_X86_64} -cpu ${cpu} $<TARGET_FILE:test_training> "--test-case=*bit-identical*")
    set_tests_properties(cpu_${cpu}_test_ops cpu_${cpu}_test_kernels cpu_${cpu}_test_training
      PROPERTIES ENVIRONMENT "OMP_WAIT_POLICY=PASSIVE")
  endforeach()
else()
  message(STATUS "qemu-x86_64 not found: AVX2-only and baseline CPU runs are not tested")
endif()
