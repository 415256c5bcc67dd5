#include "engine/distributed.h"

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include "base/error.h"
#include "engine/profile.h"
#include "engine/threads.h"

#ifdef DNABERT_HAVE_MPI
#include <mpi.h>
#endif

namespace dnabert::engine::dist {

namespace {

constexpr int64_t kAddGrain = int64_t{1} << 16;

// True on the gradient exchange thread, whose additions stay on that thread
// (the OpenMP workers are busy with the backward pass).
thread_local bool tls_serial = false;

// a[i] += b[i]: elementwise, so the chunking cannot change a bit.
void add_into(float* a, const float* b, int64_t n) {
  if (tls_serial) {
    for (int64_t i = 0; i < n; ++i) a[i] += b[i];
    return;
  }
  parallel_for(n, kAddGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) a[i] += b[i];
  });
}

// mpirun (OpenMPI, MPICH/Hydra, PMIx launchers) exports these to its processes.
bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

#ifdef DNABERT_HAVE_MPI
MPI_Comm g_comm = MPI_COMM_NULL;  // a duplicate of MPI_COMM_WORLD carrying our error handler
int g_rank = 0, g_size = 1;
bool g_serialized = false;  // MPI granted MPI_THREAD_SERIALIZED: another thread may make the calls

// Every MPI call's result: a failure throws, naming the operation and MPI's reason.
void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  throw CommError(std::string("MPI communication failed in ") + what + " (" + std::string(text, len) +
                  "); another rank probably died or the network failed");
}

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void init() {
  if (g_comm != MPI_COMM_NULL || !launched_by_mpirun()) return;
  int provided = 0;
  // One thread at a time talks to MPI: the main thread, or the gradient
  // exchange thread while the main thread runs a backward pass (GradientSum);
  // OpenMP workers never do.
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
  g_serialized = provided >= MPI_THREAD_SERIALIZED;
  MPI_Comm_dup(MPI_COMM_WORLD, &g_comm);
  // Failed calls return their code (check() turns it into a CommError) instead of aborting.
  MPI_Comm_set_errhandler(g_comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(g_comm, &g_rank);
  MPI_Comm_size(g_comm, &g_size);
  // A peer that dies closes its sockets; a write to one must come back as an
  // MPI error (a CommError to the caller), not as a
  // SIGPIPE that kills this rank silently and makes mpirun blame it.
  if (g_size > 1) std::signal(SIGPIPE, SIG_IGN);
  std::atexit(finalize_at_exit);
}

int count_of(int64_t n) { return static_cast<int>(n); }  // callers keep n <= kBucketFloats

// Recursive halving then doubling over a power-of-two number of ranks. Stage
// `mask` pairs rank r with r^mask; both hold the same range, the lower rank
// keeps its lower half. Stages go mask = 1, 2, 4, …, so sums form the
// pairwise tree over rank indices.
void halving_doubling(float* d, int64_t len, std::vector<float>& tmp) {
  struct Range {
    int64_t lo, hi;
  };
  std::vector<Range> parents;
  int64_t lo = 0, hi = len;
  for (int mask = 1; mask < g_size; mask <<= 1) {
    const int partner = g_rank ^ mask;
    const bool lower = (g_rank & mask) == 0;
    const int64_t mid = lo + (hi - lo) / 2;
    const int64_t keep_lo = lower ? lo : mid, keep_hi = lower ? mid : hi;
    const int64_t send_lo = lower ? mid : lo, send_hi = lower ? hi : mid;
    check(MPI_Sendrecv(d + send_lo, count_of(send_hi - send_lo), MPI_FLOAT, partner, mask, tmp.data(),
                       count_of(keep_hi - keep_lo), MPI_FLOAT, partner, mask, g_comm, MPI_STATUS_IGNORE),
          "the gradient reduce-scatter");
    add_into(d + keep_lo, tmp.data(), keep_hi - keep_lo);
    parents.push_back({lo, hi});
    lo = keep_lo;
    hi = keep_hi;
  }
  for (int mask = g_size >> 1; mask >= 1; mask >>= 1) {
    const Range p = parents.back();
    parents.pop_back();
    const int partner = g_rank ^ mask;
    const bool lower = (g_rank & mask) == 0;
    const int64_t mid = p.lo + (p.hi - p.lo) / 2;
    const int64_t other_lo = lower ? mid : p.lo, other_hi = lower ? p.hi : mid;
    check(MPI_Sendrecv(d + lo, count_of(hi - lo), MPI_FLOAT, partner, g_size + mask, d + other_lo,
                       count_of(other_hi - other_lo), MPI_FLOAT, partner, g_size + mask, g_comm, MPI_STATUS_IGNORE),
          "the gradient allgather");
    lo = p.lo;
    hi = p.hi;
  }
}

// Any rank count: everyone gathers every partial sum and folds them in rank order.
void gather_fold(float* d, int64_t len, std::vector<float>& all) {
  all.resize(static_cast<size_t>(len * g_size));
  check(MPI_Allgather(d, count_of(len), MPI_FLOAT, all.data(), count_of(len), MPI_FLOAT, g_comm),
        "the gradient allgather");
  PairwiseSum sum(len);
  for (int r = 0; r + 1 < g_size; ++r) sum.push(all.data() + r * len);
  float* last = all.data() + (g_size - 1) * len;
  sum.finish(last);
  std::memcpy(d, last, static_cast<size_t>(len) * sizeof(float));
}
#else
constexpr int g_rank = 0, g_size = 1;
constexpr bool g_serialized = false;
// Several copies of a single-rank build would each believe they are rank 0 and write the same files.
void init() {
  const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!n) n = std::getenv("PMI_SIZE");
  if (launched_by_mpirun() && (!n || std::atoi(n) > 1))
    throw UsageError("started by mpirun, but this dnabert was built without MPI; install libopenmpi-dev and rebuild");
}
#endif

}  // namespace

int rank() { return g_rank; }
int size() { return g_size; }
bool is_lead() { return g_rank == 0; }

void start_job() { init(); }

void abort_job(int exit_code) {
#ifdef DNABERT_HAVE_MPI
  if (g_comm != MPI_COMM_NULL) MPI_Abort(MPI_COMM_WORLD, exit_code);
#endif
  std::_Exit(exit_code);
}

void allreduce_pairwise(float* data, int64_t n) {
#ifdef DNABERT_HAVE_MPI
  if (g_size == 1) return;
  const bool power_of_two = (g_size & (g_size - 1)) == 0;
  std::vector<float> scratch;
  for (int64_t b = 0; b < n; b += kBucketFloats) {
    const int64_t len = std::min(kBucketFloats, n - b);
    if (power_of_two) {
      scratch.resize(static_cast<size_t>(len / 2 + 1));
      halving_doubling(data + b, len, scratch);
    } else {
      gather_fold(data + b, len, scratch);
    }
  }
#endif
}

void allreduce_sum(int64_t* data, int64_t n) {
#ifdef DNABERT_HAVE_MPI
  if (g_size > 1) check(MPI_Allreduce(MPI_IN_PLACE, data, count_of(n), MPI_INT64_T, MPI_SUM, g_comm), "a sum over ranks");
#endif
}

void allreduce_sum(double* data, int64_t n) {
#ifdef DNABERT_HAVE_MPI
  if (g_size > 1) check(MPI_Allreduce(MPI_IN_PLACE, data, count_of(n), MPI_DOUBLE, MPI_SUM, g_comm), "a sum over ranks");
#endif
}

void broadcast(void* data, int64_t bytes) {
#ifdef DNABERT_HAVE_MPI
  if (g_size == 1) return;
  constexpr int64_t kPiece = int64_t{1} << 30;
  for (int64_t off = 0; off < bytes; off += kPiece)
    check(MPI_Bcast(static_cast<char*>(data) + off, count_of(std::min(kPiece, bytes - off)), MPI_BYTE, 0, g_comm),
          "a broadcast from rank 0");
#endif
}

void broadcast(std::string& text) {
  if (g_size == 1) return;
  int64_t length = static_cast<int64_t>(text.size());
  broadcast(&length, sizeof length);
  text.resize(static_cast<size_t>(length));
  broadcast(text.data(), length);
}

void broadcast(const Tensor& t) { broadcast(t.f32(), t.numel() * static_cast<int64_t>(sizeof(float))); }

void barrier() {
#ifdef DNABERT_HAVE_MPI
  if (g_size > 1) check(MPI_Barrier(g_comm), "a barrier");
#endif
}

Tensor PairwiseSum::take_buffer() {
  if (free_.empty()) return Tensor::empty({n_});
  Tensor t = std::move(free_.back());
  free_.pop_back();
  return t;
}

void PairwiseSum::push(const float* x) {
  // Merge with every finished subtree of the same size, like a binary counter's carry.
  Tensor current;  // undefined while the running value is still `x` itself
  int level = 0;
  while (!stack_.empty() && stack_.back().level == level) {
    Tensor top = std::move(stack_.back().buffer);
    stack_.pop_back();
    add_into(top.f32(), current.defined() ? current.f32() : x, n_);
    if (current.defined()) free_.push_back(std::move(current));
    current = std::move(top);
    ++level;
  }
  if (!current.defined()) {
    current = take_buffer();
    std::memcpy(current.f32(), x, static_cast<size_t>(n_) * sizeof(float));
  }
  stack_.push_back({level, std::move(current)});
}

void PairwiseSum::finish(float* last_and_total) {
  fold_range(last_and_total, 0, n_);
  clear();
}

void PairwiseSum::fold_range(float* last_and_total, int64_t lo, int64_t hi) const {
  // The stack's levels fall from bottom to top, so folding from the top first
  // merges the last leaf with its equal-size siblings, then the leftovers.
  for (size_t e = stack_.size(); e-- > 0;) add_into(last_and_total + lo, stack_[e].buffer.f32() + lo, hi - lo);
}

void PairwiseSum::clear() {
  while (!stack_.empty()) {
    free_.push_back(std::move(stack_.back().buffer));
    stack_.pop_back();
  }
}

// The exchange thread: it takes chunks from the top of the buffer down, as
// far as the backward pass has released them.
struct GradientSum::Exchanger {
  std::mutex mu;
  std::condition_variable cv;
  size_t released = 0;  // chunks [released, n) may be exchanged (their gradients are final)
  size_t next = 0;      // chunks [next, n) are done; next - 1 is the one to do next
  bool stop = false;
  std::exception_ptr error;  // a failed exchange (CommError): the thread stops, finish() rethrows
  std::thread thread;
};

GradientSum::GradientSum(const ParamSet& params, std::vector<int64_t> splits)
    : params_(params), sum_(params.numel()) {
  bounds_.push_back(0);
  std::sort(splits.begin(), splits.end());
  for (int64_t s : splits)
    if (s > bounds_.back() && s < params.numel()) bounds_.push_back(s);
  bounds_.push_back(params.numel());
  const char* env = std::getenv("DNABERT_OVERLAP");
  const bool wanted = !(env && std::string(env) == "0");
  if (g_size == 1 || !g_serialized || !wanted || bounds_.size() < 3) return;
  exchanger_ = std::make_unique<Exchanger>();
  const size_t chunks = bounds_.size() - 1;
  exchanger_->released = exchanger_->next = chunks;
  exchanger_->thread = std::thread([this] {
    tls_serial = true;
    Exchanger& ex = *exchanger_;
    std::unique_lock<std::mutex> lock(ex.mu);
    for (;;) {
      ex.cv.wait(lock, [&] { return ex.stop || ex.next > ex.released; });
      if (ex.stop) return;
      const size_t chunk = ex.next - 1;
      lock.unlock();
      try {
        exchange(chunk);
      } catch (...) {
        lock.lock();
        ex.error = std::current_exception();
        ex.cv.notify_all();
        return;
      }
      lock.lock();
      ex.next = chunk;
      ex.cv.notify_all();
    }
  });
}

GradientSum::~GradientSum() {
  if (!exchanger_) return;
  {
    std::lock_guard<std::mutex> lock(exchanger_->mu);
    exchanger_->stop = true;
  }
  exchanger_->cv.notify_all();
  exchanger_->thread.join();
}

void GradientSum::add() {
  sum_.push(params_.grads().f32());
  params_.zero_grad();
}

void GradientSum::exchange(size_t chunk) {
  DNABERT_PROFILE_SCOPE("gradient.exchange_thread");
  const int64_t lo = bounds_[chunk], hi = bounds_[chunk + 1];
  float* g = params_.grads().f32();
  sum_.fold_range(g, lo, hi);
  allreduce_pairwise(g + lo, hi - lo);
}

std::function<void(int64_t)> GradientSum::ready_hook() {
  if (!exchanger_) return {};
  return [this](int64_t offset) {
    // Release every chunk that starts at or above `offset`.
    size_t c = bounds_.size() - 1;
    while (c > 0 && bounds_[c - 1] >= offset) --c;
    Exchanger& ex = *exchanger_;
    std::lock_guard<std::mutex> lock(ex.mu);
    if (c < ex.released) {
      ex.released = c;
      ex.cv.notify_all();
    }
  };
}

void GradientSum::finish() {
  // With overlap, the part of the exchange the backward pass did not hide.
  DNABERT_PROFILE_SCOPE("gradient.finish");
  if (!exchanger_) {
    sum_.finish(params_.grads().f32());
    allreduce_pairwise(params_.grads().f32(), params_.numel());
    return;
  }
  Exchanger& ex = *exchanger_;
  std::unique_lock<std::mutex> lock(ex.mu);
  ex.released = 0;
  ex.cv.notify_all();
  ex.cv.wait(lock, [&] { return ex.next == 0 || ex.error; });
  if (ex.error) std::rethrow_exception(ex.error);
  // Ready for the next step.
  ex.released = ex.next = bounds_.size() - 1;
  lock.unlock();
  sum_.clear();
}

}  // namespace dnabert::engine::dist
