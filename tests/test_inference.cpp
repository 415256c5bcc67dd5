// Windowed classification of long sequences (models/analysis/inference.h): the
// streaming WindowClassifier, fed k-mers in pieces of any size with windows
// batched across sequences, against a direct reference that cuts each whole
// sequence into the documented windows and classifies them one at a time.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "models/analysis/inference.h"
#include "models/network/loading.h"
#include "tests/test_util.h"
#include "tests/tiny_model.h"
#include "tokenizer/vocab.h"

using namespace dnabert;
using namespace dnabert::testing;

namespace {

// The window starts of a sequence of n k-mers, written from the rule itself:
// 0, s, 2s, ... while a k-mer follows the window, then the window that ends at
// the sequence's end.
std::vector<int64_t> window_starts(int64_t n, int64_t L, int64_t stride) {
  if (n <= L) return {0};
  std::vector<int64_t> starts;
  int64_t s = 0;
  for (; s + L < n; s += stride) starts.push_back(s);
  starts.push_back(n - L);
  return starts;
}

// Outputs of one sequence, one window per forward pass.
std::vector<float> reference(const models::Bert& model, const std::vector<int32_t>& kmers,
                             const models::WindowOptions& o, engine::Arena& arena, int& windows) {
  const int64_t L = o.max_len - 2, stride = o.stride, C = model.config().num_labels;
  std::vector<double> acc(static_cast<size_t>(C), o.aggregate == models::Aggregate::Max ? -1e300 : 0.0);
  const std::vector<int64_t> starts = window_starts(static_cast<int64_t>(kmers.size()), L, stride);
  for (int64_t start : starts) {
    const int64_t len = std::min<int64_t>(L, static_cast<int64_t>(kmers.size()));
    std::vector<int32_t> ids{tokenizer::kClsId};
    ids.insert(ids.end(), kmers.begin() + start, kmers.begin() + start + len);
    ids.push_back(tokenizer::kSepId);
    const int64_t T = static_cast<int64_t>(ids.size());
    engine::Tape tape(arena, engine::Tape::Mode::Inference);
    models::BertInputs in{engine::Tensor::from_ints({1, T}, ids, &arena), engine::Tensor(),
                          engine::Tensor::from_ints({1, T}, std::vector<int32_t>(ids.size(), 1), &arena)};
    const float* logits = model.classify(tape, model.encode(tape, in, {}, nullptr, models::Bert::cls_rows(tape, 1, T)), {}).f32();
    for (int64_t c = 0; c < C; ++c)
      acc[static_cast<size_t>(c)] = o.aggregate == models::Aggregate::Mean ? acc[static_cast<size_t>(c)] + logits[c]
                                                                           : std::max<double>(acc[static_cast<size_t>(c)], logits[c]);
  }
  windows = static_cast<int>(starts.size());
  if (o.aggregate == models::Aggregate::Mean)
    for (double& a : acc) a /= windows;
  const double mx = *std::max_element(acc.begin(), acc.end());
  double z = 0;
  for (double a : acc) z += std::exp(a - mx);
  std::vector<float> p;
  for (double a : acc) p.push_back(static_cast<float>(std::exp(a - mx) / z));
  return p;
}

}  // namespace

TEST_CASE("WindowClassifier: k-mers in pieces, windows batched across sequences, equal one window at a time") {
  const std::string dir = tiny_model_dir("inference_model", 3, 11);
  models::LoadedModel lm = models::load_model(dir, models::Heads::Classification);
  engine::Arena arena;
  std::mt19937 rng(5);
  // Lengths around the window (8 k-mers) and many windows; 0 is [CLS] [SEP] alone.
  const std::vector<int64_t> lengths = {0, 1, 7, 8, 9, 12, 40, 101, 3};
  std::vector<std::vector<int32_t>> seqs;
  for (int64_t n : lengths) {
    seqs.emplace_back();
    for (int64_t i = 0; i < n; ++i) seqs.back().push_back(tokenizer::kNumSpecial + static_cast<int32_t>(rng() % 64));
  }
  for (models::Aggregate aggregate : {models::Aggregate::Mean, models::Aggregate::Max}) {
    for (int stride : {3, 8, 11}) {
      models::WindowOptions o;
      o.max_len = 10;
      o.stride = stride;
      o.batch = 4;
      o.aggregate = aggregate;
      CAPTURE(stride);
      models::WindowClassifier classifier(*lm.model, o, arena);
      std::vector<float> got;
      std::vector<int> got_windows;
      auto collect = [&] {
        std::vector<float> p;
        int w = 0;
        while (classifier.next_result(p, w)) {
          got.insert(got.end(), p.begin(), p.end());
          got_windows.push_back(w);
        }
      };
      for (const auto& s : seqs) {
        classifier.begin();
        for (size_t at = 0; at < s.size();) {
          const size_t n = std::min<size_t>(s.size() - at, rng() % 6);  // pieces of 0 to 5 k-mers
          classifier.add(std::span<const int32_t>(s.data() + at, n));
          at += n;
        }
        classifier.end();
        collect();  // results come out in order as their windows run
      }
      CHECK(got_windows.size() < seqs.size());  // the last batch has not run yet
      classifier.flush();
      collect();
      REQUIRE(got_windows.size() == seqs.size());
      for (size_t i = 0; i < seqs.size(); ++i) {
        CAPTURE(lengths[i]);
        int windows = 0;
        const std::vector<float> want = reference(*lm.model, seqs[i], o, arena, windows);
        CHECK(got_windows[i] == windows);
        for (size_t c = 0; c < want.size(); ++c) CHECK(got[i * 3 + c] == doctest::Approx(want[c]).epsilon(1e-5));
      }
      // classify_sequences, the whole-sequence form, gives the same.
      std::vector<int> counts;
      const std::vector<float> whole = models::classify_sequences(*lm.model, seqs, o, arena, &counts);
      CHECK(counts == got_windows);
      for (size_t i = 0; i < whole.size(); ++i) CHECK(whole[i] == doctest::Approx(got[i]).epsilon(1e-5));
    }
  }
}

TEST_CASE("classify_file: a streamed FASTA file equals classify_sequences on its whole sequences") {
  const std::string dir = tiny_model_dir("inference_file", 3, 12);
  const models::LoadedModel lm = models::load_model(dir, models::Heads::Classification);
  std::mt19937 gen(7);
  std::string fasta;
  std::vector<std::string> seqs;
  for (int n : {5, 40, 700, 3, 130}) {  // 700 bases span many windows
    std::string s;
    for (int i = 0; i < n; ++i) s += "ACGT"[gen() % 4];
    seqs.push_back(s);
    fasta += ">s" + std::to_string(seqs.size()) + " note\n";
    for (size_t at = 0; at < s.size(); at += 60) fasta += s.substr(at, 60) + "\n";
  }
  const std::string path = write_file("inference_file.fa", fasta);
  models::WindowOptions wo;
  wo.max_len = 32, wo.batch = 3;
  const tokenizer::KmerTokenizer tok(lm.vocab);
  std::vector<std::vector<int32_t>> ids;
  for (const auto& s : seqs) {
    ids.emplace_back();
    tok.append_ids(s, tokenizer::Input::Sequence, ids.back());
  }
  engine::Arena arena;
  std::vector<int> windows;
  const std::vector<float> want = models::classify_sequences(*lm.model, ids, wo, arena, &windows);
  std::vector<std::string> got_ids;
  std::vector<float> got;
  std::vector<int> got_windows;
  const int64_t n = models::classify_file(*lm.model, tok, path, wo,
                                          [&](const std::string& id, const std::vector<float>& p, int w) {
                                            got_ids.push_back(id);
                                            got.insert(got.end(), p.begin(), p.end());
                                            got_windows.push_back(w);
                                          });
  CHECK(n == 5);
  CHECK(got_ids == std::vector<std::string>{"s1", "s2", "s3", "s4", "s5"});
  CHECK(got_windows == windows);
  CHECK(windows[2] > 1);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-6));
}
