#!/usr/bin/env python3
"""Formats the "RESULT {json}" lines of bench_train and torch_bench.py (issue 5).

    compare.py RESULTS.jsonl            the side-by-side table and the targets
    compare.py --missed RESULTS.jsonl   "workload precision" of our rows that miss a target

Ratios are tokens/s over torch fp32's on the same workload (same shapes, data,
FLOP count), both measured in the same `make bench` run. Where torch also ran
fp32-lastrows (its last layer on the masked rows only, the algorithm our
training step uses), an extra line gives our fp32 training against that:
information, without a goal (the target is against torch fp32, HF's model).

Rounds: run.sh may run a workload's rounds (ours fp32, torch fp32 and, for
training, ours bf16) several times. The k-th row of one engine pairs with the
k-th of torch fp32, and a ratio is the median of the per-round ratios (each
round's runs are minutes apart, so slow drift of the machine's speed cancels);
the table shows each engine's median round.
"""
import json
import os
import sys

TARGETS = {  # (mode, our precision): minimum ratio to torch fp32
    ("train", "fp32"): 1.6,
    ("infer", "fp32"): 1.3,
    ("train", "bf16"): 2.5,
}
ORDER = ["train-tiny", "train-small", "train-base", "infer-base", "infer-tiny"]
ENGINES = {"dnabert": "ours", "torch": "torch"}


def load(path):
    """The rows, one per (engine, workload, precision): the median round, with "rounds" = every round's row."""
    groups = {}
    with open(path) as f:
        for line in f:
            if line.startswith("RESULT "):
                r = json.loads(line[len("RESULT "):])
                groups.setdefault((r["engine"], r["workload"], r["precision"]), []).append(r)
    rows = []
    for rounds in groups.values():
        ok = [r for r in rounds if "na" not in r]
        if not ok:
            rows.append(rounds[0])
            continue
        mid = sorted(ok, key=lambda r: r["tokens_per_s"])[(len(ok) - 1) // 2]
        rows.append(dict(mid, rounds=ok))
    return rows


def torch_fp32(rows, workload, precision="fp32"):
    for r in rows:
        if r["engine"] == "torch" and r["workload"] == workload and r["precision"] == precision and "na" not in r:
            return r
    return None


def ratio(r, ref):
    """(median per-round ratio of tokens/s, the per-round ratios): rounds pair in order."""
    a, b = r.get("rounds", [r]), ref.get("rounds", [ref])
    if len(a) != len(b):
        return r["tokens_per_s"] / ref["tokens_per_s"], []
    each = sorted(x["tokens_per_s"] / y["tokens_per_s"] for x, y in zip(a, b))
    n = len(each)
    return (each[n // 2] if n % 2 else 0.5 * (each[n // 2 - 1] + each[n // 2])), each


def rounds_note(each):
    return f" (rounds {', '.join(f'{x:.2f}' for x in each)})" if len(each) > 1 else ""


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
        x, each = ratio(r, ref)
        if goal is not None:
            out.append((f"{r['precision']} {'training' if mode == 'train' else 'inference'} speed",
                        r["workload"], r["precision"], f"{x:.2f}x torch fp32{rounds_note(each)}", f">= {goal}x",
                        x >= goal))
        same = torch_fp32(rows, r["workload"], "fp32-lastrows") if r["precision"] == "fp32" else None
        if same is not None:
            x, each = ratio(r, same)
            out.append(("fp32 training speed, same algorithm", r["workload"], r["precision"],
                        f"{x:.2f}x torch fp32-lastrows{rounds_note(each)}", "information", None))
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
        vs = f"{ratio(r, ref)[0]:.2f}x" if ref else "–"
        print(f"| {r['workload']} | {r['precision']} | {eng} | {r['tokens_per_s']:.0f} | {r['seqs_per_s']:.2f} | "
              f"{r['gflops']:.1f} | {r['pct_peak']:.1f}% | {r['peak_rss_mib']:.0f} | {vs} | "
              f"{r['cpu_s_median']:.3f} ({r['step_s_median']:.3f}) |")
    fp32, bf16 = os.environ.get("DNABERT_PEAK_FP32"), os.environ.get("DNABERT_PEAK_BF16")
    source = "measured on this CPU by bench_peak" if fp32 and bf16 else "fixed figures, not this CPU's"
    print(f"\n% of peak: fp32 rows of {float(fp32 or 447):.1f} GFLOP/s, bf16 rows of {float(bf16 or 896):.1f} GFLOP/s "
          f"(2 threads; {source}). CPU s/step: process CPU time of a median step, all threads (2 × wall on an idle "
          "machine).")
    print("\n| target | workload | precision | measured | goal | met |")
    print("|---|---|---|---|---|---|")
    for what, w, p, value, goal, met in checks(rows):
        print(f"| {what} | {w} | {p} | {value} | {goal} | {'–' if met is None else 'yes' if met else '**no**'} |")


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    if args[0] == "--missed":
        missed = {(w, p) for what, w, p, _, _, met in checks(load(args[1])) if met is False and "speed" in what}
        for w, p in sorted(missed, key=lambda x: (ORDER.index(x[0]), x[1])):
            print(w, p)
        return
    table(load(args[0]))


if __name__ == "__main__":
    main()
