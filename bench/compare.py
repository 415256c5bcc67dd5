#!/usr/bin/env python3
"""Formats the "RESULT {json}" lines of bench_train and torch_bench.py (issue 5).

    compare.py RESULTS.jsonl            the side-by-side table and the targets
    compare.py --missed RESULTS.jsonl   "workload precision" of our rows that miss a target

Ratios are tokens/s over torch fp32's on the same workload (same shapes, data,
FLOP count), both measured in the same `make bench` run.
"""
import json
import sys

TARGETS = {  # (mode, our precision): minimum ratio to torch fp32
    ("train", "fp32"): 1.6,
    ("infer", "fp32"): 1.3,
    ("train", "bf16"): 2.5,
}
ORDER = ["train-tiny", "train-small", "train-base", "infer-base", "infer-tiny"]
ENGINES = {"dnabert": "ours", "torch": "torch"}


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            if line.startswith("RESULT "):
                rows.append(json.loads(line[len("RESULT "):]))
    return rows


def torch_fp32(rows, workload):
    for r in rows:
        if r["engine"] == "torch" and r["workload"] == workload and r["precision"] == "fp32" and "na" not in r:
            return r
    return None


def checks(rows):
    """(description, workload, precision, value, goal, met) for each of our rows with a target."""
    out = []
    for r in rows:
        if r["engine"] != "dnabert" or "na" in r:
            continue
        ref = torch_fp32(rows, r["workload"])
        if ref is None:
            continue
        mode = r["workload"].split("-")[0]
        goal = TARGETS.get((mode, r["precision"]))
        ratio = r["tokens_per_s"] / ref["tokens_per_s"]
        if goal is not None:
            out.append((f"{r['precision']} {'training' if mode == 'train' else 'inference'} speed",
                        r["workload"], r["precision"], f"{ratio:.2f}x torch fp32", f">= {goal}x",
                        ratio >= goal))
        rss, ref_rss = r["peak_rss_mib"], ref["peak_rss_mib"]
        out.append(("peak RSS", r["workload"], r["precision"], f"{rss:.0f} vs {ref_rss:.0f} MiB ({rss / ref_rss:.2f}x)",
                    "<= torch fp32's", rss <= ref_rss))
    return out


def table(rows):
    key = lambda r: (ORDER.index(r["workload"]) if r["workload"] in ORDER else 99, r["precision"] != "fp32",
                     r["engine"] != "torch")
    print("| workload | precision | engine | tokens/s | seqs/s | GFLOP/s | % of peak | peak RSS MiB | vs torch fp32 "
          "| CPU s/step (wall s) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=key):
        eng = ENGINES.get(r["engine"], r["engine"])
        if "na" in r:
            print(f"| {r['workload']} | {r['precision']} | {eng} | n/a ({r['na']}) | | | | | | |")
            continue
        ref = torch_fp32(rows, r["workload"])
        ratio = f"{r['tokens_per_s'] / ref['tokens_per_s']:.2f}x" if ref else "–"
        print(f"| {r['workload']} | {r['precision']} | {eng} | {r['tokens_per_s']:.0f} | {r['seqs_per_s']:.2f} | "
              f"{r['gflops']:.1f} | {r['pct_peak']:.1f}% | {r['peak_rss_mib']:.0f} | {ratio} | "
              f"{r['cpu_s_median']:.3f} ({r['step_s_median']:.3f}) |")
    print("\n% of peak: fp32 rows of 447 GFLOP/s, bf16 rows of 896 GFLOP/s (2 threads). CPU s/step: process CPU "
          "time of a median step, all threads (2 × wall on an idle machine).")
    print("\n| target | workload | precision | measured | goal | met |")
    print("|---|---|---|---|---|---|")
    for what, w, p, value, goal, met in checks(rows):
        print(f"| {what} | {w} | {p} | {value} | {goal} | {'yes' if met else '**no**'} |")


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    if args[0] == "--missed":
        missed = {(w, p) for what, w, p, _, _, met in checks(load(args[1])) if not met and "speed" in what}
        for w, p in sorted(missed, key=lambda x: (ORDER.index(x[0]), x[1])):
            print(w, p)
        return
    table(load(args[0]))


if __name__ == "__main__":
    main()
