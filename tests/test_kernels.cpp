// The kernel tables directly: GEMM against a double reference on shapes that
// hit every edge (partial register tiles, several K and N blocks), and every
// ISA this CPU runs against the scalar table.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "engine/rng.h"
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

// Max |got - want| / (1 + |want|) of one GEMM call against double arithmetic.
double gemm_error(const k::KernelTable& t, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                  float beta) {
  const int64_t lda = ta ? M + 3 : K + 1, ldb = tb ? K + 2 : N + 5, ldc = N + 7;  // padded leading dims
  auto A = randn(static_cast<size_t>((ta ? K : M) * lda), 1);
  auto B = randn(static_cast<size_t>((tb ? N : K) * ldb), 2);
  auto C = randn(static_cast<size_t>(M * ldc), 3);
  std::vector<double> want(static_cast<size_t>(M * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t p = 0; p < K; ++p)
        s += double(ta ? A[p * lda + i] : A[i * lda + p]) * double(tb ? B[j * ldb + p] : B[p * ldb + j]);
      want[i * N + j] = alpha * s + (beta != 0 ? beta * double(C[i * ldc + j]) : 0.0);
    }
  auto C0 = C;
  t.gemm(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  double worst = 0;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j)
      worst = std::max(worst, std::fabs(C[i * ldc + j] - want[i * N + j]) / (1.0 + std::fabs(want[i * N + j])));
    for (int64_t j = N; j < ldc; ++j) REQUIRE(C[i * ldc + j] == C0[i * ldc + j]);  // padding untouched
  }
  return worst;
}

}  // namespace

TEST_CASE("gemm matches a double reference on every layout and edge") {
  const k::KernelTable& t = k::active();
  CAPTURE(t.isa);
  struct Shape {
    int64_t M, N, K;
  };
  for (Shape s : {Shape{1, 1, 1}, Shape{7, 5, 3}, Shape{17, 33, 19}, Shape{64, 64, 64}, Shape{9, 1100, 300},
                  Shape{50, 40, 600}})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        CAPTURE(s.M);
        CAPTURE(s.N);
        CAPTURE(s.K);
        CAPTURE(ta);
        CAPTURE(tb);
        // f32 accumulation over K terms of O(1): error ≲ K·ε·√K-ish; 1e-5·√K·… is generous yet tight
        const double tol = 2e-6 * std::sqrt(static_cast<double>(s.K)) * 4;
        CHECK(gemm_error(t, ta, tb, s.M, s.N, s.K, 1.0f, 0.0f) < tol);
        CHECK(gemm_error(t, ta, tb, s.M, s.N, s.K, 0.5f, 1.0f) < tol);
        CHECK(gemm_error(t, ta, tb, s.M, s.N, s.K, -2.0f, 0.25f) < tol);
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
    const k::KernelTable& t = isa == k::Isa::Avx512 ? k::avx512_table()
                              : isa == k::Isa::Avx2 ? k::avx2_table()
                                                    : k::scalar_table();
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
    CHECK(std::fabs(t.bce_logits_sum(x.data(), b.data(), 100) - ref.bce_logits_sum(x.data(), b.data(), 100)) < 1e-3);
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
