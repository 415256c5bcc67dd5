// Data-parallel training across processes (MPI ranks), and the one summation
// order that makes a run's result independent of how many ranks it used.
//
// The unit of work is the micro-batch. An optimiser step sums the gradients of
// S micro-batches (global indices 0..S-1) in a fixed pairwise tree: the
// "binary counter" order of pairwise summation. Leaves are added in pairs
// (0+1, 2+3, …), pairs in pairs, and so on; when S is not a power of two the
// remaining perfect subtrees are folded from the last one back to the first.
// N ranks each own a contiguous block of m = S/N micro-batches. When m is a
// power of two, a rank's block is a perfect subtree, so the rank sums its
// block locally (PairwiseSum) and the ranks then combine their N partial sums
// with the same tree over rank indices (allreduce_pairwise): every rank count
// with S/N a power of two gives the same bits as one rank running all S.
// (Float addition is commutative, so a+b and b+a are the same bits; only the
// tree's shape matters.)
//
// Built without MPI (DNABERT_HAVE_MPI undefined), or run without mpirun, the
// job is a single rank and every collective is a no-op.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/param_set.h"
#include "engine/tensor.h"

namespace dnabert::engine::dist {

// Initialises MPI if this process was started by mpirun (idempotent; a
// single-rank job otherwise). The engine never prints or ends the process: a
// failed MPI call throws dnabert::CommError naming the cause, and the caller
// decides what to say and calls abort_job (an exception must not unwind into
// MPI_Finalize in a job of several ranks, which would wait forever for the
// others).
void start_job();
// Ends every rank of the job with `exit_code` (MPI_Abort); in a single-rank
// job, this process alone. For the caller's top-level error handler.
[[noreturn]] void abort_job(int exit_code);

int rank();   // 0 in a single-rank job
int size();   // 1 in a single-rank job
bool is_lead();  // rank 0: the only rank that writes files and logs

// Sums `n` floats over all ranks in the pairwise tree over rank indices (see
// above); every rank receives identical bits. For a power-of-two rank count it
// runs recursive halving (reduce-scatter) then recursive doubling (allgather),
// each rank sending 2(N-1)/N·n floats; otherwise it gathers every rank's
// buffer and folds them locally in the same order. Works through the data in
// buckets of kBucketFloats.
void allreduce_pairwise(float* data, int64_t n);
constexpr int64_t kBucketFloats = int64_t{1} << 22;  // 16 MiB

// Exact sums over ranks (integers, or doubles where at most one rank
// contributes a non-zero value per element, which makes any order exact).
void allreduce_sum(int64_t* data, int64_t n);
void allreduce_sum(double* data, int64_t n);

// Copies rank 0's bytes to every rank.
void broadcast(void* data, int64_t bytes);
void broadcast(std::string& text);
void broadcast(const Tensor& t);  // into t's storage: f32, the same shape on every rank

void barrier();

// Incremental pairwise (binary-counter) sum of equal-length float vectors, the
// order described above. push() each vector but the last (copied or merged,
// so the caller may overwrite it afterwards), then finish() with the last
// one, which receives the total. Scratch buffers are kept across rounds.
class PairwiseSum {
 public:
  explicit PairwiseSum(int64_t n) : n_(n) {}
  void push(const float* x);
  void finish(float* last_and_total);
  // finish() on elements [lo, hi) only, keeping the pushed vectors: call it on
  // disjoint ranges covering [0, n) (from any one thread at a time), then
  // clear(). Every element receives the additions finish() would give it.
  void fold_range(float* last_and_total, int64_t lo, int64_t hi) const;
  void clear();

 private:
  struct Entry {
    int level;
    Tensor buffer;
  };
  Tensor take_buffer();
  int64_t n_;
  std::vector<Entry> stack_;
  std::vector<Tensor> free_;
};

// The gradient of one optimiser step over S micro-batches in this order. Call
// after each of this rank's micro-batches (params.grads() holding that
// micro-batch's gradient alone): add() for all but the last, which moves the
// gradient aside and zeroes params.grads(); finish() after the last, which
// leaves the global sum over every rank's micro-batches in params.grads().
//
// Overlap with the backward pass: the flat gradient buffer is cut at
// `splits` (offsets, e.g. where each encoder layer's parameters start) into
// chunks that every rank exchanges in the same order, the last chunk first.
// Installed on the tape of this rank's last micro-batch, ready_hook() hands a
// chunk to an exchange thread as soon as the backward pass has finished
// writing it (Tape::mark_grads_ready_from), so the sums over ranks of the
// upper layers run while the lower layers' gradients are computed; finish()
// exchanges the rest and waits. The chunks change only which elements travel
// together, never an element's additions, so the result is the same bits as
// without overlap. Multi-rank jobs only, and only where MPI grants
// MPI_THREAD_SERIALIZED; DNABERT_OVERLAP=0 turns it off.
class GradientSum {
 public:
  GradientSum(const ParamSet& params, std::vector<int64_t> splits = {});
  ~GradientSum();
  GradientSum(const GradientSum&) = delete;
  GradientSum& operator=(const GradientSum&) = delete;
  void add();
  // For Tape::set_grads_ready_hook on the last micro-batch; empty when not overlapping.
  std::function<void(int64_t)> ready_hook();
  void finish();
  bool overlapping() const { return exchanger_ != nullptr; }

 private:
  void exchange(size_t chunk);  // fold over micro-batches, then sum over ranks
  const ParamSet& params_;
  PairwiseSum sum_;
  std::vector<int64_t> bounds_;  // chunk c is [bounds_[c], bounds_[c + 1])
  struct Exchanger;
  std::unique_ptr<Exchanger> exchanger_;
};

}  // namespace dnabert::engine::dist
