#!/usr/bin/python3
"""Reference numbers for tests/test_metrics.cpp, from scikit-learn and scipy.

Regenerate (needs Debian's python3-sklearn; the C++ tests do not):
    /usr/bin/python3 tests/oracle/metrics_reference.py
and paste the printed constants into tests/test_metrics.cpp. The pasted
values came from sklearn 1.2.1, scipy 1.10.1, numpy 1.24.2.

Two kinds of input:
  * the hand fixtures of test_metrics.cpp, copied verbatim (as float32), whose
    hand-derived fractions the test asserts; this script confirms them;
  * closed-form "generated" sets with many tied scores, rebuilt exactly in C++
    (integer arithmetic, then one double division rounded to float32).
Where sklearn's default call raises because a class is absent from y_true,
the call with the labels made explicit is used (see models/training/metrics.h).
"""
import warnings

import numpy as np
import scipy
import sklearn
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import (accuracy_score, average_precision_score, confusion_matrix, f1_score,
                             matthews_corrcoef, mean_absolute_error, mean_squared_error,
                             precision_score, r2_score, recall_score, roc_auc_score)
from sklearn.preprocessing import label_binarize

warnings.simplefilter("ignore")  # zero_division and constant-input warnings are expected


def cpp(v):
    return "kNaN" if np.isnan(v) else repr(float(v))


def classification(name, y, probs):
    y = np.asarray(y)
    probs = np.asarray(probs, dtype=np.float32)
    c = probs.shape[1]
    pred = probs.argmax(axis=1)
    out = {"accuracy": accuracy_score(y, pred)}
    if c == 2:
        out["precision"] = precision_score(y, pred)
        out["recall"] = recall_score(y, pred)
        out["f1"] = f1_score(y, pred)
    for k, f in [("precision_macro", precision_score), ("recall_macro", recall_score), ("f1_macro", f1_score)]:
        out[k] = f(y, pred, average="macro")
    out["mcc"] = matthews_corrcoef(y, pred)
    present = np.unique(y)
    if len(present) < 2:
        out["auc"] = float("nan")
    elif c == 2:
        out["auc"] = roc_auc_score(y, probs[:, 1])
    else:
        out["auc"] = roc_auc_score(y, probs, multi_class="ovo", average="macro", labels=list(range(c)))
        if len(present) == c:  # the default call agrees whenever it is defined
            assert out["auc"] == roc_auc_score(y, probs, multi_class="ovo", average="macro")
    if c == 2:
        out["aupr"] = average_precision_score(y, probs[:, 1])
    else:
        out["aupr"] = average_precision_score(label_binarize(y, classes=list(range(c))), probs, average="macro")
        # sklearn 1.2 rejects multi-class y here; 1.3+ binarizes y over the
        # classes present in it, which is the same when every class is present.
    cm = confusion_matrix(y, pred, labels=list(range(c)))
    print(f"// {name}: confusion {cm.tolist()}")
    kind = "ExpectedBinary" if c == 2 else "ExpectedMulti"
    print(f"const {kind} k{name}{{" + ", ".join(cpp(v) for v in out.values()) + "};  // " + ", ".join(out))


def regression(name, y, yhat):
    y = np.asarray(y, dtype=np.float32).astype(np.float64)
    yhat = np.asarray(yhat, dtype=np.float32).astype(np.float64)
    vals = [mean_squared_error(y, yhat), mean_absolute_error(y, yhat), r2_score(y, yhat),
            pearsonr(y, yhat)[0], spearmanr(y, yhat)[0]]
    print(f"const double k{name}[] = {{" + ", ".join(cpp(v) for v in vals) + "};  // mse mae r2 pearson spearman")


def multilabel(name, y, probs):
    y = np.asarray(y)
    probs = np.asarray(probs, dtype=np.float32)
    pred = (probs >= 0.5).astype(int)
    f1s = [f1_score(y[:, j], pred[:, j]) for j in range(y.shape[1])]
    aucs = [roc_auc_score(y[:, j], probs[:, j]) if len(np.unique(y[:, j])) == 2 else float("nan")
            for j in range(y.shape[1])]
    print(f"// {name}: f1 per label {f1s}, f1_score(average='macro') {f1_score(y, pred, average='macro')!r}")
    print(f"// {name}: auc per label {aucs}, mean over defined {np.nanmean(aucs)!r}")


def generated(n, c):
    """Rows of integer weights 1..9 normalised in double, then float32; labels
    are the argmax except every 4th row, whose label is (5i + 1) mod C."""
    w = np.array([[((i * (2 * k + 3) * 37 + 11 * k) % 9) + 1 for k in range(c)] for i in range(n)], dtype=np.int64)
    probs = (w / w.sum(axis=1, keepdims=True)).astype(np.float32)
    y = np.where(np.arange(n) % 4 != 0, w.argmax(axis=1), (5 * np.arange(n) + 1) % c)
    return y, probs


print(f"// sklearn {sklearn.__version__}, scipy {scipy.__version__}, numpy {np.__version__}")
classification("BinaryTies", [1, 0, 1, 1, 0, 1, 0],
               [[0.1, 0.9], [0.1, 0.9], [0.4, 0.6], [0.5, 0.5], [0.6, 0.4], [0.6, 0.4], [0.9, 0.1]])
classification("BinaryOneClass", [0, 0, 0], [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
classification("BinaryAllEqual", [0, 1, 1, 0, 1], [[0.5, 0.5]] * 5)
classification("BinaryPerfect", [0, 1, 0, 1], [[0.8, 0.2], [0.2, 0.8], [0.7, 0.3], [0.3, 0.7]])
classification("ThreeClass", [0, 0, 1, 1, 2, 2],
               [[0.6, 0.3, 0.1], [0.3, 0.5, 0.2], [0.2, 0.7, 0.1], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.2, 0.5, 0.3]])
classification("ThreeClassAbsentTrue", [0, 0, 1, 1],
               [[0.7, 0.2, 0.1], [0.2, 0.3, 0.5], [0.3, 0.6, 0.1], [0.4, 0.4, 0.2]])
classification("ThreeClassAbsentBoth", [0, 1, 0, 1],
               [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1]])
yt = [1, 0, 1, 0]
st = np.float32([0.8, 0.8, 0.3, 0.3])
print(f"// AP with ties: average_precision_score {average_precision_score(yt, st)!r}, "
      f"roc_auc_score {roc_auc_score(yt, st)!r}")
classification("Generated2", *generated(60, 2))
classification("Generated3", *generated(60, 3))
classification("Generated4", *generated(80, 4))
regression("RegressionTies", [1, 2, 3, 4], [1, 2, 2, 5])
regression("RegressionGenerated", [((i * 13) % 17) / 4.0 for i in range(50)], [((i * 7) % 11) / 3.0 for i in range(50)])
print(f"// constant targets: r2_score {r2_score([2, 2], [2, 2])!r} {r2_score([2, 2], [2, 3])!r}; "
      f"constant predictions: r2_score {r2_score([1, 2, 3], [2, 2, 2])!r}, mse {mean_squared_error([1, 2, 3], [2, 2, 2])!r}")
multilabel("MultiLabel", [[1, 0, 1], [0, 1, 1], [1, 0, 1], [0, 0, 1]],
           [[0.9, 0.2, 0.5], [0.4, 0.6, 0.7], [0.5, 0.7, 0.5], [0.1, 0.4, 0.8]])
