// One BERT workload of the side-by-side benchmark with PyTorch:
// bench/torch_bench.py runs the same workloads, config, data rule and FLOP
// formula in torch, and bench/compare.py puts the two side by side.
//
// Usage: bench_train WORKLOAD PRECISION [steps] [warmup]
//   WORKLOAD  train-tiny | train-small | train-base | infer-base | infer-tiny
//   PRECISION fp32 | bf16 (kernels::select_precision: every GEMM rounds its
//             inputs to bf16 and accumulates in fp32; all else stays fp32)
// Threads: BENCH_THREADS (default 2). DNABERT_PROFILE=1 adds a per-op table.
// Turns: with BENCH_SYNC_GO and BENCH_SYNC_DONE (FIFOs, bench/interleave.py),
// each step waits for a byte on GO and then writes one to DONE, and the
// results wait for one more byte (steps of several engines in turn).
//
// train-*: one MLM + AdamW step = zero_grad, forward (dropout 0.1),
// mlm_forward (the MLM head, and the last layer after its keys and values,
// run only on the masked rows), backward, gradient clipping at 1.0 and the
// AdamW update, exactly as a pretraining step does (models/training/trainer.cpp).
// infer-*: forward in inference mode (no tape, no dropout) and MLM logits
// over every position, [B·T, V].
// Data: every row is [CLS] + T-2 uniform random k-mer ids + [SEP] (no padding,
// attention mask all ones); position i = b·T + t (0 < t < T-1) is masked iff
// frac(i · 0.6180339887…) < 0.15 (a golden-ratio sequence, so exactly the same
// positions in both engines, ~15% of them), its id replaced by [MASK]. The
// batch is the same every step.
// Prints a readable summary and one line "RESULT {json}" for compare.py.
#include <fcntl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/profile.h"
#include "engine/threads.h"
#include "models/network/bert.h"
#include "models/training/masking.h"
#include "models/training/optimizer.h"
#include "ops/kernels/kernels.h"

namespace {

using dnabert::engine::Tensor;
namespace models = dnabert::models;
namespace profile = dnabert::engine::profile;

struct Workload {
  const char* name;
  bool train;
  const char* preset;  // models/network/config.cpp: tiny 4×256, small 6×512, base 12×768 (FFN 4H, heads H/64)
  int64_t T, B;
};

constexpr Workload kWorkloads[] = {
    {"train-tiny", true, "tiny", 128, 32},  {"train-small", true, "small", 256, 16},
    {"train-base", true, "base", 512, 8},   {"infer-base", false, "base", 512, 8},
    {"infer-tiny", false, "tiny", 128, 64},
};
constexpr int kVocab = 4101;  // 6-mers: 4^6 + 5 special tokens
constexpr int32_t kCls = 2, kSep = 3, kMask = 4, kFirstKmer = 5;
constexpr double kMaskRate = 0.15;
// The peaks (fp32, bf16; FLOP/s at the threads of the run) that the "% of
// peak" column divides by: the running CPU's, measured by bench_peak, which
// bench/run.sh passes in DNABERT_PEAK_FP32 and DNABERT_PEAK_BF16 (GFLOP/s).
// Without them, a fixed 447 and 896 GFLOP/s (one 2-core Xeon's) stand in.
double peak_flops(const char* env, double fallback) {
  const char* v = std::getenv(env);
  return v && std::atof(v) > 0 ? std::atof(v) * 1e9 : fallback;
}

// The golden-ratio rule of the header comment (torch_bench.py has the same).
bool is_masked(int64_t i) {
  const double x = static_cast<double>(i) * 0.6180339887498949;
  return x - static_cast<double>(static_cast<int64_t>(x)) < kMaskRate;
}

// Matmul FLOPs of one forward pass (2 per multiply-add), the formula both
// engines report: per token and layer 2·(4H² + 2HF) for the Q, K, V, output,
// FFN-up and FFN-down projections plus 2·2·T·H for QKᵀ and P·V; per row of
// the MLM head 2·H² (transform) + 2·H·V (decoder). Training counts 3× the
// forward (backward = 2 products per forward product), no recomputation.
double forward_flops(const models::BertConfig& c, int64_t B, int64_t T, int64_t head_rows) {
  const double H = c.hidden_size, F = c.intermediate_size, L = c.num_hidden_layers, V = c.vocab_size;
  const double tokens = static_cast<double>(B * T);
  const double encoder = tokens * L * (2 * (4 * H * H + 2 * H * F) + 4 * static_cast<double>(T) * H);
  const double head = static_cast<double>(head_rows) * (2 * H * H + 2 * H * V);
  return encoder + head;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Process CPU time, all threads: on a shared machine, CPU seconds per step
// show the work done when wall time is stretched by other jobs.
double cpu_now() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// The turn-taking of bench/interleave.py; no-ops without its FIFOs.
class Turns {
 public:
  Turns() {
    const char *go = std::getenv("BENCH_SYNC_GO"), *done = std::getenv("BENCH_SYNC_DONE");
    if (!go || !done) return;
    go_ = open(go, O_RDONLY);
    if (go_ < 0) fail((std::string("cannot open BENCH_SYNC_GO ") + go + ": " + std::strerror(errno)).c_str());
    done_ = open(done, O_WRONLY);
    if (done_ < 0) fail((std::string("cannot open BENCH_SYNC_DONE ") + done + ": " + std::strerror(errno)).c_str());
  }
  void wait() const {
    char c;
    if (go_ >= 0 && read(go_, &c, 1) != 1) fail("BENCH_SYNC_GO closed before this process's turn");
  }
  void done() const {
    const char c = 'd';
    if (done_ >= 0 && write(done_, &c, 1) != 1) fail("cannot write to BENCH_SYNC_DONE");
  }

 private:
  [[noreturn]] static void fail(const char* what) {
    std::fprintf(stderr, "bench_train: %s\n", what);
    std::exit(2);
  }
  int go_ = -1, done_ = -1;
};

void print_profile(double step_seconds, int steps) {
  std::printf("\nper-op profile (wall time of the calling thread, inclusive; %% of the median step):\n");
  std::printf("| region | calls/step | ms/step | %% of step |\n|---|---:|---:|---:|\n");
  double ops_total = 0;
  for (const profile::Region& r : profile::regions()) {
    const double ms = 1e3 * r.seconds / steps;
    if (r.name.rfind("step.", 0) != 0) ops_total += ms;
    std::printf("| %s | %.1f | %.2f | %.1f%% |\n", r.name.c_str(), static_cast<double>(r.calls) / steps, ms,
                100.0 * ms / (1e3 * step_seconds));
  }
  std::printf("| (all op regions) | | %.2f | %.1f%% |\n", ops_total, 100.0 * ops_total / (1e3 * step_seconds));
  std::printf("| (outside the ops: model glue, tape, optimiser) | | %.2f | %.1f%% |\n", 1e3 * step_seconds - ops_total,
              100.0 - 100.0 * ops_total / (1e3 * step_seconds));
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_train WORKLOAD PRECISION [steps] [warmup]\n"
               "  WORKLOAD: train-tiny | train-small | train-base | infer-base | infer-tiny\n"
               "  PRECISION: fp32 | bf16\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string wname = argv[1], precision = argv[2];
  const int steps = argc > 3 ? std::atoi(argv[3]) : 5;
  const int warmup = argc > 4 ? std::atoi(argv[4]) : 2;
  const Workload* w = nullptr;
  for (const Workload& c : kWorkloads)
    if (wname == c.name) w = &c;
  if (!w || (precision != "fp32" && precision != "bf16") || steps < 1 || warmup < 0) return usage();

  nlohmann::json result = {{"engine", "dnabert"}, {"workload", w->name}, {"precision", precision}};
  namespace kn = dnabert::ops::kernels;
  // bf16: every GEMM rounds its inputs to bf16 and accumulates in fp32
  // (VDPBF16PS where the CPU has it); weights, activations and the rest stay fp32.
  kn::select_precision(kn::parse_precision(precision));
  const std::string gemm_kind =
      kn::selected_precision() != kn::Precision::BF16     ? "fp32 fma"
      : kn::selected_backend() == kn::Backend::OneDnn ? "oneDNN bf16 matmul"
                                                      : kn::bf16_gemm_kind(kn::selected_isa());

  const int threads = std::getenv("BENCH_THREADS") ? std::atoi(std::getenv("BENCH_THREADS")) : 2;
  dnabert::engine::set_num_threads(threads);
  models::BertConfig config = models::BertConfig::preset(w->preset, kVocab);
  const int64_t B = w->B, T = w->T;

  // The batch (see the header comment).
  std::mt19937_64 gen(1234);
  std::uniform_int_distribution<int32_t> kmer(kFirstKmer, kVocab - 1);
  std::vector<int32_t> ids(static_cast<size_t>(B * T)), labels(ids.size(), models::kIgnoreLabel);
  int64_t masked = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      const int64_t i = b * T + t;
      ids[i] = t == 0 ? kCls : t == T - 1 ? kSep : kmer(gen);
      if (t > 0 && t < T - 1 && is_masked(i)) labels[i] = ids[i], ids[i] = kMask, ++masked;
    }

  models::Bert model(config, models::Heads::MaskedLM, 42);
  models::AdamWOptions ao;
  ao.lr = 4e-4;
  ao.warmup_steps = 1;
  ao.total_steps = 1000000;
  // Inference runs without an optimiser: its two moment buffers would count in the peak RSS.
  std::optional<models::AdamW> opt;
  if (w->train) opt.emplace(model.params(), ao);
  dnabert::engine::Arena arena;

  auto run_step = [&](int step) {
    models::BertInputs in;
    in.input_ids = Tensor::from_ints({B, T}, ids, &arena);
    in.attention_mask = Tensor::from_ints({B, T}, std::vector<int32_t>(ids.size(), 1), &arena);
    if (!w->train) {
      dnabert::engine::Tape tape(arena, dnabert::engine::Tape::Mode::Inference);
      Tensor logits;
      {
        DNABERT_PROFILE_SCOPE("step.forward");
        logits = model.mlm_logits(tape, model.encode(tape, in, {}));
      }
      return static_cast<double>(logits.f32()[0]);
    }
    model.params().zero_grad();
    dnabert::engine::Tape tape(arena);
    Tensor loss;
    {
      DNABERT_PROFILE_SCOPE("step.forward");
      loss = model.mlm_forward(tape, in, Tensor::from_ints({B, T}, labels, &arena), {7, static_cast<uint64_t>(step)});
    }
    {
      DNABERT_PROFILE_SCOPE("step.backward");
      tape.backward(loss);
    }
    DNABERT_PROFILE_SCOPE("step.adamw");
    opt->step();
    return static_cast<double>(loss.f32()[0]);
  };

  const auto& kt = kn::active();
  std::printf("%s %s: %s (%lld parameters), B %lld × T %lld, %lld masked rows; isa %s, backend %s, gemm %s, "
              "%d threads; load %s\n",
              w->name, precision.c_str(), w->preset, static_cast<long long>(model.params().numel()),
              static_cast<long long>(B), static_cast<long long>(T), static_cast<long long>(masked), kt.isa,
              kn::backend_name(kn::selected_backend()), gemm_kind.c_str(), dnabert::engine::num_threads(),
              loadavg().c_str());
  const bool profiling = profile::enabled();
  double last = 0;
  const Turns turns;
  for (int s = 0; s < warmup; ++s) {
    turns.wait();
    last = run_step(s);
    turns.done();
  }
  profile::reset();
  std::vector<double> secs, cpu_secs;
  for (int s = 0; s < steps; ++s) {
    turns.wait();
    const double t0 = now(), c0 = cpu_now();
    last = run_step(warmup + s);
    secs.push_back(now() - t0);
    cpu_secs.push_back(cpu_now() - c0);
    turns.done();
  }
  turns.wait();  // print and exit in turn too
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);

  const double step_s = median(secs), tokens = static_cast<double>(B * T);
  double mean = 0;
  for (double s : secs) mean += s / static_cast<double>(secs.size());
  const double flops = (w->train ? 3.0 : 1.0) * forward_flops(config, B, T, w->train ? masked : B * T);
  const double peak = precision == "bf16" ? peak_flops("DNABERT_PEAK_BF16", 896e9) : peak_flops("DNABERT_PEAK_FP32", 447e9);
  result.update({{"threads", dnabert::engine::num_threads()},
                 {"isa", kt.isa},
                 {"gemm", gemm_kind},
                 {"steps", steps},
                 {"warmup", warmup},
                 {"step_s_median", step_s},
                 {"step_s_mean", mean},
                 {"step_s_all", secs},
                 {"cpu_s_median", median(cpu_secs)},
                 {"tokens_per_s", tokens / step_s},
                 {"seqs_per_s", static_cast<double>(B) / step_s},
                 {"gflop_per_step", flops / 1e9},
                 {"gflops", flops / step_s / 1e9},
                 {"pct_peak", 100.0 * flops / step_s / peak},
                 {"peak_rss_mib", static_cast<double>(ru.ru_maxrss) / 1024.0},
                 {"arena_peak_mib", static_cast<double>(arena.stats().peak_bytes) / (1 << 20)},
                 {"arena_reserved_mib", static_cast<double>(arena.stats().reserved_bytes) / (1 << 20)},
                 {"params_mib", static_cast<double>(model.params().numel()) * 4 / (1 << 20)},
                 {"masked_rows", masked},
                 {"last_value", last},
                 {"profiled", profiling},
                 {"load_after", loadavg()}});
  std::printf("median step %.4f s (mean %.4f), %.0f tokens/s, %.2f seqs/s, %.1f GFLOP/s = %.1f%% of peak, "
              "peak RSS %.0f MiB\n",
              step_s, mean, tokens / step_s, static_cast<double>(B) / step_s, flops / step_s / 1e9,
              100.0 * flops / step_s / peak, static_cast<double>(ru.ru_maxrss) / 1024.0);
  std::printf("memory: parameters %.0f MiB (+ as much for gradients, 2x for Adam moments when training); arena "
              "peak in use %.0f MiB, reserved %.0f MiB\n",
              static_cast<double>(model.params().numel()) * 4 / (1 << 20),
              static_cast<double>(arena.stats().peak_bytes) / (1 << 20),
              static_cast<double>(arena.stats().reserved_bytes) / (1 << 20));
  if (profiling) print_profile(step_s, steps);
  std::printf("RESULT %s\n", result.dump().c_str());
  return 0;
}
