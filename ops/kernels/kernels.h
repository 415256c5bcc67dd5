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

// The per-update scalars of one AdamW step (models/training/optimizer.cpp computes
// them in double and casts once). hf selects HF's variant (eps outside the
// bias correction, decay after the Adam step) over torch.optim.AdamW's.
struct AdamWScalars {
  float g_scale;                     // gradient scale (accumulation, clipping)
  float b1, b2, one_minus_b1, one_minus_b2, eps;
  float step_size;                   // HF: lr·√bc2/bc1; torch: lr/bc1
  float sqrt_bc2;                    // torch: √bc2
  float decay;                       // HF: p -= decay·p, decay = lr·wd
  float keep;                        // torch: p *= keep, keep = 1 - lr·wd
  bool hf;
};

struct KernelTable {
  const char* isa;  // "avx512", "avx2" or "scalar"

  // C[M,N] = alpha * op(A) * op(B) + beta * C, op(X) = X or Xᵀ. Multi-threaded
  // over blocks of C; each C element sums over K in one fixed order.
  // With beta == 0, C is not read.
  void (*gemm)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

  // C[M,N] = op(A)·op(B) + bias[None, :] (bias not null), and if act is not
  // null act = GELU(C) (ld = ldc; act == C stores only the GELU). Bit-identical
  // to gemm(alpha 1, beta 0) then add_bias or bias_gelu_fwd, in one pass.
  // Null in tables whose gemm is not the native fp32 one (oneDNN, bf16):
  // callers then run gemm and the separate pass.
  void (*gemm_bias)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                    const float* B, int64_t ldb, const float* bias, float* C, int64_t ldc, float* act);

  // y = a + b
  void (*add)(const float* a, const float* b, float* y, int64_t n);
  // y (+)= s * x
  void (*scale)(const float* x, float s, float* y, int64_t n, bool acc);
  // y[r·ldy + c] (+)= x[r·ldx + c]·s[r·ds] for r < rows, c < cols (ds = 0:
  // one scale for every row): scale row by row in one call, the same bits
  // (attention's head rows are 64 floats, too short to repay a call each).
  void (*scale_rows)(const float* x, int64_t ldx, const float* s, int64_t ds, float* y, int64_t ldy, int64_t rows,
                     int64_t cols, bool acc);
  // y[r, :] += bias[:]
  void (*add_bias)(float* y, const float* bias, int64_t rows, int64_t cols);
  // out[:] += sum over r of x[r, :], rows taken in order
  void (*sum_rows)(const float* x, int64_t rows, int64_t cols, float* out);

  // GELU, the erf form: y = x * Φ(x) = 0.5 x (1 + erf(x / √2)), erf within 1.5e-7 (gelu.inc)
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

  // ---- fused kernels (linear_gelu in ops/linear.h, add_layer_norm in
// ops/normalization.h): one pass over rows instead of two ----
  // pre[r, :] += bias[:]; y[r, :] = GELU(pre[r, :]). Same arithmetic as
  // add_bias then gelu_fwd, so the results are bit-identical.
  void (*bias_gelu_fwd)(float* pre, const float* bias, float* y, int64_t rows, int64_t cols);
  // dpre = dy ⊙ GELU'(pre); dbias[:] += Σ_r dpre[r, :], rows in order (dbias may be null).
  void (*gelu_bwd_bias)(const float* pre, const float* dy, float* dpre, int64_t rows, int64_t cols, float* dbias);
  // s = a + b; y = LayerNorm(s) with mean and rstd saved per row.
  void (*add_layernorm_fwd)(const float* a, const float* b, const float* gamma, const float* beta, float* s, float* y,
                            float* mean, float* rstd, int64_t rows, int64_t cols, float eps);
  // As layernorm_bwd, writing the same gradient into dx (+)= and, if dx2 is
  // not null, dx2 (+)= (the two inputs of a residual sum).
  void (*layernorm_bwd2)(const float* x, const float* gamma, const float* mean, const float* rstd, const float* dy,
                         float* dx, bool acc, float* dx2, bool acc2, int64_t rows, int64_t cols);
  // One online-softmax step of flash attention, per row r of the score tile S:
  // m' = max(m[r], max_j S[r, j]), alpha[r] = e^(m[r] - m') (0 when m[r] = -inf),
  // P[r, :] = e^(S[r, :] - m'), l[r] = alpha[r]·l[r] + Σ_j P[r, j], m[r] = m'.
  // P may be S (in place).
  void (*online_softmax)(const float* S, float* P, int64_t rows, int64_t cols, float* m, float* l, float* alpha);
  // P[r, :] = e^(S[r, :] - shift[r]) (attention's backward: probabilities from the saved log-sum-exp)
  void (*exp_shifted)(const float* S, float* P, int64_t rows, int64_t cols, const float* shift);
  // dP[r, :] = P[r, :] ⊙ (dP[r, :] - d[r]) (attention's backward: softmax gradient with d = rowsum(dO ⊙ O))
  void (*softmax_grad_rows)(const float* P, float* dP, int64_t rows, int64_t cols, const float* d);
  // C[M, N] = alpha·op(A)·B + beta·C, single-threaded, for small products whose
  // operands fit in cache (attention's tiles): A and B are read in place, no
  // packing. op(A) = A ([M, K], lda) or Aᵀ (A is [K, M], lda); B is [K, N],
  // ldb. Fastest when N is a multiple of 64 (AVX-512) or 16 (AVX2). Always
  // fp32, whatever the precision of `gemm`. With beta == 0, C is not read.
  void (*gemm_tile)(bool trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
  // dst[c·ldd + r] = src[r·lds + c] for r < rows, c < cols (attention's
  // per-head key and value transposes). Moves values only: the same bits on
  // every ISA.
  void (*transpose)(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst, int64_t ldd);
  // dropout over rows that are `stride` apart in the Philox index: element
  // (r, c) of x, y [rows, cols] uses index first + r·stride + c, as
  // dropout(x + r·cols, y + r·cols, cols, …, first + r·stride) would. Several
  // rows' random numbers are generated together, which short rows need to be fast.
  void (*dropout_rows)(const float* x, float* y, int64_t rows, int64_t cols, float p, uint64_t seed,
                       uint64_t stream, uint64_t first, uint64_t stride, bool acc);
  // dropout_rows's keep decisions for the same (r, c) as bits: bit c % 32 of
  // bits[r·ldb + c / 32] (bits past cols in the last word are 0). Attention
  // saves these in its forward pass instead of drawing them again backward.
  void (*dropout_keep_bits)(int64_t rows, int64_t cols, float p, uint64_t seed, uint64_t stream, uint64_t first,
                            uint64_t stride, uint32_t* bits, int64_t ldb);
  // y[r, c] = x[r, c]·scale where that bit is set, else 0 (y may be x): with
  // scale = 1/(1 - p), bit for bit dropout_rows's result.
  void (*mul_bits)(const float* x, const uint32_t* bits, int64_t ldb, float scale, float* y, int64_t rows,
                   int64_t cols);
  // One AdamW update of n elements, per element (f32, in this order):
  //   g = grad·g_scale; m = b1·m + (1-b1)·g; v = b2·v + (1-b2)·g·g;
  //   HF:    p -= step_size·m / (√v + eps); if decays: p -= decay·p
  //   torch: if decays: p *= keep; p -= step_size·m / (√v / sqrt_bc2 + eps)
  void (*adamw)(float* p, const float* grad, float* m, float* v, int64_t n, const AdamWScalars& s, bool decays);
  // Σ x[i]² in double: element i into running sum i mod 8, then
  // ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)) (the gradient norm's
  // fixed order; a vector of doubles holds the eight sums).
  double (*sumsq8)(const float* x, int64_t n);
  // y[i] = x[i] rounded to bf16 (round to nearest even, denormals to ±0, NaN
  // kept quiet: VCVTNE2PS2BF16's rounding, which every bf16 GEMM applies to
  // its inputs), as raw bf16 bits.
  void (*to_bf16)(const float* x, uint16_t* y, int64_t n);
  // gemm on operands that are already bf16 (raw bits, e.g. from to_bf16):
  // bit for bit what gemm gives for the fp32 values those bf16 stand for,
  // without converting them again. Null unless gemm is oneDNN's bf16 matmul
  // (--precision bf16 --backend onednn): ops/linear.cpp then converts each
  // operand once (x and the weight in the forward pass, dy in the backward)
  // where gemm would convert each of them in every product that reads it.
  // A bias (not null; alpha 1 and beta 0 only) is added to every row in the
  // same pass: the bits of gemm then add_bias.
  void (*gemm_bf16in)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A,
                      int64_t lda, const uint16_t* B, int64_t ldb, float beta, float* C, int64_t ldc,
                      const float* bias);
};

enum class Isa { Scalar, Avx2, Avx512 };

const KernelTable& scalar_table();
const KernelTable& avx2_table();
const KernelTable& avx512_table();
// The table of one ISA (whichever is active).
const KernelTable& isa_table(Isa isa);

// ---- bf16 GEMMs (--precision bf16) ----
// The gemm signature, computing with A and B rounded to bf16 (round to
// nearest even, denormals to ±0, as VCVTNE2PS2BF16) and fp32 accumulation;
// C stays fp32. The rounding happens while packing panels: callers keep
// fp32 data, nothing bf16 outlives a call. Results do not depend on the
// thread count (K is sliced as a function of K only).
using GemmFn = decltype(KernelTable::gemm);
// Emulated, on any CPU the ISA runs on: rounded inputs, then the fp32 micro-kernel.
GemmFn scalar_gemm_bf16();
GemmFn avx2_gemm_bf16();
GemmFn avx512_gemm_bf16();
// Native VDPBF16PS (AVX-512 + AVX512_BF16); call only if bf16_native_supported().
GemmFn avx512bf16_gemm_bf16();
bool bf16_native_supported();
// The bf16 gemm an ISA's table uses: native on AVX-512 CPUs with AVX512_BF16, emulated otherwise.
GemmFn bf16_gemm_for(Isa isa);
// "vdpbf16ps" or "emulated": what bf16_gemm_for(isa) runs.
const char* bf16_gemm_kind(Isa isa);
// bf16 through oneDNN's matmul primitive (AMX where the CPU has it); products
// under 2^22 multiply-adds fall back to bf16_gemm_for(isa). ops/kernels/onednn_bf16.cpp.
GemmFn onednn_bf16_gemm_for(Isa isa);
// Its gemm_bf16in entry (same fallback for small products, on the operands widened back to fp32).
using GemmBf16InFn = decltype(KernelTable::gemm_bf16in);
GemmBf16InFn onednn_bf16in_gemm_for(Isa isa);
bool amx_bf16_supported();
// x rounded to the nearest bf16 (ties to even), as the bf16 GEMMs round their inputs.
float round_to_bf16(float x);

// The ISAs this CPU (and OS) can run, best last.
std::vector<Isa> supported_isas();
bool isa_supported(Isa isa);
Isa parse_isa(const std::string& name);  // "avx512" | "avx2" | "scalar"
const char* isa_name(Isa isa);

// Chooses the table: the best supported ISA, unless DNABERT_ISA names one.
// Throws if the named ISA is unknown or not supported here.
void select_isa(Isa isa);
Isa selected_isa();
// The active table (selected on first use from DNABERT_ISA or the CPU,
// DNABERT_BACKEND and DNABERT_PRECISION).
const KernelTable& active();

// Where `gemm` comes from: our kernels, or oneDNN (dnnl_sgemm for f32, the
// bf16 matmul primitive for bf16); all other entries stay ours. Auto, the
// default, picks per CPU: native for f32 (as fast on BERT's shapes, and
// dnnl_sgemm's results can depend on the thread count, ours never do; see
// "Default GEMM backend" in bench/RESULTS.md), oneDNN for bf16 on the AVX-512
// path of a CPU with AMX-BF16.
enum class Backend { Native, OneDnn, Auto };
Backend parse_backend(const std::string& name);  // "native" | "onednn" | "auto"
const char* backend_name(Backend b);
void select_backend(Backend b);
// The backend in effect (never Auto).
Backend selected_backend();
// C = alpha op(A) op(B) + beta C through dnnl_sgemm, with the KernelTable
// gemm signature (beta == 0: C is not read).
void onednn_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// The arithmetic of the gemm entry. F32 is the default; BF16 swaps the gemm
// entry for bf16_gemm_for(isa) (native backend) or onednn_bf16_gemm_for(isa)
// (oneDNN backend); all other entries, weights and activations stay fp32.
// Read from DNABERT_PRECISION on first use.
enum class Precision { F32, BF16 };
Precision parse_precision(const std::string& name);  // "f32" | "fp32" | "bf16"
const char* precision_name(Precision p);             // "f32" | "bf16"
void select_precision(Precision p);
Precision selected_precision();

}  // namespace dnabert::ops::kernels
