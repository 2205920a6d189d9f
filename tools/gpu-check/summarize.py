"""Summarises a GPU check run (tools/gpu-check.sh) as the numbers
docs/performance.md records for bench-gpu: chain-GEMM throughput per useful
FLOP as a fraction of cuBLAS's dense rate, attention TFLOP/s, training
tokens/s and model FLOP utilisation, CoLM-Air chain-1 prefill speed-up.

Usage: summarize.py RESULTS.json [ANCHOR.json [PEAK_TFLOPS [GRAPHS.json]]]
(GRAPHS.json: the decode cases again with COLM_CUDA_GRAPHS=1.)
"""
import json
import re
import sys


def main():
    results = json.load(open(sys.argv[1]))
    anchor = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else {}
    peak = float(sys.argv[3]) if len(sys.argv) > 3 else 989.0
    by = {r.get("case"): r for r in results}
    lines = []
    checks = [r for r in results if "passed" in r]
    failed = [r["case"] for r in checks if not r["passed"]]
    errors = [r["case"] + ": " + r["error"] for r in results if "error" in r]
    lines.append(f"correctness: {len(checks) - len(failed)} of {len(checks)} cases "
                 f"match the emulator" + (f"; failed: {failed}" if failed else ""))
    for e in errors:
        lines.append("error: " + e)
    train = by.get("bench-train-bf16-8x2048")
    if train and "median_seconds" in train:
        t = train["median_seconds"]
        lines.append(f"training step bf16 8x2048: {t * 1e3:.1f} ms, "
                     f"{train['tokens'] / t:.0f} tokens/s, "
                     f"MFU {train['flops'] / t / 1e12 / peak:.1%} of {peak:.0f} TFLOP/s")
        gemm = [k for k in train.get("profile", []) if k["kernel"].startswith("gemm")]
        attn = [k for k in train.get("profile", []) if k["kernel"].startswith("attn")]
        if gemm:
            secs = sum(k["seconds"] for k in gemm)
            rate = sum(k["flops"] for k in gemm) / secs / 1e12
            dense = anchor.get("gemm_dense_tflops")
            frac = f", {rate / dense:.2f} of cuBLAS's dense {dense:.0f}" if dense else ""
            lines.append(f"chain GEMMs (top kernels): {rate:.1f} useful TFLOP/s{frac}")
        for k in attn:
            lines.append(f"{k['kernel']}: {k['flops'] / k['seconds'] / 1e12:.1f} TFLOP/s"
                         + (f" (SDPA forward {anchor['attention_forward_tflops']:.0f})"
                            if "attention_forward_tflops" in anchor else ""))
    one = by.get("bench-air-prefill-32k-chains1")
    full = by.get("bench-air-prefill-32k-chains4")
    if one and full and "median_seconds" in one and "median_seconds" in full:
        lines.append(f"CoLM-Air prefill 32K: chain 1 {one['median_seconds'] * 1e3:.1f} ms, "
                     f"all chains {full['median_seconds'] * 1e3:.1f} ms: "
                     f"{full['median_seconds'] / one['median_seconds']:.2f}x faster")
    decode = sorted((r["case"], r) for r in results
                    if r.get("case", "").startswith("bench-air-decode-2k-chains")
                    and "median_seconds" in r)
    graphs = {}
    if len(sys.argv) > 4:
        try:
            graphs = {r.get("case"): r for r in json.load(open(sys.argv[4]))}
        except (OSError, ValueError):
            pass
    for name, r in decode:
        g = graphs.get(name, {})
        with_graphs = (f"; with CUDA graphs {1 / g['median_seconds']:.0f}"
                       if "median_seconds" in g else "")
        lines.append(f"decode over a 2K cache, {name.rsplit('chains', 1)[1]} chain(s): "
                     f"{1 / r['median_seconds']:.0f} tokens/s "
                     f"({r['median_seconds'] * 1e3:.2f} ms a step, batch 1){with_graphs}")
    lines += tile_lines(results)
    print("\n".join(lines))


def tile_lines(results):
    """The training step under each CUDA GEMM tile: the step's time, and per
    chain GEMM which tile was fastest (what `colm tune --backend cuda`
    would store)."""
    steps = {}
    for r in results:
        name = r.get("case", "")
        if "median_seconds" not in r:
            continue
        if name == "bench-train-bf16-8x2048":
            steps["64x64x32"] = r
        elif name.startswith("bench-train-tile-"):
            steps[name[len("bench-train-tile-"):]] = r
    if len(steps) < 2:
        return []
    out = ["training step by CUDA GEMM tile: " + ", ".join(
        f"{t} {r['median_seconds'] * 1e3:.1f} ms" for t, r in sorted(steps.items()))]
    by_kernel = {}
    for tile, r in steps.items():
        for k in r.get("profile", []):
            if not k["kernel"].startswith("gemm"):
                continue
            base = re.sub(r"_t\d+x\d+x\d+", "", k["kernel"])
            by_kernel.setdefault(base, {})[tile] = k["seconds"]
    default_total = best_total = 0.0
    for base, times in sorted(by_kernel.items()):
        if "64x64x32" not in times:
            continue
        best = min(times, key=times.get)
        default_total += times["64x64x32"]
        best_total += times[best]
        out.append(f"  {base}: best {best} {times[best] * 1e3:.3f} ms "
                   f"({times['64x64x32'] / times[best]:.2f}x the default's)")
    if best_total > 0:
        out.append(f"chain GEMMs with each one's best tile: {best_total * 1e3:.1f} ms "
                   f"against {default_total * 1e3:.1f} ms with the default "
                   f"({default_total / best_total:.2f}x)")
    return out


if __name__ == "__main__":
    main()
