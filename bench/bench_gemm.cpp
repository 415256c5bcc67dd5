// How close is our fp32 GEMM to oneDNN's on the products BERT-base runs?
// For every shape, ours (the active kernel table, i.e. the native backend)
// and dnnl_sgemm run alternately in the same process on the same buffers:
// a warm-up call each, then `repeats` timed calls each, in an order reversed
// every other repeat; the table shows the medians. Linear shapes are given as
// rows × out × in and run as the three products a linear layer issues:
// forward y = x·Wᵀ (NT), input gradient dx = dy·W (NN), weight gradient
// dW = dyᵀ·x (TN, K = rows). Attention products run 96 (batch × head) GEMMs
// in an OpenMP loop over the batch (heads handed out as threads come free),
// as ops/attention.cpp does, with the
// strides of [B, T, H] tensors.
// The bf16 columns time our bf16 GEMM (--precision bf16: inputs rounded to
// bf16 while packing, fp32 accumulation; VDPBF16PS where the CPU has
// AVX512_BF16) on the same shapes, against a bf16 peak of twice the fp32 one
// where VDPBF16PS runs (two multiply-adds per lane where VFMADD does one),
// else the fp32 one (the emulated path multiplies on fp32 FMAs).
// The last column checks that 1 and 2 threads give the same bits.
// Usage: bench_gemm [repeats=7] [threads=2] [fp32 peak GFLOP/s of those threads, as bench_peak
// measures it; 447 if absent] [only rows whose
// shape or product contains this text] [cpu: time with process CPU time]
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <time.h>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <fstream>
#include <string>
#include <vector>

#include "engine/threads.h"
#include "ops/kernels/kernels.h"

namespace {

namespace k = dnabert::ops::kernels;

struct Case {
  std::string shape, role;
  bool ta, tb;
  int64_t batch, M, N, K, lda, ldb, ldc;
  // Batch entry i of an operand starts at (i / heads)·outer + (i % heads)·inner:
  // a [B, T, H] tensor's head (outer T·H, inner D) or a dense [BH, T, T] one.
  int64_t heads, outer[3], inner[3];
  int64_t offset(int op, int64_t i) const { return i / heads * outer[op] + i % heads * inner[op]; }
};

// Operands live in 2 MiB-aligned huge-page memory, as the engine's Arena
// gives tensors of 2 MiB and more (with 4 KiB pages, packing the rows of a
// 48 MB matrix is bound by TLB misses, for oneDNN as for us).
struct HugeVec {
  float* p = nullptr;
  size_t n = 0;
  void resize(size_t count) {
    constexpr size_t kHuge = size_t{2} << 20;
    n = count;
    const size_t bytes = (count * sizeof(float) + kHuge - 1) / kHuge * kHuge;
    p = static_cast<float*>(std::aligned_alloc(kHuge, bytes));
    madvise(p, bytes, MADV_HUGEPAGE);
    std::memset(p, 0, bytes);
  }
  ~HugeVec() { std::free(p); }
  float* data() { return p; }
  size_t size() const { return n; }
  float* begin() { return p; }
  float* end() { return p + n; }
  float& operator[](size_t i) { return p[i]; }
};

struct Buffers {
  HugeVec a, b, c;
};

using GemmFn = k::GemmFn;

void onednn_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void run(const Case& c, GemmFn f, Buffers& buf) {
  if (c.batch == 1) {
    f(c.ta, c.tb, c.M, c.N, c.K, 1.0f, buf.a.data(), c.lda, buf.b.data(), c.ldb, 0.0f, buf.c.data(), c.ldc);
    return;
  }
  const float *a = buf.a.data(), *b = buf.b.data();
  float* out = buf.c.data();
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < c.batch; ++i)
    f(c.ta, c.tb, c.M, c.N, c.K, 1.0f, a + c.offset(0, i), c.lda, b + c.offset(1, i), c.ldb, 0.0f,
      out + c.offset(2, i), c.ldc);
}

// Wall time, or with `cpu` the process CPU time (on a loaded machine the
// single-thread CPU time is the fairer measure of a kernel; spinning OpenMP
// waits count as CPU time, so use it with 1 thread).
bool g_cpu_time = false;

double now() {
  timespec ts;
  clock_gettime(g_cpu_time ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double seconds(const Case& c, GemmFn f, Buffers& buf) {
  const double t0 = now();
  run(c, f, buf);
  return now() - t0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "?";
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

bool same_bits_1_vs_n(const Case& c, GemmFn f, Buffers& buf, int threads) {
  dnabert::engine::set_num_threads(1);
  run(c, f, buf);
  std::vector<float> one(buf.c.begin(), buf.c.end());
  dnabert::engine::set_num_threads(threads);
  run(c, f, buf);
  return std::memcmp(one.data(), buf.c.data(), one.size() * sizeof(float)) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 7;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const double peak = argc > 3 ? std::atof(argv[3]) : 447.0;
  const double peak_bf16 = std::string(k::bf16_gemm_kind(k::selected_isa())) == "vdpbf16ps" ? 2 * peak : peak;
  g_cpu_time = argc > 5 && std::string(argv[5]) == "cpu";
  dnabert::engine::set_num_threads(threads);
  const k::KernelTable& ours = k::active();
  const GemmFn ours_bf16 = k::bf16_gemm_for(k::selected_isa());

  std::vector<Case> cases;
  // Linear layers: rows × out × in.
  // BENCH_GEMM_LINEAR="4096x512x512,4096x2048x512" replaces the BERT-base linear shapes (rows x out x in).
  std::vector<std::array<int64_t, 3>> linear_shapes = {{4096, 768, 768}, {4096, 3072, 768}, {4096, 768, 3072},
                                                       {4096, 4101, 768}};
  if (const char* env = std::getenv("BENCH_GEMM_LINEAR")) {
    linear_shapes.clear();
    for (std::string rest = env; !rest.empty();) {
      const size_t comma = rest.find(',');
      const std::string one = rest.substr(0, comma);
      rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
      long long r = 0, o = 0, i = 0;
      if (std::sscanf(one.c_str(), "%lldx%lldx%lld", &r, &o, &i) != 3 || r <= 0 || o <= 0 || i <= 0) {
        std::fprintf(stderr, "bench_gemm: BENCH_GEMM_LINEAR: '%s' is not ROWSxOUTxIN\n", one.c_str());
        return 2;
      }
      linear_shapes.push_back({r, o, i});
    }
  }
  for (auto [rows, out, in] : linear_shapes) {
    const std::string s = std::to_string(rows) + "x" + std::to_string(out) + "x" + std::to_string(in);
    cases.push_back({s, "fwd x·Wᵀ", false, true, 1, rows, out, in, in, in, out, 1, {}, {}});
    cases.push_back({s, "dx = dy·W", false, false, 1, rows, in, out, out, in, in, 1, {}, {}});
    cases.push_back({s, "dW = dyᵀ·x", true, false, 1, out, in, rows, out, in, in, 1, {}, {}});
  }
  // Attention, B = 8, T = 512, H = 768, 12 heads of D = 64: q, k, v are [B, T, H].
  {
    const int64_t B = 8, T = 512, H = 768, NH = 12, D = 64, BH = B * NH;
    const int64_t TH = T * H, TT = T * T;
    cases.push_back({"96x(512x512x64)", "S = q·kᵀ", false, true, BH, T, T, D, H, H, T, NH, {TH, TH, NH * TT},
                     {D, D, TT}});
    cases.push_back({"96x(512x64x512)", "o = P·v", false, false, BH, T, D, T, T, H, H, NH, {NH * TT, TH, TH},
                     {TT, D, D}});
    cases.push_back({"96x(512x64x512)", "dv = Pᵀ·do", true, false, BH, T, D, T, T, H, H, NH, {NH * TT, TH, TH},
                     {TT, D, D}});
  }

  std::printf("machine: %s, %d threads, load average before: %s\n", cpu_model().c_str(), threads, loadavg().c_str());
  std::printf("ours: isa %s, bf16 gemm %s; oneDNN %d.%d.%d dnnl_sgemm; %d timed repeats after a warm-up, medians of "
              "%s time\n\n",
              ours.isa, k::bf16_gemm_kind(k::selected_isa()),
              dnnl_version()->major, dnnl_version()->minor, dnnl_version()->patch, repeats,
              g_cpu_time ? "process CPU" : "wall");
  std::printf("| shape | product | M×N×K | layout | ours GFLOP/s | oneDNN GFLOP/s | ours/oneDNN | ours %% of peak | "
              "ours bf16 GFLOP/s | bf16 %% of %.0f | 1t = %dt bits (ours, oneDNN, ours bf16) |\n",
              peak_bf16, threads);
  std::printf("|---|---|---|---|---:|---:|---:|---:|---:|---:|---|\n");
  const std::string only = argc > 4 ? argv[4] : "";
  for (const Case& c : cases) {
    if (!only.empty() && (c.shape + " " + c.role).find(only) == std::string::npos) continue;
    // Buffers big enough for the batch with its strides and leading dims.
    auto extent = [&](int op, bool t, int64_t rows, int64_t cols, int64_t ld) {
      const int64_t r = t ? cols : rows;
      return static_cast<size_t>(c.offset(op, c.batch - 1) + (r - 1) * ld + (t ? rows : cols) + 64);
    };
    Buffers buf;
    // Inputs uniform in [-1, 1) from a 64-bit LCG (fast; the values do not matter).
    uint64_t state = 7;
    auto uniform = [&state] {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      return static_cast<float>(static_cast<int64_t>(state >> 40) - (1 << 23)) / static_cast<float>(1 << 23);
    };
    buf.a.resize(extent(0, c.ta, c.M, c.K, c.lda));
    buf.b.resize(extent(1, c.tb, c.K, c.N, c.ldb));
    buf.c.resize(extent(2, false, c.M, c.N, c.ldc));
    for (auto& x : buf.a) x = uniform();
    for (auto& x : buf.b) x = uniform();
    const double flops = 2.0 * c.batch * c.M * c.N * c.K;
    seconds(c, ours.gemm, buf);
    std::vector<float> c_ours(buf.c.begin(), buf.c.end());
    seconds(c, onednn_gemm, buf);
    double worst = 0;
    for (size_t i = 0; i < c_ours.size(); ++i)
      worst = std::max(worst, static_cast<double>(std::fabs(c_ours[i] - buf.c[i])) / (1.0 + std::fabs(buf.c[i])));
    seconds(c, ours_bf16, buf);
    std::vector<double> t_ours, t_dnnl, t_bf16;
    // Alternate the order (ours, oneDNN, bf16, then bf16, oneDNN, ours): a
    // virtual machine's speed can drift within seconds, and a fixed order
    // would give whichever runs first in each repeat a systematic share of it.
    const std::pair<GemmFn, std::vector<double>*> engines[] = {
        {ours.gemm, &t_ours}, {onednn_gemm, &t_dnnl}, {ours_bf16, &t_bf16}};
    for (int r = 0; r < repeats; ++r)
      for (int e = 0; e < 3; ++e) {
        const auto& [fn, times] = engines[r % 2 == 0 ? e : 2 - e];
        times->push_back(seconds(c, fn, buf));
      }
    const double g_ours = flops / median(t_ours) / 1e9, g_dnnl = flops / median(t_dnnl) / 1e9,
                 g_bf16 = flops / median(t_bf16) / 1e9;
    const bool det_ours = same_bits_1_vs_n(c, ours.gemm, buf, threads);
    const bool det_dnnl = same_bits_1_vs_n(c, onednn_gemm, buf, threads);
    const bool det_bf16 = same_bits_1_vs_n(c, ours_bf16, buf, threads);
    auto same = [](bool b) { return b ? "same" : "DIFFER"; };
    std::printf("| %s | %s | %ldx%ldx%ld%s | %c%c | %.1f | %.1f | %.3f | %.1f%% | %.1f | %.1f%% | %s, %s, %s |\n",
                c.shape.c_str(), c.role.c_str(), static_cast<long>(c.M), static_cast<long>(c.N),
                static_cast<long>(c.K), c.batch > 1 ? " x96" : "", c.ta ? 'T' : 'N', c.tb ? 'T' : 'N', g_ours, g_dnnl,
                g_ours / g_dnnl, 100.0 * g_ours / peak, g_bf16, 100.0 * g_bf16 / peak_bf16, same(det_ours),
                same(det_dnnl), same(det_bf16));
    if (worst > 1e-3) std::printf("  WARNING: ours and oneDNN differ by %.3g (relative)\n", worst);
    std::fflush(stdout);
  }
  std::printf("\nload average after: %s\n", loadavg().c_str());
  return 0;
}
