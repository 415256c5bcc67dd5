// Evaluation metrics for fine-tuning, with scikit-learn's definitions
// (checked against sklearn 1.2.1 by tests/oracle/metrics_reference.py).
//
// Classification (labels [N] in [0, C), probs [N, C] row-major, rows summing
// to 1). The predicted label is argmax(probs), ties to the lowest index (as
// numpy.argmax). Each field equals one sklearn call, y = labels, y_pred = that
// argmax, p1 = probs[:, 1]:
//   accuracy          accuracy_score(y, y_pred)
//   precision/recall/ precision_score / recall_score / f1_score(y, y_pred)
//   f1 (C == 2 only)  average="binary", positive class 1; NaN when C > 2
//   *_macro           average="macro": the mean over the classes present in y
//                     or y_pred (sklearn's default `labels`); a class absent
//                     from both is not counted
//   per_class_*       average=None, labels=range(C)
//   mcc               matthews_corrcoef(y, y_pred) (multi-class form; 0 when
//                     its denominator is 0)
//   auc               C == 2: roc_auc_score(y, p1)
//                     C > 2:  roc_auc_score(y, probs, multi_class="ovo",
//                     average="macro", labels=range(C)), Hand & Till: the mean
//                     over pairs of classes present in y. (Without `labels`
//                     sklearn raises when a class is absent from y; with it,
//                     absent classes drop out.)
//                     NaN when fewer than two classes are present in y.
//   aupr              C == 2: average_precision_score(y, p1)
//                     C > 2:  average_precision_score(label_binarize(y,
//                     classes=range(C)), probs, average="macro"): the mean
//                     over all C one-vs-rest APs. (sklearn 1.2 rejects a
//                     multi-class y; 1.3+ binarizes it over the classes
//                     present, the same when every class is present.)
//                     AP is the step-wise sum_k (R_k - R_{k-1}) P_k over
//                     distinct thresholds, not the trapezoidal area.
//   confusion         confusion_matrix(y, y_pred, labels=range(C)): [C, C],
//                     rows = true, columns = predicted
// Zero division follows sklearn's default ("warn", which yields 0.0):
// precision of a class never predicted, recall of a class never true, and F1
// when 2tp + fp + fn = 0 are 0. A one-vs-rest AP for a class with no true
// sample is 0 (sklearn: recall set to 1 at every threshold, precision 0).
// ROC ties: trapezoids over distinct score thresholds, so a tie between a
// positive and a negative counts 1/2.
//
// Regression (targets, predictions [N]): mse, mae, r2 as sklearn
// (r2_score with force_finite: 1 when both sums of squares are 0, 0 when only
// the total one is; NaN when N < 2), pearson and spearman (average ranks for
// ties) as scipy; pearson and spearman are NaN when either side is constant.
//
// Multi-label (labels [N, L] of 0/1, probs [N, L] independent sigmoids): the
// prediction is probs >= 0.5; f1_per_label[j] = f1_score(Y[:, j], P[:, j]),
// f1_macro = f1_score(Y, P, average="macro") (all L labels);
// auc_per_label[j] = roc_auc_score(Y[:, j], probs[:, j]), NaN when column j
// has one class; auc_macro is the mean over the defined labels (sklearn
// raises if any is undefined), NaN if none is.
//
// Undefined values are NaN in the structs, null in JSON and "nan" in TSV.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dnabert::models {

struct ClassificationMetrics {
  int num_classes = 0;
  int64_t num_examples = 0;
  double accuracy = 0;
  double precision = 0, recall = 0, f1 = 0;  // binary, positive class 1; NaN when C > 2
  double precision_macro = 0, recall_macro = 0, f1_macro = 0;
  double mcc = 0;
  double auc = 0;   // NaN when undefined (see above)
  double aupr = 0;
  std::vector<double> per_class_precision, per_class_recall, per_class_f1;  // [C]
  std::vector<int64_t> confusion;  // [C, C] row-major, rows = true label

  nlohmann::json to_json() const;
  // Fixed columns for every C, so logs of different runs line up.
  static std::string to_tsv_header();  // "accuracy\tprecision\t..." (no newline)
  std::string to_tsv_row() const;      // the same columns, "%.6f" or "nan"
};

// Throws ShapeError for num_classes < 2, an empty set, probs.size() != N * C,
// a label outside [0, C), or a probs row with a non-finite value, a value
// outside [0, 1] or a sum farther than 1e-3 from 1 (logits instead of
// probabilities would silently give wrong AUCs).
ClassificationMetrics compute_classification_metrics(std::span<const int32_t> labels,
                                                     std::span<const float> probs,  // [N, C]
                                                     int num_classes);

// The confusion matrix as aligned text, e.g. for C = 2:
//   true\pred    0    1
//           0   12    3
//           1    2   13
// class_names, if given (size C), replace the indices.
std::string format_confusion_matrix(std::span<const int64_t> confusion, int num_classes,
                                    std::span<const std::string> class_names = {});

// The metric named by `--metric`, higher is better: "acc" (or "accuracy"),
// "f1" (macro F1, as DNABERT reports), "f1_binary", "precision", "recall"
// (macro), "mcc", "auc", "aupr". May be NaN (auc, or f1_binary when C > 2).
// Throws UsageError for an unknown name.
double metric_by_name(const ClassificationMetrics& m, const std::string& name);

// Exact sklearn building blocks, exposed for tests and other heads.
// roc_auc_score(is_positive, scores); NaN when all or none are positive.
double binary_roc_auc(std::span<const uint8_t> is_positive, std::span<const float> scores);
// average_precision_score(is_positive, scores); 0 when none is positive.
double binary_average_precision(std::span<const uint8_t> is_positive, std::span<const float> scores);

struct RegressionMetrics {
  int64_t num_examples = 0;
  double mse = 0, mae = 0, r2 = 0, pearson = 0, spearman = 0;
  nlohmann::json to_json() const;
};

// Throws ShapeError when the sizes differ, N = 0, or a value is not finite.
RegressionMetrics compute_regression_metrics(std::span<const float> targets, std::span<const float> predictions);

struct MultiLabelMetrics {
  int num_labels = 0;
  int64_t num_examples = 0;
  double f1_macro = 0, auc_macro = 0;
  std::vector<double> f1_per_label, auc_per_label;  // [L]
  nlohmann::json to_json() const;
};

inline constexpr float kMultiLabelThreshold = 0.5f;  // predicted iff prob >= 0.5

// Throws ShapeError for num_labels < 1, N = 0, size mismatches, a label that
// is not 0 or 1, or a probability that is not finite.
MultiLabelMetrics compute_multilabel_metrics(std::span<const int32_t> labels,  // [N, L]
                                             std::span<const float> probs,     // [N, L]
                                             int num_labels);

}  // namespace dnabert::models
