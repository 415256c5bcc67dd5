#include "models/inference.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "engine/error.h"
#include "ops/ops.h"
#include "tokenizer/vocab.h"

namespace dnabert::models {

Aggregate parse_aggregate(const std::string& name) {
  if (name == "mean") return Aggregate::Mean;
  if (name == "max") return Aggregate::Max;
  throw UsageError("unknown aggregation '" + name + "' (choose mean or max)");
}

OutputKind output_kind_for(const BertConfig& config) {
  const std::string type = config.extra.value("problem_type", std::string());
  if (type == "regression") return OutputKind::Identity;
  if (type == "multi_label_classification") return OutputKind::Sigmoid;
  return OutputKind::Softmax;
}

std::vector<float> classify_sequences(const Bert& model, const std::vector<std::vector<int32_t>>& kmer_ids,
                                      const WindowOptions& o, engine::Arena& arena, std::vector<int>* windows_per) {
  const int C = model.config().num_labels;
  const int64_t L = o.max_len - 2;
  if (L < 1) throw UsageError("window length must be at least 3 tokens");
  const int64_t stride = o.stride > 0 ? o.stride : std::max<int64_t>(1, L / 2);
  // Every window as (sequence, first k-mer, k-mers).
  struct Window {
    size_t seq;
    int64_t start, len;
  };
  std::vector<Window> windows;
  for (size_t s = 0; s < kmer_ids.size(); ++s) {
    const int64_t n = static_cast<int64_t>(kmer_ids[s].size());
    int64_t start = 0;
    for (;;) {
      windows.push_back({s, start, std::min(L, n - start)});
      if (start + L >= n) break;
      start = std::min(start + stride, n - L);  // the last window ends at the sequence end
    }
  }
  std::vector<double> acc(kmer_ids.size() * static_cast<size_t>(C), 0.0);
  std::vector<int> count(kmer_ids.size(), 0);
  if (o.aggregate == Aggregate::Max) std::fill(acc.begin(), acc.end(), -DBL_MAX);
  for (size_t w0 = 0; w0 < windows.size(); w0 += static_cast<size_t>(o.batch)) {
    const size_t w1 = std::min(windows.size(), w0 + static_cast<size_t>(o.batch));
    const int64_t B = static_cast<int64_t>(w1 - w0);
    int64_t T = 0;
    for (size_t w = w0; w < w1; ++w) T = std::max(T, windows[w].len + 2);
    std::vector<int32_t> ids(static_cast<size_t>(B * T), tokenizer::kPadId), mask(static_cast<size_t>(B * T), 0);
    for (int64_t b = 0; b < B; ++b) {
      const Window& win = windows[w0 + static_cast<size_t>(b)];
      int32_t* row = ids.data() + b * T;
      row[0] = tokenizer::kClsId;
      std::copy_n(kmer_ids[win.seq].begin() + win.start, win.len, row + 1);
      row[win.len + 1] = tokenizer::kSepId;
      std::fill(mask.begin() + b * T, mask.begin() + b * T + win.len + 2, 1);
    }
    engine::Tape tape(arena, engine::Tape::Mode::Inference);
    BertInputs in{Tensor::from_ints({B, T}, ids, &arena), Tensor(), Tensor::from_ints({B, T}, mask, &arena)};
    Tensor logits = model.classify(tape, model.encode(tape, in, {}, nullptr, Bert::cls_rows(tape, B, T)), {});
    const float* pl = logits.f32();
    for (int64_t b = 0; b < B; ++b) {
      const size_t s = windows[w0 + static_cast<size_t>(b)].seq;
      ++count[s];
      for (int c = 0; c < C; ++c) {
        double& a = acc[s * static_cast<size_t>(C) + static_cast<size_t>(c)];
        const double v = pl[b * C + c];
        a = o.aggregate == Aggregate::Mean ? a + v : std::max(a, v);
      }
    }
  }
  std::vector<float> probs(acc.size());
  for (size_t s = 0; s < kmer_ids.size(); ++s) {
    double mx = -DBL_MAX;
    for (int c = 0; c < C; ++c) {
      double& a = acc[s * C + static_cast<size_t>(c)];
      if (o.aggregate == Aggregate::Mean) a /= count[s];
      mx = std::max(mx, a);
    }
    if (o.output != OutputKind::Softmax) {
      for (int c = 0; c < C; ++c) {
        const double a = acc[s * C + static_cast<size_t>(c)];
        probs[s * C + static_cast<size_t>(c)] =
            static_cast<float>(o.output == OutputKind::Sigmoid ? 1.0 / (1.0 + std::exp(-a)) : a);
      }
      continue;
    }
    double z = 0;
    for (int c = 0; c < C; ++c) z += std::exp(acc[s * C + static_cast<size_t>(c)] - mx);
    for (int c = 0; c < C; ++c)
      probs[s * C + static_cast<size_t>(c)] = static_cast<float>(std::exp(acc[s * C + static_cast<size_t>(c)] - mx) / z);
  }
  if (windows_per) *windows_per = count;
  return probs;
}

}  // namespace dnabert::models
