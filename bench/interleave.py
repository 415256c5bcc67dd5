#!/usr/bin/env python3
"""Runs benchmark processes step by step in turn (issue 5's side-by-side runs).

    interleave.py "COMMAND 1" "COMMAND 2" [...]

Each COMMAND (a bash command line: bench_train or torch_bench.py) starts at
once and sets itself up; then only one of them runs a step at a time. Before
each step (warm-up and timed) a process waits for a byte on the FIFO named by
BENCH_SYNC_GO and after it writes one to BENCH_SYNC_DONE; before printing its
results and exiting it waits for one more byte. This script hands the turn
round: one step of each process per cycle, the order rotated every cycle.

Why: these KVM guests change speed by up to 2x over minutes (bench/RESULTS.md).
Run one after the other, two engines can land in different phases, and the
ratio of their medians moved by up to 40% between rounds of one run. Taking
turns step by step puts both engines' timed steps in the same minutes; no step
of one overlaps a step of the other.

Each process's output is printed after all have finished, in command order.
The exit status is the first non-zero status of a command, else 0.
"""
import os
import select
import subprocess
import sys
import tempfile


def main():
    commands = sys.argv[1:]
    if not commands or any(c.startswith("-") for c in commands):
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory(prefix="interleave-") as tmp:
        procs, go, done, outs = [], [], [], []
        for i, cmd in enumerate(commands):
            paths = [os.path.join(tmp, f"{name}{i}") for name in ("go", "done")]
            for p in paths:
                os.mkfifo(p)
            # Both ends held read-write here: the process's own opens never
            # block, and a process that dies does not leave this script blocked.
            go.append(os.open(paths[0], os.O_RDWR))
            done.append(os.open(paths[1], os.O_RDWR))
            out = tempfile.TemporaryFile(mode="w+", dir=tmp)
            outs.append(out)
            env = dict(os.environ, BENCH_SYNC_GO=paths[0], BENCH_SYNC_DONE=paths[1])
            procs.append(subprocess.Popen(["bash", "-c", cmd], env=env, stdout=out, stderr=subprocess.STDOUT))
        active, cycle = list(range(len(commands))), 0
        while active:
            k = cycle % len(active)
            for i in active[k:] + active[:k]:
                os.write(go[i], b"g")
                while True:  # its step, or its exit (after the last step, or a failure)
                    ready, _, _ = select.select([done[i]], [], [], 0.5)
                    if ready:
                        os.read(done[i], 1)
                        break
                    if procs[i].poll() is not None:
                        active.remove(i)
                        break
            cycle += 1
        status = 0
        for p, out in zip(procs, outs):
            p.wait()
            out.seek(0)
            sys.stdout.write(out.read())
            status = status or p.returncode
        sys.stdout.flush()
        sys.exit(status)


if __name__ == "__main__":
    main()
