# Data-parallel training under mpirun (2 ranks on loopback), only in an MPI
# build with mpirun installed (openmpi-bin): tests/mpi/*.sh.
if(MPI_CXX_FOUND AND MPIEXEC_EXECUTABLE AND NOT DNABERT_SANITIZE)
  foreach(name pretrain_ranks finetune_ranks rank_killed)
    add_test(NAME mpi_${name}
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tests/mpi/${name}.sh ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:dnabert>
              ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/mpi_${name})
    set_tests_properties(mpi_${name} PROPERTIES ENVIRONMENT "OMP_WAIT_POLICY=PASSIVE" TIMEOUT 120)
  endforeach()
else()
  message(STATUS "MPI or mpirun not found: multi-rank training is not tested")
endif()
