#!/usr/bin/env python3
"""Merges `engine bench --json` and `scripts/bench_pytorch.py` outputs (and optionally an older engine build's) into the
markdown table of docs/performance.md. A dev tool. "by CPU time" compares the median process CPU time per run
(cpu_ms), which a loaded machine inflates far less than wall time when each side runs one thread.
A file may hold several rounds (bench_compare.sh appends): each case shows its fastest run (the least disturbed one
on a shared machine), and the "runs" column says how many there were.
Usage: python3 scripts/perf_table.py ours.jsonl torch.jsonl [before.jsonl]
"""
import json
import sys

import os

# GFLOP/s, FP32 FMA limit of the 2 cores: 350 on the Xeon of PERFORMANCE.md; the AMD EPYC (Zen 4) host of the
# eleventh session measured ~230 (one 512-bit FMA per cycle per core). PEAK_GFLOPS=230 for that host.
PEAK = float(os.environ.get("PEAK_GFLOPS", "350"))


def load(path):
    """case -> its fastest run (by wall ms), with the number of runs under "runs"."""
    best = {}
    with open(path) as f:
        for r in (json.loads(line) for line in f if line.startswith("{")):
            old = best.get(r["case"])
            runs = 1 + (old["runs"] if old else 0)
            if old is None or ("ms" in r and r["ms"] < old.get("ms", float("inf"))):
                best[r["case"]] = r
            best[r["case"]]["runs"] = runs
    return best


def fmt(value, digits=1):
    return "–" if value is None else f"{value:,.{digits}f}"


def main():
    ours, torch = load(sys.argv[1]), load(sys.argv[2])
    before = load(sys.argv[3]) if len(sys.argv) > 3 else {}
    print("| case | runs | before ms | engine ms | PyTorch ms | engine / PyTorch speed | engine / PyTorch by CPU time | engine GFLOP/s (% of peak) | PyTorch GFLOP/s | images/s engine / PyTorch |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in ours.items():
        if "ms" not in r:
            print(f"| {name} | | | {r.get('note', '')} | | | | | | |")
            continue
        t = torch.get(name, {})
        b = before.get(name, {})
        ratio = t["ms"] / r["ms"] if "ms" in t else None
        cpu_ratio = t["cpu_ms"] / r["cpu_ms"] if "cpu_ms" in t and r.get("cpu_ms") else None
        g = r.get("gflops")
        gflops = f"{g:,.1f} ({100 * g / PEAK:.0f}%)" if g else "–"
        ips = f"{r['images_per_second']:,.0f} / {t.get('images_per_second', 0):,.0f}" if "images_per_second" in r else "–"
        print(f"| {name} | {r['runs']} | {fmt(b.get('ms'), 2)} | {fmt(r['ms'], 2)} | {fmt(t.get('ms'), 2)} | {fmt(ratio, 2)}× | {fmt(cpu_ratio, 2)}× | {gflops} | {fmt(t.get('gflops'))} | {ips} |")


if __name__ == "__main__":
    main()
