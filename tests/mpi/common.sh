# Shared set-up of the tests/mpi/*.sh scripts, sourced with the script's
# arguments MPIRUN DNABERT SOURCE_DIR WORK_DIR: a fresh WORK_DIR as the current
# directory, and `launch2`, the mpirun command line for 2 ranks on loopback.
set -euo pipefail
mpirun=$1 dnabert=$2 src=$3 work=$4
rm -rf "$work" && mkdir -p "$work" && cd "$work"
export OMP_WAIT_POLICY=PASSIVE OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Loopback TCP only: no shared-memory single-copy (blocked in many containers), no network needed.
# ctest runs other tests beside these on the same cores, so a rank waiting in MPI yields its core
# instead of spinning (OpenMPI spins by default).
launch2=("$mpirun" --oversubscribe --bind-to none -np 2 --mca btl self,tcp --mca btl_tcp_if_include lo
         --mca oob_tcp_if_include lo --mca mpi_yield_when_idle 1)
