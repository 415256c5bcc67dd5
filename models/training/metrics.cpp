// Metrics with scikit-learn's definitions; see metrics.h for the sklearn call
// each field equals. All sums are in double, in a fixed order.
#include "models/training/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

#include "base/error.h"

namespace dnabert::models {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One point per distinct score, highest first: the numbers of positives (tps)
// and negatives (fps) scoring >= that threshold (sklearn's _binary_clf_curve).
struct CurvePoint {
  double tps = 0, fps = 0;
};

std::vector<CurvePoint> binary_clf_curve(std::span<const uint8_t> is_positive, std::span<const float> scores) {
  if (is_positive.size() != scores.size())
    throw ShapeError("metrics: " + std::to_string(is_positive.size()) + " labels vs " + std::to_string(scores.size()) +
                     " scores");
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  std::vector<CurvePoint> curve;
  double tps = 0, fps = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    if (is_positive[order[i]])
      tps += 1;
    else
      fps += 1;
    if (i + 1 == order.size() || scores[order[i + 1]] != scores[order[i]]) curve.push_back({tps, fps});
  }
  return curve;
}

double safe_div(double num, double den) { return den > 0 ? num / den : 0.0; }  // sklearn zero_division="warn"

double mean_of(const std::vector<double>& v) {
  if (v.empty()) return kNaN;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// Pearson correlation; NaN when either side is constant or N < 2 (scipy).
double pearson_of(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = x.size();
  if (n < 2) return kNaN;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) mx += x[i], my += y[i];
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0 || syy == 0) return kNaN;
  return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

// 1-based ranks, tied values sharing the average of their ranks (scipy rankdata).
std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> ranks(v.size());
  for (size_t lo = 0; lo < order.size();) {
    size_t hi = lo;
    while (hi + 1 < order.size() && v[order[hi + 1]] == v[order[lo]]) ++hi;
    const double rank = (static_cast<double>(lo) + static_cast<double>(hi)) / 2.0 + 1.0;  // mean of lo+1 .. hi+1
    for (size_t i = lo; i <= hi; ++i) ranks[order[i]] = rank;
    lo = hi + 1;
  }
  return ranks;
}

nlohmann::json number_or_null(double x) { return std::isnan(x) ? nlohmann::json(nullptr) : nlohmann::json(x); }

nlohmann::json numbers_or_null(const std::vector<double>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (double x : v) a.push_back(number_or_null(x));
  return a;
}

std::string tsv_number(double x) {
  if (std::isnan(x)) return "nan";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", x);
  return buf;
}

}  // namespace

double binary_roc_auc(std::span<const uint8_t> is_positive, std::span<const float> scores) {
  const std::vector<CurvePoint> curve = binary_clf_curve(is_positive, scores);
  if (curve.empty()) return kNaN;
  const double positives = curve.back().tps, negatives = curve.back().fps;
  if (positives == 0 || negatives == 0) return kNaN;  // sklearn: "Only one class present in y_true"
  // Trapezoids between consecutive distinct thresholds, starting at (0, 0): a
  // group of tied scores moves diagonally, so a tied (pos, neg) pair counts 1/2.
  double area = 0;
  CurvePoint prev;
  for (const CurvePoint& p : curve) {
    area += (p.fps - prev.fps) * (p.tps + prev.tps) / 2.0;
    prev = p;
  }
  return area / (positives * negatives);
}

double binary_average_precision(std::span<const uint8_t> is_positive, std::span<const float> scores) {
  const std::vector<CurvePoint> curve = binary_clf_curve(is_positive, scores);
  if (curve.empty() || curve.back().tps == 0) return 0.0;  // sklearn: recall := 1 everywhere, AP = 0
  // AP = sum_k (R_k - R_{k-1}) P_k, thresholds from the highest down, R_0 = 0.
  const double positives = curve.back().tps;
  double ap = 0, prev_recall = 0;
  for (const CurvePoint& p : curve) {
    const double recall = p.tps / positives;
    ap += (recall - prev_recall) * (p.tps / (p.tps + p.fps));
    prev_recall = recall;
  }
  return ap;
}

ClassificationMetrics compute_classification_metrics(std::span<const int32_t> labels, std::span<const float> probs,
                                                     int num_classes) {
  const std::string where = "compute_classification_metrics: ";
  if (num_classes < 2) throw ShapeError(where + "num_classes must be >= 2, got " + std::to_string(num_classes));
  const size_t n = labels.size(), c_count = static_cast<size_t>(num_classes);
  if (n == 0) throw ShapeError(where + "no examples");
  if (probs.size() != n * c_count)
    throw ShapeError(where + "probs has " + std::to_string(probs.size()) + " values, expected N * C = " +
                     std::to_string(n) + " * " + std::to_string(num_classes));

  ClassificationMetrics m;
  m.num_classes = num_classes;
  m.num_examples = static_cast<int64_t>(n);
  m.confusion.assign(c_count * c_count, 0);
  std::vector<int32_t> predicted(n);
  for (size_t i = 0; i < n; ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes)
      throw ShapeError(where + "label " + std::to_string(labels[i]) + " of example " + std::to_string(i) +
                       " is outside [0, " + std::to_string(num_classes) + ")");
    const float* row = probs.data() + i * c_count;  // [C]
    double sum = 0;
    for (size_t c = 0; c < c_count; ++c) {
      if (!std::isfinite(row[c]) || row[c] < 0.0f || row[c] > 1.0f)
        throw ShapeError(where + "probs[" + std::to_string(i) + ", " + std::to_string(c) + "] = " +
                         std::to_string(row[c]) + " is not a probability");
      sum += row[c];
    }
    if (std::abs(sum - 1.0) > 1e-3)
      throw ShapeError(where + "probs row " + std::to_string(i) + " sums to " + std::to_string(sum) +
                       ", expected 1 (softmax probabilities, not logits)");
    predicted[i] = static_cast<int32_t>(std::max_element(row, row + c_count) - row);  // first maximum
    ++m.confusion[static_cast<size_t>(labels[i]) * c_count + static_cast<size_t>(predicted[i])];
  }

  // Per-class counts from the confusion matrix: rows true, columns predicted.
  std::vector<double> true_count(c_count, 0), pred_count(c_count, 0), tp(c_count, 0);
  double correct = 0;
  for (size_t t = 0; t < c_count; ++t)
    for (size_t p = 0; p < c_count; ++p) {
      const double v = static_cast<double>(m.confusion[t * c_count + p]);
      true_count[t] += v;
      pred_count[p] += v;
      if (t == p) tp[t] = v, correct += v;
    }
  const double total = static_cast<double>(n);
  m.accuracy = correct / total;

  std::vector<double> present_p, present_r, present_f;
  for (size_t c = 0; c < c_count; ++c) {
    const double fp = pred_count[c] - tp[c], fn = true_count[c] - tp[c];
    m.per_class_precision.push_back(safe_div(tp[c], tp[c] + fp));
    m.per_class_recall.push_back(safe_div(tp[c], tp[c] + fn));
    m.per_class_f1.push_back(safe_div(2 * tp[c], 2 * tp[c] + fp + fn));
    if (true_count[c] > 0 || pred_count[c] > 0) {  // sklearn's default labels: unique(y ∪ y_pred)
      present_p.push_back(m.per_class_precision[c]);
      present_r.push_back(m.per_class_recall[c]);
      present_f.push_back(m.per_class_f1[c]);
    }
  }
  m.precision_macro = mean_of(present_p);
  m.recall_macro = mean_of(present_r);
  m.f1_macro = mean_of(present_f);
  const bool binary = num_classes == 2;
  m.precision = binary ? m.per_class_precision[1] : kNaN;
  m.recall = binary ? m.per_class_recall[1] : kNaN;
  m.f1 = binary ? m.per_class_f1[1] : kNaN;

  // MCC = (c s - t·p) / sqrt((s² - p·p)(s² - t·t)), c = correct, s = N,
  // t and p the true and predicted counts per class (Gorodkin's R_K).
  double t_dot_p = 0, p_dot_p = 0, t_dot_t = 0;
  for (size_t c = 0; c < c_count; ++c) {
    t_dot_p += true_count[c] * pred_count[c];
    p_dot_p += pred_count[c] * pred_count[c];
    t_dot_t += true_count[c] * true_count[c];
  }
  const double cov_pp = total * total - p_dot_p, cov_tt = total * total - t_dot_t;
  m.mcc = cov_pp * cov_tt == 0 ? 0.0 : (correct * total - t_dot_p) / std::sqrt(cov_tt * cov_pp);

  // One-vs-rest column c: is_positive = (y == c), scores = probs[:, c].
  auto column = [&](size_t c, const std::vector<size_t>& rows, std::vector<uint8_t>& is_pos, std::vector<float>& s) {
    is_pos.clear();
    s.clear();
    for (size_t i : rows) {
      is_pos.push_back(labels[i] == static_cast<int32_t>(c));
      s.push_back(probs[i * c_count + c]);
    }
  };
  std::vector<size_t> all_rows(n);
  std::iota(all_rows.begin(), all_rows.end(), size_t{0});
  std::vector<uint8_t> is_pos;
  std::vector<float> scores;
  if (binary) {
    column(1, all_rows, is_pos, scores);
    m.auc = binary_roc_auc(is_pos, scores);
    m.aupr = binary_average_precision(is_pos, scores);
  } else {
    // Hand & Till: for each pair a < b of classes present in y, restricted to
    // the examples of a or b, (AUC(y == a, p_a) + AUC(y == b, p_b)) / 2.
    std::vector<double> pair_auc;
    for (size_t a = 0; a < c_count; ++a)
      for (size_t b = a + 1; b < c_count; ++b) {
        if (true_count[a] == 0 || true_count[b] == 0) continue;
        std::vector<size_t> rows;
        for (size_t i = 0; i < n; ++i)
          if (labels[i] == static_cast<int32_t>(a) || labels[i] == static_cast<int32_t>(b)) rows.push_back(i);
        column(a, rows, is_pos, scores);
        const double auc_a = binary_roc_auc(is_pos, scores);
        column(b, rows, is_pos, scores);
        pair_auc.push_back((auc_a + binary_roc_auc(is_pos, scores)) / 2.0);
      }
    m.auc = mean_of(pair_auc);  // NaN with fewer than two classes present
    std::vector<double> class_ap;
    for (size_t c = 0; c < c_count; ++c) {
      column(c, all_rows, is_pos, scores);
      class_ap.push_back(binary_average_precision(is_pos, scores));
    }
    m.aupr = mean_of(class_ap);
  }
  return m;
}

nlohmann::json ClassificationMetrics::to_json() const {
  nlohmann::json confusion_rows = nlohmann::json::array();
  const size_t c_count = static_cast<size_t>(num_classes);
  for (size_t t = 0; t < c_count; ++t)
    confusion_rows.push_back(std::vector<int64_t>(confusion.begin() + static_cast<std::ptrdiff_t>(t * c_count),
                                                  confusion.begin() + static_cast<std::ptrdiff_t>((t + 1) * c_count)));
  return {{"num_classes", num_classes},
          {"num_examples", num_examples},
          {"accuracy", number_or_null(accuracy)},
          {"precision", number_or_null(precision)},
          {"recall", number_or_null(recall)},
          {"f1", number_or_null(f1)},
          {"precision_macro", number_or_null(precision_macro)},
          {"recall_macro", number_or_null(recall_macro)},
          {"f1_macro", number_or_null(f1_macro)},
          {"mcc", number_or_null(mcc)},
          {"auc", number_or_null(auc)},
          {"aupr", number_or_null(aupr)},
          {"per_class_precision", numbers_or_null(per_class_precision)},
          {"per_class_recall", numbers_or_null(per_class_recall)},
          {"per_class_f1", numbers_or_null(per_class_f1)},
          {"confusion", confusion_rows}};
}

std::string ClassificationMetrics::to_tsv_header() {
  return "num_examples\taccuracy\tprecision\trecall\tf1\tprecision_macro\trecall_macro\tf1_macro\tmcc\tauc\taupr";
}

std::string ClassificationMetrics::to_tsv_row() const {
  std::string row = std::to_string(num_examples);
  for (double x : {accuracy, precision, recall, f1, precision_macro, recall_macro, f1_macro, mcc, auc, aupr}) {
    row += '\t';  // appended in two steps: "\t" + s trips a false GCC 12 -Wrestrict warning
    row += tsv_number(x);
  }
  return row;
}

std::string format_confusion_matrix(std::span<const int64_t> confusion, int num_classes,
                                    std::span<const std::string> class_names) {
  if (num_classes < 1 || confusion.size() != static_cast<size_t>(num_classes) * static_cast<size_t>(num_classes))
    throw ShapeError("format_confusion_matrix: " + std::to_string(confusion.size()) + " counts for " +
                     std::to_string(num_classes) + " classes");
  if (!class_names.empty() && class_names.size() != static_cast<size_t>(num_classes))
    throw ShapeError("format_confusion_matrix: " + std::to_string(class_names.size()) + " class names for " +
                     std::to_string(num_classes) + " classes");
  auto name = [&](int c) { return class_names.empty() ? std::to_string(c) : class_names[static_cast<size_t>(c)]; };
  const std::string corner = "true\\pred";
  size_t first_width = corner.size(), width = 1;
  for (int c = 0; c < num_classes; ++c) {
    first_width = std::max(first_width, name(c).size());
    width = std::max(width, name(c).size());
  }
  for (int64_t v : confusion) width = std::max(width, std::to_string(v).size());
  auto pad = [](const std::string& s, size_t w) { return std::string(w - s.size(), ' ') + s; };
  std::string out = pad(corner, first_width);
  for (int c = 0; c < num_classes; ++c) out += "  " + pad(name(c), width);
  out += "\n";
  for (int t = 0; t < num_classes; ++t) {
    out += pad(name(t), first_width);
    for (int p = 0; p < num_classes; ++p)
      out += "  " + pad(std::to_string(confusion[static_cast<size_t>(t * num_classes + p)]), width);
    out += "\n";
  }
  return out;
}

double metric_by_name(const ClassificationMetrics& m, const std::string& name) {
  if (name == "acc" || name == "accuracy") return m.accuracy;
  if (name == "f1") return m.f1_macro;
  if (name == "f1_binary") return m.f1;
  if (name == "precision") return m.precision_macro;
  if (name == "recall") return m.recall_macro;
  if (name == "mcc") return m.mcc;
  if (name == "auc") return m.auc;
  if (name == "aupr") return m.aupr;
  throw UsageError("unknown metric '" + name + "' (expected acc, f1, f1_binary, precision, recall, mcc, auc or aupr)");
}

RegressionMetrics compute_regression_metrics(std::span<const float> targets, std::span<const float> predictions) {
  const std::string where = "compute_regression_metrics: ";
  if (targets.size() != predictions.size())
    throw ShapeError(where + std::to_string(targets.size()) + " targets vs " + std::to_string(predictions.size()) +
                     " predictions");
  if (targets.empty()) throw ShapeError(where + "no examples");
  const size_t n = targets.size();
  std::vector<double> y(n), y_hat(n);
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(targets[i]) || !std::isfinite(predictions[i]))
      throw ShapeError(where + "example " + std::to_string(i) + " has a non-finite target or prediction");
    y[i] = targets[i];
    y_hat[i] = predictions[i];
  }
  RegressionMetrics m;
  m.num_examples = static_cast<int64_t>(n);
  double sq = 0, abs_err = 0, mean_y = 0;
  for (size_t i = 0; i < n; ++i) {
    sq += (y[i] - y_hat[i]) * (y[i] - y_hat[i]);
    abs_err += std::abs(y[i] - y_hat[i]);
    mean_y += y[i];
  }
  mean_y /= static_cast<double>(n);
  m.mse = sq / static_cast<double>(n);
  m.mae = abs_err / static_cast<double>(n);
  // R² = 1 - SS_res / SS_tot; sklearn's force_finite: 1 if both are 0, 0 if only SS_tot is.
  double ss_tot = 0;
  for (size_t i = 0; i < n; ++i) ss_tot += (y[i] - mean_y) * (y[i] - mean_y);
  if (n < 2)
    m.r2 = kNaN;  // sklearn: "R^2 score is not well-defined with less than two samples"
  else if (ss_tot == 0)
    m.r2 = sq == 0 ? 1.0 : 0.0;
  else
    m.r2 = 1.0 - sq / ss_tot;
  m.pearson = pearson_of(y, y_hat);
  m.spearman = pearson_of(average_ranks(y), average_ranks(y_hat));
  return m;
}

nlohmann::json RegressionMetrics::to_json() const {
  return {{"num_examples", num_examples}, {"mse", number_or_null(mse)},         {"mae", number_or_null(mae)},
          {"r2", number_or_null(r2)},     {"pearson", number_or_null(pearson)}, {"spearman", number_or_null(spearman)}};
}

MultiLabelMetrics compute_multilabel_metrics(std::span<const int32_t> labels, std::span<const float> probs,
                                             int num_labels) {
  const std::string where = "compute_multilabel_metrics: ";
  if (num_labels < 1) throw ShapeError(where + "num_labels must be >= 1, got " + std::to_string(num_labels));
  const size_t l_count = static_cast<size_t>(num_labels);
  if (labels.empty() || labels.size() % l_count != 0)
    throw ShapeError(where + std::to_string(labels.size()) + " labels is not a non-empty [N, " +
                     std::to_string(num_labels) + "] matrix");
  if (probs.size() != labels.size())
    throw ShapeError(where + std::to_string(probs.size()) + " probs vs " + std::to_string(labels.size()) + " labels");
  const size_t n = labels.size() / l_count;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] != 0 && labels[i] != 1)
      throw ShapeError(where + "label " + std::to_string(labels[i]) + " at [" + std::to_string(i / l_count) + ", " +
                       std::to_string(i % l_count) + "] is not 0 or 1");
    if (!std::isfinite(probs[i]))
      throw ShapeError(where + "probability at [" + std::to_string(i / l_count) + ", " +
                       std::to_string(i % l_count) + "] is not finite");
  }
  MultiLabelMetrics m;
  m.num_labels = num_labels;
  m.num_examples = static_cast<int64_t>(n);
  std::vector<uint8_t> is_pos(n);
  std::vector<float> scores(n);
  std::vector<double> defined_auc;
  for (size_t j = 0; j < l_count; ++j) {
    double tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < n; ++i) {
      is_pos[i] = labels[i * l_count + j] == 1;
      scores[i] = probs[i * l_count + j];
      const bool pred = scores[i] >= kMultiLabelThreshold;
      tp += pred && is_pos[i];
      fp += pred && !is_pos[i];
      fn += !pred && is_pos[i];
    }
    m.f1_per_label.push_back(safe_div(2 * tp, 2 * tp + fp + fn));
    m.auc_per_label.push_back(binary_roc_auc(is_pos, scores));
    if (!std::isnan(m.auc_per_label.back())) defined_auc.push_back(m.auc_per_label.back());
  }
  m.f1_macro = mean_of(m.f1_per_label);
  m.auc_macro = mean_of(defined_auc);
  return m;
}

nlohmann::json MultiLabelMetrics::to_json() const {
  return {{"num_labels", num_labels},
          {"num_examples", num_examples},
          {"f1_macro", number_or_null(f1_macro)},
          {"auc_macro", number_or_null(auc_macro)},
          {"f1_per_label", numbers_or_null(f1_per_label)},
          {"auc_per_label", numbers_or_null(auc_per_label)}};
}

}  // namespace dnabert::models
