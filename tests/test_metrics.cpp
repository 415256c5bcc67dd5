// models/training/metrics: sklearn's classification, regression and multi-label metrics.
// Every fixture is worked out by hand in the comments; the k* constants were
// printed by tests/oracle/metrics_reference.py (sklearn 1.2.1, scipy 1.10.1)
// for the same inputs and agree with the hand values.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "base/error.h"
#include "models/training/metrics.h"

using namespace dnabert;
using namespace dnabert::models;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Field order as printed by the oracle.
struct ExpectedBinary {
  double accuracy, precision, recall, f1, precision_macro, recall_macro, f1_macro, mcc, auc, aupr;
};
struct ExpectedMulti {
  double accuracy, precision_macro, recall_macro, f1_macro, mcc, auc, aupr;
};

// ---- pasted from tests/oracle/metrics_reference.py ------------------------
const ExpectedBinary kBinaryTies{0.5714285714285714, 0.6666666666666666, 0.5, 0.5714285714285715, 0.5833333333333333, 0.5833333333333333, 0.5714285714285715, 0.16666666666666666, 0.6666666666666667, 0.6458333333333333};
const ExpectedBinary kBinaryOneClass{0.6666666666666666, 0.0, 0.0, 0.0, 0.5, 0.3333333333333333, 0.4, 0.0, kNaN, -0.0};
const ExpectedBinary kBinaryAllEqual{0.4, 0.0, 0.0, 0.0, 0.2, 0.5, 0.28571428571428575, 0.0, 0.5, 0.6};
const ExpectedBinary kBinaryPerfect{1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0};
const ExpectedMulti kThreeClass{0.5, 0.611111111111111, 0.5, 0.5222222222222223, 0.26111648393354675, 0.8541666666666666, 0.8444444444444444};
const ExpectedMulti kThreeClassAbsentTrue{0.5, 0.5, 0.3333333333333333, 0.38888888888888884, 0.22360679774997896, 0.75, 0.5833333333333334};
const ExpectedMulti kThreeClassAbsentBoth{0.75, 0.8333333333333333, 0.75, 0.7333333333333334, 0.5773502691896258, 1.0, 0.6666666666666666};
// Generated2: confusion [[19, 0], [7, 34]]
const ExpectedBinary kGenerated2{0.8833333333333333, 1.0, 0.8292682926829268, 0.9066666666666667, 0.8653846153846154, 0.9146341463414633, 0.8755555555555555, 0.7784624283452708, 0.9293966623876765, 0.9660924041998349};
// Generated3: confusion [[15, 1, 4], [0, 19, 2], [5, 0, 14]]
const ExpectedMulti kGenerated3{0.8, 0.7999999999999999, 0.7972013366750209, 0.7982593287471337, 0.7002918490850172, 0.8543650793650794, 0.7250804049889529};
// Generated4: confusion [[20, 0, 0, 0], [6, 18, 2, 8], [0, 0, 7, 0], [0, 0, 0, 19]]
const ExpectedMulti kGenerated4{0.8, 0.8126780626780626, 0.8823529411764706, 0.815739966555184, 0.756318694542403, 0.8754708462332301, 0.6811445803801888};
const double kRegressionTies[] = {0.5, 0.5, 0.6, 0.894427190999916, 0.9486832980505139};  // mse mae r2 pearson spearman
const double kRegressionGenerated[] = {2.7255555226074346, 1.3466666567325591, -0.8054819307150467, 0.018079637261898797, 0.018350898046140325};
// ---------------------------------------------------------------------------

void check_close(double got, double want, double eps = 1e-12) {
  if (std::isnan(want))
    CHECK(std::isnan(got));
  else
    CHECK(got == doctest::Approx(want).epsilon(eps));
}

void check_binary(const ClassificationMetrics& m, const ExpectedBinary& e) {
  check_close(m.accuracy, e.accuracy);
  check_close(m.precision, e.precision);
  check_close(m.recall, e.recall);
  check_close(m.f1, e.f1);
  check_close(m.precision_macro, e.precision_macro);
  check_close(m.recall_macro, e.recall_macro);
  check_close(m.f1_macro, e.f1_macro);
  check_close(m.mcc, e.mcc);
  check_close(m.auc, e.auc);
  check_close(m.aupr, e.aupr);
}

void check_multi(const ClassificationMetrics& m, const ExpectedMulti& e) {
  check_close(m.accuracy, e.accuracy);
  check_close(m.precision_macro, e.precision_macro);
  check_close(m.recall_macro, e.recall_macro);
  check_close(m.f1_macro, e.f1_macro);
  check_close(m.mcc, e.mcc);
  check_close(m.auc, e.auc);
  check_close(m.aupr, e.aupr);
  CHECK(std::isnan(m.precision));  // binary fields are undefined for C > 2
  CHECK(std::isnan(m.f1));
}

// Binary probs rows {1 - p, p} from the scores of class 1.
std::vector<float> binary_rows(const std::vector<float>& p1) {
  std::vector<float> probs;
  for (float p : p1) probs.insert(probs.end(), {1.0f - p, p});
  return probs;
}

// The oracle's closed-form sets: weights w_k = ((37 i (2k + 3) + 11 k) mod 9) + 1,
// probs = float32(w / sum w), label = argmax w except every 4th row, (5i + 1) mod C.
void generated(int n, int c, std::vector<int32_t>& labels, std::vector<float>& probs) {
  labels.clear();
  probs.clear();
  for (int i = 0; i < n; ++i) {
    std::vector<long> w;
    for (int k = 0; k < c; ++k) w.push_back(((static_cast<long>(i) * (2 * k + 3) * 37 + 11 * k) % 9) + 1);
    long sum = 0;
    for (long x : w) sum += x;
    for (long x : w) probs.push_back(static_cast<float>(static_cast<double>(x) / static_cast<double>(sum)));
    const int argmax = static_cast<int>(std::max_element(w.begin(), w.end()) - w.begin());
    labels.push_back(i % 4 != 0 ? argmax : (5 * i + 1) % c);
  }
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no exception>";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("binary with tied scores: every metric by hand") {
  //  i   y   p1   pred (argmax, tie -> 0)
  //  0   1  0.9   1
  //  1   0  0.9   1
  //  2   1  0.6   1
  //  3   1  0.5   0     (0.5 vs 0.5: the lowest index wins)
  //  4   0  0.4   0
  //  5   1  0.4   0
  //  6   0  0.1   0
  const std::vector<int32_t> y = {1, 0, 1, 1, 0, 1, 0};
  const std::vector<float> probs = {0.1f, 0.9f, 0.1f, 0.9f, 0.4f, 0.6f, 0.5f, 0.5f, 0.6f, 0.4f, 0.6f, 0.4f, 0.9f, 0.1f};
  const ClassificationMetrics m = compute_classification_metrics(y, probs, 2);
  // Confusion (rows true): [[2, 1], [2, 2]]; accuracy 4/7.
  CHECK(m.confusion == std::vector<int64_t>{2, 1, 2, 2});
  check_close(m.accuracy, 4.0 / 7);
  // Class 1: tp 2, fp 1, fn 2 -> P 2/3, R 1/2, F1 = 2tp/(2tp+fp+fn) = 4/7.
  // Class 0: tp 2, fp 2, fn 1 -> P 1/2, R 2/3, F1 4/7. Macro: P = R = 7/12, F1 4/7.
  check_close(m.precision, 2.0 / 3);
  check_close(m.recall, 0.5);
  check_close(m.f1, 4.0 / 7);
  check_close(m.per_class_precision[0], 0.5);
  check_close(m.per_class_recall[0], 2.0 / 3);
  check_close(m.precision_macro, 7.0 / 12);
  check_close(m.recall_macro, 7.0 / 12);
  check_close(m.f1_macro, 4.0 / 7);
  // MCC: N 7, correct 4, t = [3, 4], p = [4, 3]: (4*7 - 24) / sqrt((49 - 25)(49 - 25)) = 4/24 = 1/6
  // (binary form: (2*2 - 1*2) / sqrt(3*4*3*4) = 2/12).
  check_close(m.mcc, 1.0 / 6);
  // AUC over the 4 x 3 (pos, neg) pairs, a tie counting 1/2:
  //   pos 0.9: {0.9 tie, 0.4, 0.1} -> 2.5; 0.6 -> 2; 0.5 -> 2; 0.4: {0.4 tie, 0.1} -> 1.5; total 8/12 = 2/3.
  // Trapezoids over thresholds (fps, tps) (0,0) (1,1) (1,2) (1,3) (2,4) (3,4):
  //   1*(0+1)/2 + 0 + 0 + 1*(3+4)/2 + 1*(4+4)/2 = 8 -> 8/12.
  check_close(m.auc, 2.0 / 3);
  // AP = sum (R_k - R_{k-1}) P_k: 0.9: R 1/4, P 1/2; 0.6: R 2/4, P 2/3; 0.5: R 3/4, P 3/4;
  //   0.4: R 1, P 4/6; 0.1: R unchanged. 1/8 + 1/6 + 3/16 + 1/6 = 31/48.
  check_close(m.aupr, 31.0 / 48);
  check_binary(m, kBinaryTies);

  // The order of the examples does not matter (ties are not broken by position).
  std::vector<int32_t> y_rev(y.rbegin(), y.rend());
  std::vector<float> probs_rev;
  for (size_t i = y.size(); i-- > 0;) probs_rev.insert(probs_rev.end(), {probs[2 * i], probs[2 * i + 1]});
  check_binary(compute_classification_metrics(y_rev, probs_rev, 2), kBinaryTies);
}

TEST_CASE("AP is the step-wise sum, ties form one threshold") {
  // y = [1, 0, 1, 0], s = [0.8, 0.8, 0.3, 0.3]: two thresholds.
  //   0.8: tps 1, fps 1 -> R 1/2, P 1/2;  0.3: tps 2, fps 2 -> R 1, P 1/2.  AP = 1/4 + 1/4 = 1/2.
  // Breaking the ties positive-first would give 1*(1/2) + (2/3)(1/2) = 5/6.
  // AUC: (0.5 + 1 + 0 + 0.5) / 4 = 1/2. sklearn prints 0.5 and 0.5.
  const std::vector<uint8_t> y = {1, 0, 1, 0};
  const std::vector<float> s = {0.8f, 0.8f, 0.3f, 0.3f};
  check_close(binary_average_precision(y, s), 0.5);
  check_close(binary_roc_auc(y, s), 0.5);
  // Step-wise, not trapezoidal: y = [1, 0, 1], s = [0.9, 0.8, 0.7].
  //   AP = 1*(1/2) + (2/3)*(1/2) = 5/6; the trapezoid under (0,1) (1/2,1) (1/2,1/2) (1,2/3)
  //   would be 1/2 + (1/2)(1/2 + 2/3)/2 = 19/24.
  const std::vector<uint8_t> y3 = {1, 0, 1};
  const std::vector<float> s3 = {0.9f, 0.8f, 0.7f};
  check_close(binary_average_precision(y3, s3), 5.0 / 6);
  CHECK(binary_average_precision(y3, s3) != doctest::Approx(19.0 / 24));
  // Only positives: AP 1, AUC undefined. No positives: AP 0 (sklearn: recall := 1), AUC undefined.
  check_close(binary_average_precision(std::vector<uint8_t>{1, 1}, std::vector<float>{0.2f, 0.4f}), 1.0);
  CHECK(std::isnan(binary_roc_auc(std::vector<uint8_t>{1, 1}, std::vector<float>{0.2f, 0.4f})));
  check_close(binary_average_precision(std::vector<uint8_t>{0, 0}, std::vector<float>{0.2f, 0.4f}), 0.0);
  CHECK_THROWS_AS(binary_roc_auc(std::vector<uint8_t>{0, 1}, std::vector<float>{0.2f}), ShapeError);
}

TEST_CASE("binary with one class absent from the labels: AUC is NaN, zero_division gives 0") {
  // y = [0, 0, 0], p1 = [0.2, 0.7, 0.4] -> pred [0, 1, 0]; confusion [[2, 1], [0, 0]], accuracy 2/3.
  // Class 1: tp 0, fp 1, fn 0 -> P 0/1 = 0, R 0/0 -> 0, F1 0/1 = 0.
  // Class 0: tp 2, fp 0, fn 1 -> P 1, R 2/3, F1 4/5. Both classes occur (1 is predicted):
  //   macro P 1/2, R 1/3, F1 2/5.
  // MCC: t = [3, 0] -> N² - t·t = 9 - 9 = 0 -> 0. AUC undefined; AP with no positive = 0.
  const ClassificationMetrics m = compute_classification_metrics(std::vector<int32_t>{0, 0, 0},
                                                                 binary_rows({0.2f, 0.7f, 0.4f}), 2);
  CHECK(m.confusion == std::vector<int64_t>{2, 1, 0, 0});
  check_close(m.precision_macro, 0.5);
  check_close(m.recall_macro, 1.0 / 3);
  check_close(m.f1_macro, 0.4);
  check_binary(m, kBinaryOneClass);
  CHECK(std::isnan(metric_by_name(m, "auc")));
  const nlohmann::json j = m.to_json();
  CHECK(j["auc"].is_null());
  CHECK(j["aupr"] == 0.0);
  CHECK(j["confusion"] == nlohmann::json::parse("[[2, 1], [0, 0]]"));
  CHECK(contains(m.to_tsv_row(), "\tnan\t0.000000"));  // auc, then aupr (the last two columns)
}

TEST_CASE("all predictions equal") {
  // Every row is {0.5, 0.5}: argmax ties to class 0; y = [0, 1, 1, 0, 1].
  // Confusion [[2, 0], [3, 0]], accuracy 2/5.
  // Class 1 never predicted: P 0 (zero_division), R 0/3, F1 0. Class 0: P 2/5, R 1, F1 4/7.
  //   Macro P 1/5, R 1/2, F1 2/7.
  // MCC: p = [5, 0] -> N² - p·p = 0 -> 0.
  // One threshold (tps 3, fps 2): AUC = 2*(0+3)/2 / 6 = 1/2; AP = 1 * 3/5 (the prevalence).
  const ClassificationMetrics m = compute_classification_metrics(std::vector<int32_t>{0, 1, 1, 0, 1},
                                                                 binary_rows({0.5f, 0.5f, 0.5f, 0.5f, 0.5f}), 2);
  CHECK(m.confusion == std::vector<int64_t>{2, 0, 3, 0});
  check_close(m.f1_macro, 2.0 / 7);
  check_close(m.auc, 0.5);
  check_close(m.aupr, 0.6);
  check_binary(m, kBinaryAllEqual);
}

TEST_CASE("a perfect classifier scores 1 everywhere") {
  check_binary(compute_classification_metrics(std::vector<int32_t>{0, 1, 0, 1}, binary_rows({0.2f, 0.8f, 0.3f, 0.7f}), 2),
               kBinaryPerfect);
  // Three classes: the confusion matrix is diagonal, t = p, so MCC = (N² - t·t)/(N² - t·t) = 1;
  // every pair is separated (AUC 1) and every class ranks its own examples first (AP 1).
  const std::vector<int32_t> y = {2, 0, 1, 2};
  const std::vector<float> probs = {0.1f, 0.2f, 0.7f, 0.6f, 0.3f, 0.1f, 0.2f, 0.5f, 0.3f, 0.3f, 0.1f, 0.6f};
  const ClassificationMetrics m = compute_classification_metrics(y, probs, 3);
  CHECK(m.confusion == std::vector<int64_t>{1, 0, 0, 0, 1, 0, 0, 0, 2});
  check_multi(m, ExpectedMulti{1, 1, 1, 1, 1, 1, 1});
}

TEST_CASE("three classes: MCC from the confusion matrix, one-vs-one AUC (Hand & Till)") {
  //  i  y   p0   p1   p2   pred
  //  0  0  0.6  0.3  0.1   0
  //  1  0  0.3  0.5  0.2   1
  //  2  1  0.2  0.7  0.1   1
  //  3  1  0.5  0.3  0.2   0
  //  4  2  0.1  0.2  0.7   2
  //  5  2  0.2  0.5  0.3   1
  const std::vector<int32_t> y = {0, 0, 1, 1, 2, 2};
  const std::vector<float> probs = {0.6f, 0.3f, 0.1f, 0.3f, 0.5f, 0.2f, 0.2f, 0.7f, 0.1f,
                                    0.5f, 0.3f, 0.2f, 0.1f, 0.2f, 0.7f, 0.2f, 0.5f, 0.3f};
  const ClassificationMetrics m = compute_classification_metrics(y, probs, 3);
  CHECK(m.confusion == std::vector<int64_t>{1, 1, 0, 1, 1, 0, 0, 1, 1});
  // Per class (tp, fp, fn): 0 (1, 1, 1) -> P 1/2, R 1/2, F1 1/2; 1 (1, 2, 1) -> 1/3, 1/2, 2/5;
  //   2 (1, 0, 1) -> 1, 1/2, 2/3. Macro P 11/18, R 1/2, F1 47/90.
  check_close(m.precision_macro, 11.0 / 18);
  check_close(m.recall_macro, 0.5);
  check_close(m.f1_macro, 47.0 / 90);
  check_close(m.per_class_f1[1], 0.4);
  // MCC: N 6, correct 3, t = [2, 2, 2], p = [2, 3, 1]: t·p 12, p·p 14, t·t 12.
  //   (3*6 - 12) / sqrt((36 - 12)(36 - 14)) = 6 / sqrt(528).
  check_close(m.mcc, 6.0 / std::sqrt(528.0));
  // OvO, each pair on its own examples:
  //   (0,1): AUC(y=0, p0) pos {0.6, 0.3} vs neg {0.2, 0.5} = 3/4; AUC(y=1, p1) pos {0.7, 0.3}
  //          vs neg {0.3, 0.5} = (1 + 1 + 1/2 + 0)/4 = 5/8 (a tie); pair 11/16.
  //   (0,2): 1 and 1 -> 1.   (1,2): AUC(y=1, p1) {0.7, 0.3} vs {0.2, 0.5} = 3/4, AUC(y=2, p2) = 1 -> 7/8.
  //   Macro (11/16 + 1 + 7/8) / 3 = 41/48.
  check_close(m.auc, 41.0 / 48);
  // One-vs-rest AP: class 0 scores 0.6+ 0.5- 0.3+ ... -> 1/2*1 + 1/2*2/3 = 5/6;
  //   class 1: 0.7+ {0.5-, 0.5-} {0.3-, 0.3+} -> 1/2*1 + 1/2*2/5 = 7/10 (a tie); class 2: 0.7+ 0.3+ -> 1.
  //   Macro (5/6 + 7/10 + 1) / 3 = 38/45.
  check_close(m.aupr, 38.0 / 45);
  check_multi(m, kThreeClass);
}

TEST_CASE("three classes with a class absent") {
  // Class 2 absent from y but predicted once; (0.4, 0.4, 0.2) ties to class 0.
  //   y = [0, 0, 1, 1], pred = [0, 2, 1, 0]; confusion [[1, 0, 1], [1, 1, 0], [0, 0, 0]].
  //   Class 2: tp 0, fp 1, fn 0 -> P 0, R 0/0 -> 0, F1 0. Macro over {0, 1, 2} (all occur):
  //   P (1/2 + 1 + 0)/3 = 1/2, R (1/2 + 1/2 + 0)/3 = 1/3, F1 (1/2 + 2/3 + 0)/3 = 7/18.
  //   MCC: t = [2, 2, 0], p = [2, 1, 1]: (2*4 - 6) / sqrt((16 - 8)(16 - 6)) = 2/sqrt(80).
  //   OvO over the one pair present, (0,1): AUC(y=0, p0) {0.7, 0.2} vs {0.3, 0.4} = 1/2,
  //   AUC(y=1, p1) {0.6, 0.4} vs {0.2, 0.3} = 1 -> 3/4.
  //   AP: class 0 0.7+ 0.4- 0.3- 0.2+ -> 1/2 + 1/2*2/4 = 3/4; class 1 -> 1; class 2 no positive -> 0;
  //   macro 7/12.
  const ClassificationMetrics absent_true = compute_classification_metrics(
      std::vector<int32_t>{0, 0, 1, 1},
      std::vector<float>{0.7f, 0.2f, 0.1f, 0.2f, 0.3f, 0.5f, 0.3f, 0.6f, 0.1f, 0.4f, 0.4f, 0.2f}, 3);
  CHECK(absent_true.confusion == std::vector<int64_t>{1, 0, 1, 1, 1, 0, 0, 0, 0});
  check_close(absent_true.f1_macro, 7.0 / 18);
  check_close(absent_true.mcc, 2.0 / std::sqrt(80.0));
  check_close(absent_true.auc, 0.75);
  check_close(absent_true.aupr, 7.0 / 12);
  check_multi(absent_true, kThreeClassAbsentTrue);

  // Class 2 absent from y and never predicted: sklearn's macro leaves it out.
  //   y = [0, 1, 0, 1], pred = [0, 1, 1, 1]; class 0 P 1, R 1/2, F1 2/3; class 1 P 2/3, R 1, F1 4/5.
  //   Macro P 5/6, R 3/4, F1 11/15 (over all three it would be 11/45).
  //   MCC: t = [2, 2, 0], p = [1, 3, 0]: (3*4 - 8) / sqrt((16 - 8)(16 - 10)) = 4/sqrt(48).
  //   AP: classes 0 and 1 rank their examples first -> 1, class 2 -> 0; macro 2/3.
  const ClassificationMetrics absent_both = compute_classification_metrics(
      std::vector<int32_t>{0, 1, 0, 1},
      std::vector<float>{0.8f, 0.1f, 0.1f, 0.1f, 0.8f, 0.1f, 0.3f, 0.6f, 0.1f, 0.2f, 0.7f, 0.1f}, 3);
  CHECK(absent_both.confusion == std::vector<int64_t>{1, 1, 0, 0, 2, 0, 0, 0, 0});
  check_close(absent_both.f1_macro, 11.0 / 15);
  check_close(absent_both.per_class_f1[2], 0.0);
  check_close(absent_both.mcc, 4.0 / std::sqrt(48.0));
  check_multi(absent_both, kThreeClassAbsentBoth);

  // One class only: no pair to compare, AUC NaN; predictions all correct but MCC's
  // denominator is 0 -> 0 (sklearn gives 0.0).
  const ClassificationMetrics single = compute_classification_metrics(
      std::vector<int32_t>{1, 1}, std::vector<float>{0.2f, 0.5f, 0.3f, 0.1f, 0.8f, 0.1f}, 3);
  CHECK(std::isnan(single.auc));
  check_close(single.accuracy, 1.0);
  check_close(single.mcc, 0.0);
  CHECK(single.to_json()["auc"].is_null());
}

TEST_CASE("closed-form sets with many tied scores match sklearn") {
  std::vector<int32_t> y;
  std::vector<float> probs;
  generated(60, 2, y, probs);
  ClassificationMetrics m = compute_classification_metrics(y, probs, 2);
  CHECK(m.confusion == std::vector<int64_t>{19, 0, 7, 34});
  check_binary(m, kGenerated2);
  generated(60, 3, y, probs);
  m = compute_classification_metrics(y, probs, 3);
  CHECK(m.confusion == std::vector<int64_t>{15, 1, 4, 0, 19, 2, 5, 0, 14});
  check_multi(m, kGenerated3);
  generated(80, 4, y, probs);
  m = compute_classification_metrics(y, probs, 4);
  CHECK(m.confusion == std::vector<int64_t>{20, 0, 0, 0, 6, 18, 2, 8, 0, 0, 7, 0, 0, 0, 0, 19});
  check_multi(m, kGenerated4);
}

TEST_CASE("reports: confusion text, JSON, TSV, metric_by_name") {
  const ClassificationMetrics m = compute_classification_metrics(
      std::vector<int32_t>{1, 0, 1, 1, 0, 1, 0},
      std::vector<float>{0.1f, 0.9f, 0.1f, 0.9f, 0.4f, 0.6f, 0.5f, 0.5f, 0.6f, 0.4f, 0.6f, 0.4f, 0.9f, 0.1f}, 2);
  CHECK(format_confusion_matrix(m.confusion, 2) ==
        "true\\pred  0  1\n"
        "        0  2  1\n"
        "        1  2  2\n");
  const std::vector<std::string> names = {"non-promoter", "promoter"};
  CHECK(format_confusion_matrix(std::vector<int64_t>{120, 3, 1004, 7}, 2, names) ==
        "   true\\pred  non-promoter      promoter\n"
        "non-promoter           120             3\n"
        "    promoter          1004             7\n");
  CHECK_THROWS_AS(format_confusion_matrix(m.confusion, 3), ShapeError);

  const nlohmann::json j = m.to_json();
  CHECK(j["num_classes"] == 2);
  CHECK(j["num_examples"] == 7);
  CHECK(j["mcc"].get<double>() == doctest::Approx(1.0 / 6));
  CHECK(j["per_class_f1"].size() == 2);
  CHECK(j["confusion"] == nlohmann::json::parse("[[2, 1], [2, 2]]"));
  CHECK(ClassificationMetrics::to_tsv_header() ==
        "num_examples\taccuracy\tprecision\trecall\tf1\tprecision_macro\trecall_macro\tf1_macro\tmcc\tauc\taupr");
  CHECK(m.to_tsv_row() == "7\t0.571429\t0.666667\t0.500000\t0.571429\t0.583333\t0.583333\t0.571429\t0.166667\t0.666667\t0.645833");

  check_close(metric_by_name(m, "acc"), 4.0 / 7);
  check_close(metric_by_name(m, "accuracy"), 4.0 / 7);
  check_close(metric_by_name(m, "mcc"), 1.0 / 6);
  check_close(metric_by_name(m, "auc"), 2.0 / 3);
  check_close(metric_by_name(m, "aupr"), 31.0 / 48);
  check_close(metric_by_name(m, "f1"), m.f1_macro);
  check_close(metric_by_name(m, "f1_binary"), m.f1);
  CHECK_THROWS_AS(metric_by_name(m, "loss"), UsageError);
  CHECK(contains(error_of([&] { metric_by_name(m, "loss"); }), "unknown metric 'loss'"));
}

TEST_CASE("classification input errors carry context") {
  const std::vector<float> probs = {0.5f, 0.5f, 0.2f, 0.8f};
  CHECK(contains(error_of([&] { compute_classification_metrics(std::vector<int32_t>{0, 2}, probs, 2); }),
                 "label 2 of example 1 is outside [0, 2)"));
  CHECK(contains(error_of([&] { compute_classification_metrics(std::vector<int32_t>{0, -1}, probs, 2); }),
                 "label -1 of example 1"));
  CHECK(contains(error_of([&] { compute_classification_metrics(std::vector<int32_t>{0, 1, 1}, probs, 2); }),
                 "probs has 4 values, expected N * C = 3 * 2"));
  CHECK(contains(error_of([&] { compute_classification_metrics(std::vector<int32_t>{0, 1}, probs, 1); }),
                 "num_classes must be >= 2"));
  CHECK(contains(error_of([&] { compute_classification_metrics(std::vector<int32_t>{}, std::vector<float>{}, 2); }),
                 "no examples"));
  // Logits instead of probabilities.
  CHECK(contains(error_of([&] {
                   compute_classification_metrics(std::vector<int32_t>{0, 1}, std::vector<float>{0.3f, 0.5f, 0.2f, 0.8f}, 2);
                 }),
                 "probs row 0 sums to 0.8"));
  CHECK(contains(error_of([&] {
                   compute_classification_metrics(std::vector<int32_t>{0}, std::vector<float>{-1.0f, 2.0f}, 2);
                 }),
                 "is not a probability"));
  CHECK_THROWS_AS(compute_classification_metrics(std::vector<int32_t>{0}, std::vector<float>{NAN, 1.0f}, 2), ShapeError);
}

TEST_CASE("regression: MSE, MAE, R², Pearson, Spearman with ties") {
  // y = [1, 2, 3, 4], ŷ = [1, 2, 2, 5]: errors [0, 0, 1, -1] -> MSE 2/4, MAE 2/4.
  // SS_tot = 2.25 + 0.25 + 0.25 + 2.25 = 5 -> R² = 1 - 2/5 = 0.6.
  // Pearson: deviations [-1.5, -0.5, 0.5, 1.5] and [-1.5, -0.5, -0.5, 2.5]: 6 / sqrt(5 * 9) = 2/sqrt(5).
  // Spearman: ranks [1, 2, 3, 4] and [1, 2.5, 2.5, 4]: 4.5 / sqrt(5 * 4.5) = 3/sqrt(10).
  const RegressionMetrics r = compute_regression_metrics(std::vector<float>{1, 2, 3, 4}, std::vector<float>{1, 2, 2, 5});
  check_close(r.mse, 0.5);
  check_close(r.mae, 0.5);
  check_close(r.r2, 0.6);
  check_close(r.pearson, 2.0 / std::sqrt(5.0));
  check_close(r.spearman, 3.0 / std::sqrt(10.0));
  const double* k = kRegressionTies;
  for (auto [got, want] : {std::pair{r.mse, k[0]}, {r.mae, k[1]}, {r.r2, k[2]}, {r.pearson, k[3]}, {r.spearman, k[4]}})
    check_close(got, want);

  // Constant predictions: MSE (1 + 0 + 1)/3, R² = 1 - 2/2 = 0, correlations undefined.
  const RegressionMetrics c = compute_regression_metrics(std::vector<float>{1, 2, 3}, std::vector<float>{2, 2, 2});
  check_close(c.mse, 2.0 / 3);
  check_close(c.r2, 0.0);
  CHECK(std::isnan(c.pearson));
  CHECK(std::isnan(c.spearman));
  CHECK(c.to_json()["pearson"].is_null());
  // Constant targets (sklearn's force_finite): 1 if predicted exactly, else 0.
  check_close(compute_regression_metrics(std::vector<float>{2, 2}, std::vector<float>{2, 2}).r2, 1.0);
  check_close(compute_regression_metrics(std::vector<float>{2, 2}, std::vector<float>{2, 3}).r2, 0.0);
  CHECK(std::isnan(compute_regression_metrics(std::vector<float>{2}, std::vector<float>{3}).r2));

  // Closed form with many ties: y_i = (13i mod 17)/4, ŷ_i = float32((7i mod 11)/3), i < 50.
  std::vector<float> y, y_hat;
  for (int i = 0; i < 50; ++i) {
    y.push_back(static_cast<float>(((i * 13) % 17) / 4.0));
    y_hat.push_back(static_cast<float>(((i * 7) % 11) / 3.0));
  }
  const RegressionMetrics g = compute_regression_metrics(y, y_hat);
  const double* kg = kRegressionGenerated;
  for (auto [got, want] : {std::pair{g.mse, kg[0]}, {g.mae, kg[1]}, {g.r2, kg[2]}, {g.pearson, kg[3]}, {g.spearman, kg[4]}})
    check_close(got, want, 1e-9);

  CHECK_THROWS_AS(compute_regression_metrics(std::vector<float>{1, 2}, std::vector<float>{1}), ShapeError);
  CHECK_THROWS_AS(compute_regression_metrics(std::vector<float>{}, std::vector<float>{}), ShapeError);
  CHECK_THROWS_AS(compute_regression_metrics(std::vector<float>{INFINITY}, std::vector<float>{1}), ShapeError);
}

TEST_CASE("multi-label: per-label and macro F1 / AUC at threshold 0.5") {
  //  Y            probs             pred (>= 0.5)
  //  [1, 0, 1]    [0.9, 0.2, 0.5]   [1, 0, 1]
  //  [0, 1, 1]    [0.4, 0.6, 0.7]   [0, 1, 1]
  //  [1, 0, 1]    [0.5, 0.7, 0.5]   [1, 1, 1]
  //  [0, 0, 1]    [0.1, 0.4, 0.8]   [0, 0, 1]
  // Label 0: tp 2 -> F1 1; AUC {0.9, 0.5} vs {0.4, 0.1} = 1.
  // Label 1: tp 1, fp 1 -> F1 2/3; AUC 0.6 vs {0.2, 0.7, 0.4} = 2/3.
  // Label 2: all positive -> F1 1, AUC undefined (NaN).
  // Macro F1 (8/3)/3 = 8/9; macro AUC over the defined labels (1 + 2/3)/2 = 5/6.
  // sklearn: f1 [1.0, 0.6667, 1.0], f1_score(average='macro') 0.8889, AUC [1.0, 0.6667, -].
  const MultiLabelMetrics m = compute_multilabel_metrics(
      std::vector<int32_t>{1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 1},
      std::vector<float>{0.9f, 0.2f, 0.5f, 0.4f, 0.6f, 0.7f, 0.5f, 0.7f, 0.5f, 0.1f, 0.4f, 0.8f}, 3);
  CHECK(m.num_examples == 4);
  check_close(m.f1_per_label[0], 1.0);
  check_close(m.f1_per_label[1], 2.0 / 3);
  check_close(m.f1_per_label[2], 1.0);
  check_close(m.f1_macro, 8.0 / 9);
  check_close(m.auc_per_label[0], 1.0);
  check_close(m.auc_per_label[1], 2.0 / 3);
  CHECK(std::isnan(m.auc_per_label[2]));
  check_close(m.auc_macro, 5.0 / 6);
  const nlohmann::json j = m.to_json();
  CHECK(j["auc_per_label"][2].is_null());
  CHECK(j["f1_macro"].get<double>() == doctest::Approx(8.0 / 9));

  CHECK(contains(error_of([] {
                   compute_multilabel_metrics(std::vector<int32_t>{0, 2}, std::vector<float>{0.1f, 0.2f}, 2);
                 }),
                 "label 2 at [0, 1] is not 0 or 1"));
  CHECK_THROWS_AS(compute_multilabel_metrics(std::vector<int32_t>{0, 1, 1}, std::vector<float>{0.1f, 0.2f, 0.3f}, 2),
                  ShapeError);
  CHECK_THROWS_AS(compute_multilabel_metrics(std::vector<int32_t>{0, 1}, std::vector<float>{0.1f}, 2), ShapeError);
}
