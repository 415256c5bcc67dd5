// The per-ISA kernel table. Every op in ops/ calls its kernels through this
// table, so a faster kernel is added by filling in an entry, never by editing
// an op. Kernels are single-threaded on the range they are given unless noted;
// ops/ cuts the work into fixed chunks (engine/threads.h) so results do not
// depend on the thread count.
//
// Conventions: row-major; `acc` = add into the output instead of overwriting it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dnabert::ops::kernels {

struct KernelTable {
  const char* isa;  // "avx512", "avx2" or "scalar"

  // C[M,N] = alpha * op(A) * op(B) + beta * C, op(X) = X or Xᵀ. Multi-threaded
  // over blocks of C; each C element sums over K in one fixed order.
  // With beta == 0, C is not read.
  void (*gemm)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

  // y = a + b
  void (*add)(const float* a, const float* b, float* y, int64_t n);
  // y (+)= s * x
  void (*scale)(const float* x, float s, float* y, int64_t n, bool acc);
  // y[r, :] += bias[:]
  void (*add_bias)(float* y, const float* bias, int64_t rows, int64_t cols);
  // out[:] += sum over r of x[r, :], rows taken in order
  void (*sum_rows)(const float* x, int64_t rows, int64_t cols, float* out);

  // GELU, exact: y = x * Φ(x) = 0.5 x (1 + erf(x / √2))
  void (*gelu_fwd)(const float* x, float* y, int64_t n);
  // dx (+)= dy * (Φ(x) + x φ(x))
  void (*gelu_bwd)(const float* x, const float* dy, float* dx, int64_t n, bool acc);
  void (*tanh_fwd)(const float* x, float* y, int64_t n);
  // dx (+)= dy * (1 - y²)
  void (*tanh_bwd)(const float* y, const float* dy, float* dx, int64_t n, bool acc);

  // Row softmax of (scale * x + col_bias), col_bias may be null.
  void (*softmax_fwd)(const float* x, float* y, int64_t rows, int64_t cols, float scale, const float* col_bias);
  // dx (+)= scale * y ⊙ (dy - Σ dy ⊙ y)
  void (*softmax_bwd)(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols, float scale, bool acc);

  // y = (x - mean) * rstd * gamma + beta per row; saves mean and rstd per row.
  void (*layernorm_fwd)(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                        int64_t rows, int64_t cols, float eps);
  // dx (+)= rstd * (g - mean(g) - x̂ mean(g x̂)), g = gamma ⊙ dy
  void (*layernorm_bwd)(const float* x, const float* gamma, const float* mean, const float* rstd, const float* dy,
                        float* dx, int64_t rows, int64_t cols, bool acc);
  // dgamma[:] += Σ_r dy x̂, dbeta[:] += Σ_r dy, rows taken in order
  void (*layernorm_param_grads)(const float* x, const float* mean, const float* rstd, const float* dy, int64_t rows,
                                int64_t cols, float* dgamma, float* dbeta);

  // y (+)= x * keep / (1 - p), keep = philox_uniform(seed, stream, first + i) >= p
  void (*dropout)(const float* x, float* y, int64_t n, float p, uint64_t seed, uint64_t stream, uint64_t first,
                  bool acc);

  // Per row: lse[r] = log Σ exp(logits[r]); loss[r] = lse[r] - logits[r, label[r]]
  // (loss[r] = 0 for label -100).
  void (*cross_entropy_fwd)(const float* logits, const int32_t* labels, int64_t rows, int64_t cols, float* lse,
                            float* loss);
  // dlogits (+)= scale * (softmax - onehot(label)); zero rows for label -100
  void (*cross_entropy_bwd)(const float* logits, const int32_t* labels, const float* lse, int64_t rows, int64_t cols,
                            float scale, float* dlogits, bool acc);
  // Σ (a - b)² over n elements, summed in a fixed order
  double (*sq_diff_sum)(const float* a, const float* b, int64_t n);
  // dx (+)= s * (a - b)
  void (*scaled_diff)(const float* a, const float* b, float s, float* dx, int64_t n, bool acc);
  // Σ max(x,0) - x t + log(1 + exp(-|x|))  (binary cross-entropy on logits)
  double (*bce_logits_sum)(const float* x, const float* t, int64_t n);
  // dx (+)= s * (sigmoid(x) - t)
  void (*bce_logits_bwd)(const float* x, const float* t, float s, float* dx, int64_t n, bool acc);
};

enum class Isa { Scalar, Avx2, Avx512 };

const KernelTable& scalar_table();
const KernelTable& avx2_table();
const KernelTable& avx512_table();

// The ISAs this CPU (and OS) can run, best last.
std::vector<Isa> supported_isas();
bool isa_supported(Isa isa);
Isa parse_isa(const std::string& name);  // "avx512" | "avx2" | "scalar"
const char* isa_name(Isa isa);

// Chooses the table: the best supported ISA, unless DNABERT_ISA names one.
// Throws if the named ISA is unknown or not supported here.
void select_isa(Isa isa);
Isa selected_isa();
// The active table (selected on first use from DNABERT_ISA or the CPU, and
// DNABERT_BACKEND).
const KernelTable& active();

// Where `gemm` comes from: our kernels, or oneDNN's dnnl_sgemm (all other
// entries stay ours). Native is the default: dnnl_sgemm's results can depend
// on the thread count (bench/RESULTS.md, "GEMM (issue 5)"), ours never do.
enum class Backend { Native, OneDnn };
Backend parse_backend(const std::string& name);  // "native" | "onednn"
const char* backend_name(Backend b);
void select_backend(Backend b);
Backend selected_backend();
// C = alpha op(A) op(B) + beta C through dnnl_sgemm, with the KernelTable
// gemm signature (beta == 0: C is not read).
void onednn_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace dnabert::ops::kernels
