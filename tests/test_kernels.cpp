// The kernel tables directly: GEMM against a double reference on shapes that
// hit every edge (partial register tiles, several K and N blocks), and every
// ISA this CPU runs against the scalar table.
#include <doctest/doctest.h>

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <initializer_list>
#include <utility>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "engine/threads.h"
#include "ops/kernels/kernels.h"

using namespace dnabert;
namespace k = dnabert::ops::kernels;

namespace {

std::vector<float> randn(size_t n, uint64_t seed) {
  engine::Rng r(seed, 3);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(r.normal());
  return v;
}

using GemmFn = decltype(k::KernelTable::gemm);


// Max |got - want| / (1 + |want|) of one GEMM call against double arithmetic.
// `pad` widens every leading dimension beyond the matrix. With `bf16`, the
// reference multiplies the bf16-rounded inputs (what a bf16 GEMM computes).
double gemm_error(GemmFn gemm, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, float beta,
                  int64_t pad = 0, bool bf16 = false) {
  const int64_t lda = (ta ? M + 3 : K + 1) + pad, ldb = (tb ? K + 2 : N + 5) + pad, ldc = N + 7 + pad;
  auto A = randn(static_cast<size_t>((ta ? K : M) * lda), 1);
  auto B = randn(static_cast<size_t>((tb ? N : K) * ldb), 2);
  auto C = randn(static_cast<size_t>(M * ldc), 3);
  if (beta == 0.0f)  // beta == 0: C must not be read, so NaN there must not leak out
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = std::numeric_limits<float>::quiet_NaN();
  auto Ar = A, Br = B;  // the reference's inputs
  if (bf16)
    for (auto* v : {&Ar, &Br})
      for (float& x : *v) x = k::round_to_bf16(x);
  std::vector<double> want(static_cast<size_t>(M * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t p = 0; p < K; ++p)
        s += double(ta ? Ar[p * lda + i] : Ar[i * lda + p]) * double(tb ? Br[j * ldb + p] : Br[p * ldb + j]);
      want[i * N + j] = alpha * s + (beta != 0 ? beta * double(C[i * ldc + j]) : 0.0);
    }
  auto C0 = C;
  gemm(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  double worst = 0;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      const double e = std::fabs(C[i * ldc + j] - want[i * N + j]) / (1.0 + std::fabs(want[i * N + j]));
      worst = std::isnan(e) ? 1e30 : std::max(worst, e);
    }
    for (int64_t j = N; j < ldc; ++j) REQUIRE(C[i * ldc + j] == C0[i * ldc + j]);  // padding untouched
  }
  return worst;
}

// Every layout of one shape, each with the given (alpha, beta) pairs, against the
// double reference. f32 accumulation over K terms of O(1) errs by about ε·√K;
// 8e-6·√K is generous yet far below what a wrong element gives.
void check_gemm_layouts(GemmFn gemm, int64_t M, int64_t N, int64_t K, int64_t pad,
                        std::initializer_list<std::pair<float, float>> alpha_beta, bool bf16 = false) {
  const double tol = 8e-6 * std::sqrt(static_cast<double>(K));
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      CAPTURE(M);
      CAPTURE(N);
      CAPTURE(K);
      CAPTURE(ta);
      CAPTURE(tb);
      for (auto [alpha, beta] : alpha_beta) {
        CAPTURE(alpha);
        CAPTURE(beta);
        CHECK(gemm_error(gemm, ta, tb, M, N, K, alpha, beta, pad, bf16) < tol);
      }
    }
}

// One gemm gives the same bits with 1 and 2 threads on every layout, and in
// the batched form attention uses. Just over the 4 MFLOP at which a product
// is split across threads (kept small: this runs under qemu too): split by
// rows (30 × 20) and, with one row panel, by columns (5 × 70); K is several
// slices deep. `all_layouts` = false keeps the two layouts of a linear layer's
// forward (NT, split by columns) and weight gradient (TN, split by rows):
// threads split C, never the packing, so the rest adds little but qemu time.
void check_thread_invariance(GemmFn gemm, bool all_layouts = true) {
  const int saved = dnabert::engine::num_threads();
  struct Case {
    int64_t M, N, K;
    bool ta, tb;
  };
  // (5 × 70 × 6000 NN packs 2.3 MB of B: with non-temporal stores, shared by both threads.)
  for (Case s : {Case{30, 20, 3600, false, false}, Case{5, 70, 6000, false, true}, Case{30, 20, 3600, true, false},
                 Case{5, 70, 6000, true, true}, Case{5, 70, 6000, false, false}}) {
    if (!all_layouts && s.ta == s.tb) continue;
    CAPTURE(s.M);
    CAPTURE(s.ta);
    CAPTURE(s.tb);
    const int64_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
    auto A = randn(static_cast<size_t>(s.M * s.K), 21), B = randn(static_cast<size_t>(s.K * s.N), 22);
    auto C1 = randn(static_cast<size_t>(s.M * s.N), 23), C2 = C1;
    dnabert::engine::set_num_threads(1);
    gemm(s.ta, s.tb, s.M, s.N, s.K, 0.7f, A.data(), lda, B.data(), ldb, 0.5f, C1.data(), s.N);
    dnabert::engine::set_num_threads(2);
    gemm(s.ta, s.tb, s.M, s.N, s.K, 0.7f, A.data(), lda, B.data(), ldb, 0.5f, C2.data(), s.N);
    CHECK(std::memcmp(C1.data(), C2.data(), C1.size() * sizeof(float)) == 0);
  }
  // The batched form: one GEMM per thread inside a parallel loop, as attention runs it.
  const int64_t batch = 4, M = 40, N = 24, K = 30;
  auto A = randn(static_cast<size_t>(batch * M * K), 24), B = randn(static_cast<size_t>(batch * K * N), 25);
  std::vector<float> C1(static_cast<size_t>(batch * M * N)), C2(C1.size());
  for (int64_t i = 0; i < batch; ++i)
    gemm(false, true, M, N, K, 1.0f, A.data() + i * M * K, K, B.data() + i * K * N, K, 0.0f, C1.data() + i * M * N,
         N);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < batch; ++i)
    gemm(false, true, M, N, K, 1.0f, A.data() + i * M * K, K, B.data() + i * K * N, K, 0.0f, C2.data() + i * M * N,
         N);
  CHECK(C1 == C2);
  dnabert::engine::set_num_threads(saved);
}

struct Shape {
  int64_t M, N, K;
};

}  // namespace

TEST_CASE("gemm matches a double reference on every layout and edge") {
  const k::KernelTable& t = k::active();
  CAPTURE(t.isa);
  for (Shape s : {Shape{1, 1, 1}, Shape{7, 5, 3}, Shape{17, 33, 19}, Shape{64, 64, 64}, Shape{9, 1100, 300},
                  Shape{50, 40, 600}})
    check_gemm_layouts(t.gemm, s.M, s.N, s.K, 0, {{1.0f, 0.0f}, {0.5f, 1.0f}, {-2.0f, 0.25f}});
}

TEST_CASE("gemm matches a double reference across its blocking edges") {
  // K slices are at most 768 deep (256 on the scalar path), register tiles
  // 14×32 (AVX-512), 6×16 (AVX2), 4×4 (scalar), row blocks 224 / 192 / 128,
  // B packed 32 rows at a time, with non-temporal stores from 2 MiB packed.
  // Shapes: K just below / at / above one and two slices, M and N one off a
  // tile, tiny products, a row block plus a partial tile (231 rows with one
  // thread; 462 rows give each of 2 threads 231), large leading dims,
  // and a B of 22 panels × 800 rows (2.25 MB packed, partial last panel).
  // A partial tile of mr rows runs a register tile of mr rounded up to even
  // rows: the shapes' last tiles run every such tile (2, 4, ..., 14 rows on
  // AVX-512; 2, 4, 6 on AVX2).
  const k::KernelTable& t = k::active();
  CAPTURE(t.isa);
  struct Shape {
    int64_t M, N, K, pad;
  };
  for (Shape s : {Shape{15, 33, 767, 0}, Shape{13, 31, 768, 0}, Shape{29, 47, 769, 0}, Shape{7, 17, 1537, 0},
                  Shape{5, 3, 255, 0}, Shape{6, 16, 257, 0}, Shape{2, 2, 2, 0}, Shape{1, 65, 9, 0},
                  Shape{231, 20, 40, 0}, Shape{20, 1539, 12, 0}, Shape{19, 37, 100, 1000}, Shape{9, 49, 100, 0},
                  Shape{17, 97, 40, 0}, Shape{225, 1537, 20, 0}, Shape{3, 700, 800, 0}, Shape{26, 40, 769, 0},
                  Shape{462, 40, 30, 0}})
    check_gemm_layouts(t.gemm, s.M, s.N, s.K, s.pad, {{1.0f, 0.0f}, {-0.5f, 0.75f}});
}

TEST_CASE("gemm gives the same bits with 1 and 2 threads on every layout") {
  const k::KernelTable& t = k::active();
  CAPTURE(t.isa);
  check_thread_invariance(t.gemm);
}

TEST_CASE("the oneDNN backend computes the same products within tolerance") {
  CHECK(k::parse_backend("native") == k::Backend::Native);
  CHECK(k::parse_backend("onednn") == k::Backend::OneDnn);
  CHECK_THROWS(k::parse_backend("mkl"));
  struct Shape {
    int64_t M, N, K;
  };
  for (Shape s : {Shape{1, 1, 1}, Shape{17, 33, 19}, Shape{29, 47, 300}})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        CAPTURE(s.M);
        CAPTURE(ta);
        CAPTURE(tb);
        const double tol = 2e-6 * std::sqrt(static_cast<double>(s.K)) * 4;
        CHECK(gemm_error(k::onednn_gemm, ta, tb, s.M, s.N, s.K, 1.0f, 0.0f) < tol);
        CHECK(gemm_error(k::onednn_gemm, ta, tb, s.M, s.N, s.K, -0.5f, 0.75f) < tol);
      }
  std::vector<float> C{1, 2, 3, 4};
  k::onednn_gemm(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.5f, C.data(), 2);
  CHECK(C == std::vector<float>{0.5f, 1, 1.5f, 2});
  // Selecting the backend swaps the gemm entry only, on the same ISA.
  const k::KernelTable& native = k::active();
  k::select_backend(k::Backend::OneDnn);
  CHECK((k::active().gemm == &k::onednn_gemm));
  CHECK((k::active().gelu_fwd == native.gelu_fwd));
  CHECK(std::string(k::active().isa) == native.isa);
  k::select_backend(k::Backend::Native);
  CHECK((k::active().gemm == native.gemm));
  CHECK(k::selected_backend() == k::Backend::Native);
}

// gemm_tile through the gemm signature (op(B) = B only), on the active table.
static void active_gemm_tile(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                      const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  REQUIRE_FALSE(tb);
  k::active().gemm_tile(ta, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

TEST_CASE("gemm_tile matches a double reference on both layouts and every edge") {
  // Register tiles of 6 rows × 64 columns (AVX-512), 6 × 16 (AVX2), 4 × 4
  // (scalar); then single vectors; then fewer columns than a vector on a
  // padded copy. Shapes: attention's 64×64×64, one vector and one row off
  // each edge, remainders of 1 to 5 rows, a column or a row alone. With
  // op(A) = Aᵀ over more than 8192 floats (K · lda), A's columns are first
  // copied into dense strips of 96: 100x64x130 (a strip of 96 and one of 4)
  // and 50x80x200 (one strip; 80 columns are a 64-wide block and a vector on
  // AVX-512).
  const k::KernelTable& t = k::active();
  CAPTURE(t.isa);
  for (Shape s : {Shape{64, 64, 64}, Shape{67, 64, 64}, Shape{64, 67, 3}, Shape{1, 1, 1}, Shape{5, 80, 17},
                  Shape{7, 15, 64}, Shape{13, 129, 100}, Shape{2, 3, 5}, Shape{9, 48, 1}, Shape{64, 36, 64},
                  Shape{36, 64, 64}, Shape{100, 64, 130}, Shape{50, 80, 200}})
    for (bool ta : {false, true}) {
      CAPTURE(s.M);
      CAPTURE(s.N);
      CAPTURE(s.K);
      CAPTURE(ta);
      const double tol = 8e-6 * std::sqrt(static_cast<double>(s.K));
      for (auto [alpha, beta] : {std::pair{1.0f, 0.0f}, std::pair{0.5f, 1.0f}, std::pair{-2.0f, 0.25f}})
        CHECK(gemm_error(active_gemm_tile, ta, false, s.M, s.N, s.K, alpha, beta) < tol);
    }
}

TEST_CASE("gemm_tile and gemm give the same bits on attention's tiles") {
  // Both sum each element over k in order in one slice and then apply alpha and
  // beta alike, so swapping attention's tile products from gemm to gemm_tile
  // changed no result (checked here on the fp32 table).
  const k::KernelTable& t = k::active();
  if (k::selected_precision() != k::Precision::F32 || k::selected_backend() != k::Backend::Native) return;
  CAPTURE(t.isa);
  for (bool ta : {false, true}) {
    auto A = randn(64 * 64, 31), B = randn(64 * 64, 32), C1 = randn(64 * 64, 33), C2 = C1;
    t.gemm(ta, false, 64, 64, 64, 1.0f, A.data(), 64, B.data(), 64, 1.0f, C1.data(), 64);
    t.gemm_tile(ta, 64, 64, 64, 1.0f, A.data(), 64, B.data(), 64, 1.0f, C2.data(), 64);
    CHECK(std::memcmp(C1.data(), C2.data(), C1.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("gemm's one-thread small-product path (gemm_tile) gives the packed path's bits") {
  // Called inside a parallel region, gemm runs on the calling thread, and a
  // product with one K slice, N a multiple of the vector width and small (or
  // narrow) operands goes to gemm_tile (op(B) = Bᵀ transposed into a scratch
  // buffer first). With 2 threads outside a parallel region the same product
  // (over 4 MFLOP) runs packed and split across threads. Both must give the
  // same bits: attention-shaped NN/TN (N = 64; the TN's Aᵀ is copied into
  // dense strips), NTs with small A and B (N = 256: the transposed B's rows
  // are padded by a cache line); M leaves a remainder of rows, N = 80 a
  // single-vector block, alpha and beta set.
  const k::KernelTable& t = k::active();
  if (k::selected_precision() != k::Precision::F32 || k::selected_backend() != k::Backend::Native) return;
  CAPTURE(t.isa);
  const int saved = dnabert::engine::num_threads();
  dnabert::engine::set_num_threads(2);
  struct Case {
    int64_t M, N, K;
    bool ta, tb;
  };
  for (Case s : {Case{203, 64, 250, false, false}, Case{203, 64, 250, true, false}, Case{161, 80, 200, false, true},
                 Case{161, 80, 200, true, true}, Case{161, 256, 64, false, true}, Case{161, 256, 64, true, true}}) {
    CAPTURE(s.M);
    CAPTURE(s.ta);
    CAPTURE(s.tb);
    const int64_t lda = (s.ta ? s.M : s.K) + 3, ldb = (s.tb ? s.K : s.N) + 5, ldc = s.N + 7;
    auto A = randn(static_cast<size_t>((s.ta ? s.K : s.M) * lda), 41);
    auto B = randn(static_cast<size_t>((s.tb ? s.N : s.K) * ldb), 42);
    auto packed = randn(static_cast<size_t>(s.M * ldc), 43), tiled = packed;
    t.gemm(s.ta, s.tb, s.M, s.N, s.K, 0.7f, A.data(), lda, B.data(), ldb, 0.5f, packed.data(), ldc);
#pragma omp parallel num_threads(2)
    if (omp_get_thread_num() == 0)
      t.gemm(s.ta, s.tb, s.M, s.N, s.K, 0.7f, A.data(), lda, B.data(), ldb, 0.5f, tiled.data(), ldc);
    CHECK(std::memcmp(packed.data(), tiled.data(), packed.size() * sizeof(float)) == 0);
    CHECK(gemm_error(t.gemm, s.ta, s.tb, s.M, s.N, s.K, 0.7f, 0.5f) < 8e-6 * std::sqrt(static_cast<double>(s.K)));
  }
  dnabert::engine::set_num_threads(saved);
}

TEST_CASE("gemm_bias gives the bits of gemm then add_bias or bias_gelu_fwd, on every ISA") {
  for (k::Isa isa : k::supported_isas()) {
    const k::KernelTable& t = k::isa_table(isa);
    CAPTURE(t.isa);
    REQUIRE((t.gemm_bias != nullptr));
    // Partial row and column tiles, one and several K slices, K = 0, and a
    // product just big enough to run on 2 threads (2·M·N·K ≥ 2^22) in 2 K slices.
    for (auto [M, N, K] : {std::array<int64_t, 3>{1, 1, 1}, {15, 33, 7}, {29, 70, 1000}, {64, 17, 0}, {70, 40, 800}}) {
      CAPTURE(M);
      CAPTURE(N);
      CAPTURE(K);
      for (bool tb : {false, true}) {
        auto a = randn(static_cast<size_t>(M * std::max<int64_t>(K, 1)), 90);
        auto b = randn(static_cast<size_t>(N * std::max<int64_t>(K, 1)), 91);
        auto bias = randn(static_cast<size_t>(N), 92);
        const int64_t ldb = tb ? K : N;
        std::vector<float> want(M * N, 7.0f), want_act(M * N), got(M * N, 7.0f), got_act(M * N, 5.0f);
        t.gemm(false, tb, M, N, K, 1.0f, a.data(), K, b.data(), ldb, 0.0f, want.data(), N);
        std::vector<float> pre = want;
        t.add_bias(want.data(), bias.data(), M, N);
        t.bias_gelu_fwd(pre.data(), bias.data(), want_act.data(), M, N);
        CHECK(pre == want);
        t.gemm_bias(false, tb, M, N, K, a.data(), K, b.data(), ldb, bias.data(), got.data(), N, nullptr);
        CHECK(got == want);
        std::fill(got.begin(), got.end(), 7.0f);
        t.gemm_bias(false, tb, M, N, K, a.data(), K, b.data(), ldb, bias.data(), got.data(), N, got_act.data());
        CHECK(got == want);
        CHECK(got_act == want_act);
        // act == C: only the GELU is kept.
        t.gemm_bias(false, tb, M, N, K, a.data(), K, b.data(), ldb, bias.data(), got.data(), N, got.data());
        CHECK(got == want_act);
      }
    }
  }
}

TEST_CASE("gemm with K = 0 scales C by beta") {
  std::vector<float> C{1, 2, 3, 4};
  k::active().gemm(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.5f, C.data(), 2);
  CHECK(C == std::vector<float>{0.5f, 1, 1.5f, 2});
  k::active().gemm(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.0f, C.data(), 2);
  CHECK(C == std::vector<float>{0, 0, 0, 0});
}

TEST_CASE("every supported ISA agrees with the scalar kernels") {
  const k::KernelTable& ref = k::scalar_table();
  auto x = randn(1000, 5), dy = randn(1000, 6), g = randn(100, 7), b = randn(100, 8);
  for (k::Isa isa : k::supported_isas()) {
    const k::KernelTable& t = k::isa_table(isa);
    CAPTURE(t.isa);
    std::vector<float> y1(1000), y2(1000);
    auto close = [](const std::vector<float>& a, const std::vector<float>& c, double tol) {
      double worst = 0;
      for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - c[i]) / (1.0 + std::fabs(c[i])));
      return worst <= tol;
    };
    ref.gelu_fwd(x.data(), y1.data(), 1000);
    t.gelu_fwd(x.data(), y2.data(), 1000);
    CHECK(close(y2, y1, 1e-6));
    ref.gelu_bwd(x.data(), dy.data(), y1.data(), 1000, false);
    t.gelu_bwd(x.data(), dy.data(), y2.data(), 1000, false);
    CHECK(close(y2, y1, 1e-6));
    ref.tanh_fwd(x.data(), y1.data(), 1000);
    t.tanh_fwd(x.data(), y2.data(), 1000);
    CHECK(close(y2, y1, 1e-6));
    ref.softmax_fwd(x.data(), y1.data(), 10, 100, 0.7f, b.data());
    t.softmax_fwd(x.data(), y2.data(), 10, 100, 0.7f, b.data());
    CHECK(close(y2, y1, 1e-6));
    std::vector<float> m1(10), r1(10), m2(10), r2(10);
    ref.layernorm_fwd(x.data(), g.data(), b.data(), y1.data(), m1.data(), r1.data(), 10, 100, 1e-12f);
    t.layernorm_fwd(x.data(), g.data(), b.data(), y2.data(), m2.data(), r2.data(), 10, 100, 1e-12f);
    CHECK(close(y2, y1, 1e-5));
    // Dropout masks are integer-exact across ISAs.
    ref.dropout(x.data(), y1.data(), 1000, 0.3f, 11, 12, 13, false);
    t.dropout(x.data(), y2.data(), 1000, 0.3f, 11, 12, 13, false);
    CHECK(y1 == y2);
    ref.dropout_rows(x.data(), y1.data(), 10, 100, 0.3f, 11, 12, 13, 333, false);
    t.dropout_rows(x.data(), y2.data(), 10, 100, 0.3f, 11, 12, 13, 333, false);
    CHECK(y1 == y2);
    CHECK(std::fabs(t.bce_logits_sum(x.data(), b.data(), 100) - ref.bce_logits_sum(x.data(), b.data(), 100)) < 1e-3);
  }
}

TEST_CASE("transpose moves every element to its place and nothing else, on every ISA") {
  struct Shape { int64_t rows, cols; };
  for (k::Isa isa : k::supported_isas()) {
    const k::KernelTable& t = k::isa_table(isa);
    CAPTURE(t.isa);
    // Full 4-row groups and W-column blocks, their remainders, and attention's tiles.
    for (Shape sh : {Shape{1, 1}, Shape{3, 5}, Shape{4, 16}, Shape{7, 33}, Shape{8, 8}, Shape{13, 70},
                     Shape{64, 64}, Shape{128, 64}}) {
      CAPTURE(sh.rows);
      CAPTURE(sh.cols);
      const int64_t lds = sh.cols + 3, ldd = sh.rows + 2;
      auto src = randn(static_cast<size_t>(sh.rows * lds), 9);
      std::vector<float> dst(static_cast<size_t>(sh.cols * ldd), -7.5f);
      t.transpose(src.data(), lds, sh.rows, sh.cols, dst.data(), ldd);
      int64_t wrong = 0;
      for (int64_t c = 0; c < sh.cols; ++c)
        for (int64_t r = 0; r < ldd; ++r)
          wrong += dst[c * ldd + r] != (r < sh.rows ? src[r * lds + c] : -7.5f);
      CHECK(wrong == 0);
    }
  }
}

TEST_CASE("scale_rows gives scale's bits row by row, strided, with one scale or one per row, on every ISA") {
  for (k::Isa isa : k::supported_isas()) {
    const k::KernelTable& t = k::isa_table(isa);
    CAPTURE(t.isa);
    const int64_t rows = 7, cols = 37, ldx = 41, ldy = 45;  // a remainder after whole vectors
    const auto x = randn(static_cast<size_t>(rows * ldx), 4), y0 = randn(static_cast<size_t>(rows * ldy), 5);
    const auto s = randn(static_cast<size_t>(rows), 6);
    for (int64_t ds : {0, 1})
      for (bool acc : {false, true}) {
        CAPTURE(ds);
        CAPTURE(acc);
        auto got = y0, want = y0;
        t.scale_rows(x.data(), ldx, s.data(), ds, got.data(), ldy, rows, cols, acc);
        for (int64_t r = 0; r < rows; ++r) t.scale(x.data() + r * ldx, s[r * ds], want.data() + r * ldy, cols, acc);
        CHECK(std::memcmp(got.data(), want.data(), sizeof(float) * got.size()) == 0);  // gaps untouched too
        // Against plain arithmetic: x·s rounded, plus y rounded (the vector
        // units may contract the two into one FMA, as in mul_bits).
        int64_t wrong = 0;
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < cols; ++c) {
            const float xv = x[r * ldx + c], sv = s[r * ds], yv = y0[r * ldy + c], g = got[r * ldy + c];
            wrong += acc ? g != yv + xv * sv && g != std::fma(xv, sv, yv) : g != xv * sv;
          }
        CHECK(wrong == 0);
      }
  }
}

TEST_CASE("GELU and its gradient are within 3e-7 of the exact erf form on every ISA") {
  // Abramowitz & Stegun 7.1.26 has |erf error| <= 1.5e-7, so Φ is off by at
  // most 7.5e-8 and GELU = v·Φ(v) by 7.5e-8·|v|, plus float rounding.
  std::vector<float> x;
  for (double v = -12.0; v <= 12.0; v += 1.0 / 1024) x.push_back(static_cast<float>(v));
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-7f, -1e-7f}) x.push_back(v);
  const size_t n = x.size();
  std::vector<float> ones(n, 1.0f);
  for (k::Isa isa : k::supported_isas()) {
    const k::KernelTable& t = k::isa_table(isa);
    CAPTURE(t.isa);
    std::vector<float> y(n), d(n);
    t.gelu_fwd(x.data(), y.data(), static_cast<int64_t>(n));
    t.gelu_bwd(x.data(), ones.data(), d.data(), static_cast<int64_t>(n), false);
    double worst_y = 0, worst_d = 0;
    for (size_t i = 0; i < n; ++i) {
      const double v = x[i], cdf = 0.5 * std::erfc(-v / std::sqrt(2.0));
      const double want_y = v * cdf, want_d = cdf + v * std::exp(-0.5 * v * v) / std::sqrt(2.0 * M_PI);
      worst_y = std::max(worst_y, std::fabs(y[i] - want_y) / std::max(1.0, std::fabs(v)));
      worst_d = std::max(worst_d, std::fabs(d[i] - want_d) / std::max(1.0, std::fabs(v)));
    }
    CHECK(worst_y < 3e-7);
    CHECK(worst_d < 3e-7);
    MESSAGE(std::string(t.isa) << ": worst GELU error " << worst_y << ", gradient " << worst_d << " (relative to max(1, |v|))");
  }
}

TEST_CASE("dropout_rows keeps element (r, c) iff the scalar Philox's number first + r·stride + c is at least p") {
  // Rows shorter and longer than one chunk of 64 words, offsets inside a
  // Philox block (first mod 4), rows overlapping (stride < cols) and a block
  // counter crossing 2^32 (a carry into the counter's upper word), on every ISA.
  struct Case {
    int64_t rows, cols;
    uint64_t first, stride;
  };
  for (k::Isa isa : k::supported_isas()) {
    const k::KernelTable& t = k::isa_table(isa);
    CAPTURE(t.isa);
    for (Case c : {Case{64, 64, 0, 512}, Case{7, 64, 3, 512}, Case{5, 1, 1, 9}, Case{9, 130, 6, 200},
                   Case{3, 300, (1ull << 34) - 37, 1000}, Case{4, 70, 2, 35}, Case{1, 1000, 5, 0}}) {
      CAPTURE(c.rows);
      CAPTURE(c.cols);
      CAPTURE(c.first);
      const float p = 0.3f, scale = 1.0f / (1.0f - p);
      auto x = randn(static_cast<size_t>(c.rows * c.cols), 41), y = randn(x.size(), 42), y0 = y;
      for (bool acc : {false, true}) {
        CAPTURE(acc);
        y = y0;
        t.dropout_rows(x.data(), y.data(), c.rows, c.cols, p, 7, 0xABCDEF12345ull, c.first, c.stride, acc);
        int64_t mismatches = 0;
        for (int64_t r = 0; r < c.rows; ++r)
          for (int64_t j = 0; j < c.cols; ++j) {
            const size_t i = static_cast<size_t>(r * c.cols + j);
            const bool keep = engine::philox_uniform(7, 0xABCDEF12345ull, c.first + r * c.stride + j) >= p;
            const float want = (acc ? y0[i] : 0.0f) + (keep ? x[i] * scale : 0.0f);
            // y += x·s may be one fused multiply-add where the ISA has FMA.
            const float fused = keep && acc ? std::fma(x[i], scale, y0[i]) : want;
            mismatches += y[i] != want && y[i] != fused;
          }
        CHECK(mismatches == 0);
      }
      // The same decisions as bits (ldb words per row, a spare word to see that
      // nothing is written past a row's last word), and mul_bits applying them
      // gives dropout_rows's result bit for bit, also in place.
      const int64_t ldb = (c.cols + 31) / 32 + 1;
      std::vector<uint32_t> bits(static_cast<size_t>(c.rows * ldb), 0xDEADBEEFu);
      t.dropout_keep_bits(c.rows, c.cols, p, 7, 0xABCDEF12345ull, c.first, c.stride, bits.data(), ldb);
      int64_t wrong_bits = 0, kept = 0;
      for (int64_t r = 0; r < c.rows; ++r) {
        for (int64_t j = 0; j < c.cols; ++j) {
          const bool keep = engine::philox_uniform(7, 0xABCDEF12345ull, c.first + r * c.stride + j) >= p;
          const bool bit = (bits[static_cast<size_t>(r * ldb + j / 32)] >> (j % 32)) & 1u;
          wrong_bits += bit != keep;
          kept += bit;
        }
        if (c.cols % 32) CHECK((bits[static_cast<size_t>(r * ldb + c.cols / 32)] >> (c.cols % 32)) == 0u);
        CHECK(bits[static_cast<size_t>(r * ldb + ldb - 1)] == 0xDEADBEEFu);
      }
      CHECK(wrong_bits == 0);
      CHECK(kept > 0);
      std::vector<float> want(x.size()), got(x.size()), inplace = x;
      t.dropout_rows(x.data(), want.data(), c.rows, c.cols, p, 7, 0xABCDEF12345ull, c.first, c.stride, false);
      t.mul_bits(x.data(), bits.data(), ldb, scale, got.data(), c.rows, c.cols);
      t.mul_bits(inplace.data(), bits.data(), ldb, scale, inplace.data(), c.rows, c.cols);
      CHECK(got == want);
      CHECK(inplace == want);
    }
  }
}

TEST_CASE("elementwise results do not depend on where a range is cut") {
  // The vector tail runs the same code on a padded copy, so cutting [0, n) at
  // any point gives bit-identical output: what keeps results thread-invariant.
  const k::KernelTable& t = k::active();
  auto x = randn(103, 9), dy = randn(103, 10);
  std::vector<float> whole(103), cut(103);
  t.gelu_bwd(x.data(), dy.data(), whole.data(), 103, false);
  for (int64_t at : {1, 5, 17, 50, 101}) {
    t.gelu_bwd(x.data(), dy.data(), cut.data(), at, false);
    t.gelu_bwd(x.data() + at, dy.data() + at, cut.data() + at, 103 - at, false);
    CHECK(cut == whole);
  }
}

// ---- bf16 GEMMs (--precision bf16) ----

namespace {

struct Bf16Path {
  std::string name;
  GemmFn gemm;
};

// The bf16 GEMMs of the active ISA (each ISA is tested by its own ctest run):
// the emulated one, and on AVX-512 CPUs with AVX512_BF16 the native one too.
std::vector<Bf16Path> bf16_paths() {
  const k::Isa isa = k::selected_isa();
  std::vector<Bf16Path> r{{std::string(k::isa_name(isa)) + " emulated",
                           isa == k::Isa::Avx512 ? k::avx512_gemm_bf16()
                           : isa == k::Isa::Avx2 ? k::avx2_gemm_bf16()
                                                 : k::scalar_gemm_bf16()}};
  if (isa == k::Isa::Avx512) {
    if (k::bf16_native_supported())
      r.push_back({"avx512 vdpbf16ps", k::avx512bf16_gemm_bf16()});
    else
      MESSAGE("no AVX512_BF16 on this CPU: the native bf16 GEMM is skipped");
  }
  return r;
}

}  // namespace

TEST_CASE("bf16 rounding is round-to-nearest-even, alone and inside every bf16 gemm") {
  const float e8 = std::ldexp(1.0f, -8), e9 = std::ldexp(1.0f, -9), inf = std::numeric_limits<float>::infinity();
  struct Case {
    float in, want;
  };
  // bf16 keeps 8 significand bits: next to 1 the spacing is 2^-7, so 1 + 2^-8 is a tie.
  const std::vector<Case> cases{
      {1.0f, 1.0f},
      {1.0f + e8, 1.0f},                      // tie, 1 is even: down
      {1.0f + 3 * e8, 1.0f + 4 * e8},         // tie between 1 + 2^-7 (odd) and 1 + 2^-6: up
      {1.0f + 3 * e9, 1.0f + 2 * e8},         // above the tie: up
      {1.0f + e9, 1.0f},                      // below the tie: down
      {1.0f + e8 + std::ldexp(1.0f, -20), 1.0f + 2 * e8},  // a hair above the tie: up
      {-(1.0f + e8), -1.0f},
      {-(1.0f + 3 * e9), -(1.0f + 2 * e8)},
      {65535.0f, 65536.0f},
      {3.0f, 3.0f},
      {std::numeric_limits<float>::max(), inf},  // rounds past the largest bf16
      {inf, inf},
      {-inf, -inf},
      {1e-40f, 0.0f},  // fp32 denormal: flushed, as VCVTNE2PS2BF16 does
      {0.0f, 0.0f},
  };
  for (const Case& c : cases) {
    CAPTURE(c.in);
    CHECK(k::round_to_bf16(c.in) == c.want);
  }
  CHECK(std::signbit(k::round_to_bf16(-1e-40f)));
  CHECK(std::isnan(k::round_to_bf16(std::numeric_limits<float>::quiet_NaN())));

  // to_bf16, on every ISA: the same rounding, as raw bits (the upper half of
  // the rounded float). The cases sit at every position of a 37-element
  // vector (the vector loop and its tail), among random values that must
  // match round_to_bf16 too; a signalling NaN comes out quiet.
  auto bits_of = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
  };
  const float snan = std::numeric_limits<float>::signaling_NaN();
  for (k::Isa isa : k::supported_isas()) {
    const k::KernelTable& t = k::isa_table(isa);
    CAPTURE(t.isa);
    for (size_t at = 0; at < 37; ++at) {
      std::vector<float> x = randn(37, 40 + at);
      std::vector<float> want(37);
      for (size_t i = 0; i < 37; ++i) want[i] = k::round_to_bf16(x[i]);
      const Case& c = cases[at % cases.size()];
      x[at] = c.in;
      want[at] = c.want;
      std::vector<uint16_t> y(37, 0xABCD);
      t.to_bf16(x.data(), y.data(), 37);
      for (size_t i = 0; i < 37; ++i) {
        CAPTURE(i);
        CHECK((static_cast<uint32_t>(y[i]) << 16) == bits_of(want[i]));
      }
    }
    uint16_t y[2] = {0, 0};
    const float in[2] = {-1e-40f, snan};
    t.to_bf16(in, y, 2);
    CHECK(y[0] == 0x8000);                     // -denormal: -0
    CHECK((y[1] & 0x7FC0) == 0x7FC0);          // NaN, quiet
  }

  // Inside the GEMMs: C = the values times 1, the values sitting at the last
  // k of K = 1, 2, 3 (an odd K ends a bf16 pair half-empty), on the A side in
  // both layouts and on the B side in both layouts.
  const int64_t n = static_cast<int64_t>(cases.size());
  for (const Bf16Path& p : bf16_paths()) {
    CAPTURE(p.name);
    for (int64_t K = 1; K <= 3; ++K) {
      CAPTURE(K);
      std::vector<float> vals(static_cast<size_t>(n * K), 0.0f), ones(static_cast<size_t>(n * K), 1.0f), C(n);
      for (bool t : {false, true}) {
        CAPTURE(t);
        // values as op(A) = n × K (A side) or op(B) = K × n (B side), element (i, K-1) / (K-1, i)
        for (int64_t i = 0; i < n; ++i) vals[t ? (K - 1) * n + i : i * K + K - 1] = cases[i].in;
        p.gemm(t, false, n, 1, K, 1.0f, vals.data(), t ? n : K, ones.data(), 1, 0.0f, C.data(), 1);
        for (int64_t i = 0; i < n; ++i) CHECK(C[i] == cases[i].want);
        std::fill(vals.begin(), vals.end(), 0.0f);
        for (int64_t i = 0; i < n; ++i) vals[t ? i * K + K - 1 : (K - 1) * n + i] = cases[i].in;
        p.gemm(false, t, 1, n, K, 1.0f, ones.data(), K, vals.data(), t ? K : n, 0.0f, C.data(), n);
        for (int64_t i = 0; i < n; ++i) CHECK(C[i] == cases[i].want);
        std::fill(vals.begin(), vals.end(), 0.0f);
      }
    }
  }
}

// Named "gemm matches…" so that, like the fp32 reference tests, it runs on
// every path natively but not under qemu (tests/qemu_cpus.cmake): too slow there.
TEST_CASE("gemm matches a double reference in bf16, on the rounded inputs") {
  // Only the summation order differs from the reference, so the fp32
  // tolerance applies. Shapes: tiles and slices cut everywhere, odd K (a
  // half-empty last pair), K over one native bf16 slice (1536) with an odd
  // last slice, a row block plus a partial tile (231 and, for 2 threads,
  // 462 rows), N over one column block
  // (1536), large leading dimensions, a B packed with non-temporal stores
  // (22 panels × 801 pairs, 2.25 MB; two slices, the last one odd), and last
  // tiles of every partial register tile (2, 4, ..., 12 rows).
  struct Shape {
    int64_t M, N, K, pad;
  };
  for (const Bf16Path& p : bf16_paths()) {
    CAPTURE(p.name);
    for (Shape s : {Shape{1, 1, 1, 0}, Shape{7, 5, 3, 0}, Shape{17, 33, 19, 0}, Shape{15, 33, 767, 0},
                    Shape{7, 17, 1537, 0}, Shape{231, 20, 41, 0}, Shape{20, 1539, 12, 0}, Shape{19, 37, 101, 1000},
                    Shape{3, 700, 1601, 0}, Shape{10, 40, 45, 0}, Shape{26, 40, 45, 0}, Shape{462, 20, 41, 0}})
      check_gemm_layouts(p.gemm, s.M, s.N, s.K, s.pad, {{1.0f, 0.0f}, {-0.5f, 0.75f}}, true);
    // And the rounding really happens: against the unrounded inputs the error
    // is that of bf16 (2^-9 relative per input), far above the tolerance.
    CHECK(gemm_error(p.gemm, false, false, 17, 33, 19, 1.0f, 0.0f) > 1e-3);
  }
  // oneDNN's bf16 matmul (the oneDNN backend), on a product large enough to
  // leave our fallback (2^22 multiply-adds), with odd sizes and padded strides.
  const GemmFn onednn = k::onednn_bf16_gemm_for(k::selected_isa());
  check_gemm_layouts(onednn, 150, 131, 257, 9, {{1.0f, 0.0f}, {-0.5f, 0.75f}}, true);
  CHECK(gemm_error(onednn, false, true, 150, 131, 257, 1.0f, 0.0f) > 1e-3);
}

TEST_CASE("gemm_bf16in on operands converted once gives the bf16 gemm's bits, on every layout") {
  // The oneDNN bf16 table's gemm_bf16in (ops/linear.cpp converts x, w and dy
  // once and hands the bf16 copies to every product) against its gemm on the
  // fp32 values: a product large enough for oneDNN's matmul (5 M
  // multiply-adds) and one small enough for the fallback to our bf16 GEMM,
  // padded leading dimensions, beta 0 and not.
  const k::Isa isa = k::selected_isa();
  const GemmFn gemm = k::onednn_bf16_gemm_for(isa);
  const auto gemm_bf16in = k::onednn_bf16in_gemm_for(isa);
  const k::KernelTable& t = k::isa_table(isa);
  struct Shape {
    int64_t M, N, K;
  };
  for (Shape s : {Shape{150, 131, 257}, Shape{17, 33, 19}}) {
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (auto [alpha, beta] : {std::pair{1.0f, 0.0f}, std::pair{-0.5f, 0.75f}}) {
          CAPTURE(s.M);
          CAPTURE(ta);
          CAPTURE(tb);
          CAPTURE(beta);
          const int64_t lda = (ta ? s.M : s.K) + 9, ldb = (tb ? s.K : s.N) + 9, ldc = s.N + 9;
          const auto A = randn(static_cast<size_t>((ta ? s.K : s.M) * lda), 11),
                     B = randn(static_cast<size_t>((tb ? s.N : s.K) * ldb), 12),
                     C0 = randn(static_cast<size_t>(s.M * ldc), 13);
          std::vector<uint16_t> A16(A.size()), B16(B.size());
          t.to_bf16(A.data(), A16.data(), static_cast<int64_t>(A.size()));
          t.to_bf16(B.data(), B16.data(), static_cast<int64_t>(B.size()));
          std::vector<float> want = C0, got = C0;
          gemm(ta, tb, s.M, s.N, s.K, alpha, A.data(), lda, B.data(), ldb, beta, want.data(), ldc);
          gemm_bf16in(ta, tb, s.M, s.N, s.K, alpha, A16.data(), lda, B16.data(), ldb, beta, got.data(), ldc, nullptr);
          CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
          CHECK(got != C0);
          if (alpha == 1.0f && beta == 0.0f) {  // with a bias: add_bias's bits
            const auto bias = randn(static_cast<size_t>(s.N), 14);
            for (int64_t i = 0; i < s.M; ++i) t.add_bias(want.data() + i * ldc, bias.data(), 1, s.N);
            got = C0;
            gemm_bf16in(ta, tb, s.M, s.N, s.K, alpha, A16.data(), lda, B16.data(), ldb, beta, got.data(), ldc,
                        bias.data());
            CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
          }
        }
  }
}

TEST_CASE("bf16 gemm gives the same bits with 1 and 2 threads on every layout") {
  for (const Bf16Path& p : bf16_paths()) {
    CAPTURE(p.name);
    check_thread_invariance(p.gemm, false);
  }
}

TEST_CASE("selecting bf16 precision swaps the gemm entry only, by backend") {
  CHECK(k::parse_precision("f32") == k::Precision::F32);
  CHECK(k::parse_precision("fp32") == k::Precision::F32);
  CHECK(k::parse_precision("bf16") == k::Precision::BF16);
  CHECK_THROWS(k::parse_precision("fp16"));
  CHECK(std::string(k::precision_name(k::Precision::BF16)) == "bf16");
  k::select_backend(k::Backend::Auto);
  const k::KernelTable& f32 = k::active();
  const k::Isa isa = k::selected_isa();
  k::select_precision(k::Precision::BF16);
  CHECK(k::selected_precision() == k::Precision::BF16);
  CHECK((k::active().gemm != f32.gemm));
  CHECK((k::active().gelu_fwd == f32.gelu_fwd));
  CHECK(std::string(k::active().isa) == f32.isa);
  CHECK(std::string(k::bf16_gemm_kind(isa)) ==
        (isa == k::Isa::Avx512 && k::bf16_native_supported() ? "vdpbf16ps" : "emulated"));
  // Auto, the default: oneDNN's matmul for bf16 on the AVX-512 path of CPUs with AMX-BF16, ours elsewhere.
  const bool amx = isa == k::Isa::Avx512 && k::amx_bf16_supported();
  CHECK((k::active().gemm == (amx ? k::onednn_bf16_gemm_for(isa) : k::bf16_gemm_for(isa))));
  CHECK((k::active().gemm_bf16in == (amx ? k::onednn_bf16in_gemm_for(isa) : nullptr)));
  k::select_backend(k::Backend::Native);
  CHECK((k::active().gemm == k::bf16_gemm_for(isa)));
  CHECK((k::active().gemm_bf16in == nullptr));
  k::select_backend(k::Backend::OneDnn);
  CHECK((k::active().gemm == k::onednn_bf16_gemm_for(isa)));
  CHECK((k::active().gemm_bf16in == k::onednn_bf16in_gemm_for(isa)));
  k::select_precision(k::Precision::F32);
  CHECK((k::active().gemm == &k::onednn_gemm));
  CHECK((k::active().gemm_bf16in == nullptr));
  k::select_backend(k::Backend::Auto);
  CHECK((k::active().gemm == f32.gemm));
  CHECK(k::selected_backend() == k::Backend::Native);
  CHECK(k::selected_precision() == k::Precision::F32);
}
