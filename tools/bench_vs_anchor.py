#!/usr/bin/python3
"""colm bench beside the PyTorch anchor (../shared/bench/torch_anchor.py), in one
run on one machine, as the table of the README and docs/performance.md:

    /usr/bin/python3 tools/bench_vs_anchor.py [--colm build/bin/colm]
        [--anchor ../shared/bench/torch_anchor.py] [--steps 3] [--out FILE.json]

Speed is reported as ratios measured side by side: the machines are shared.
"""
import argparse, json, os, resource, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_colm(colm, config, args):
    cmd = [colm, "bench", "--config", os.path.join(ROOT, "examples", "configs", config), "--json"] + args
    print("+", " ".join(cmd), flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    sys.stdout.write(out)
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--colm", default=os.path.join(ROOT, "build", "bin", "colm"))
    p.add_argument("--anchor", default=os.path.join(ROOT, "..", "shared", "bench", "torch_anchor.py"))
    p.add_argument("--steps", default="3")
    p.add_argument("--out", help="write every measurement as JSON")
    a = p.parse_args()
    if not os.path.exists(a.anchor):
        sys.exit(f"error: the anchor script {a.anchor} does not exist (--anchor PATH)")

    started = time.strftime("%Y-%m-%d %H:%M")
    colm = {}
    for name, config in [("air", "bench-cpu-air.json"), ("colm", "bench-cpu-colm.json"), ("dense", "bench-cpu-dense.json")]:
        colm[name] = run_colm(a.colm, config, ["--train", "--steps", a.steps] + (["--no-peak"] if name != "air" else []))
    # bf16 mixed precision (pair dot products where the CPU has AVX512_BF16),
    # against the same fp32 anchor.
    for name, config in [("air", "bench-cpu-air.json"), ("colm", "bench-cpu-colm.json")]:
        colm[name + "_bf16"] = run_colm(a.colm, config,
                                        ["--train", "--steps", a.steps, "--precision", "bf16", "--no-peak"])
    bf16_dot = "avx512_bf16" in open("/proc/cpuinfo").read()
    inference = run_colm(a.colm, "bench-cpu-air.json",
                         ["--prefill", "--decode", "--prompt-len", "1024", "--decode-tokens", "32", "--repeat", "2"])
    anchor_json = "/tmp/colm-anchor-%d.json" % os.getpid()
    print("+", "/usr/bin/python3", a.anchor, anchor_json, flush=True)
    # The anchor picks OpenBLAS's kernels for this CPU itself (spec/bench.md):
    # an OPENBLAS_CORETYPE inherited from the environment would override it.
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    subprocess.run(["/usr/bin/python3", a.anchor, anchor_json], check=True, env=env)
    anchor_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    anchor = json.load(open(anchor_json))
    peak = colm["air"].get("fma_peak_flops_per_second") or 0

    rows = []
    bf16 = "bf16" + ("" if bf16_dot else " (no AVX512_BF16: rounded inputs, fp32 FMAs)")
    for name, label in [("air", "training, CoLM-Air"), ("colm", "training, CoLM"), ("dense", "training, dense [8]"),
                        ("air_bf16", "training, CoLM-Air, " + bf16), ("colm_bf16", "training, CoLM, " + bf16)]:
        c, t = colm[name], anchor[name.replace("_bf16", "")]
        frac = c["model_flops_per_second"] / peak if peak else 0
        rows.append((label + " (tokens/s)", f"{c['tokens_per_second']:.0f}", f"{t['tok_s']:.0f}",
                     f"{c['tokens_per_second'] / t['tok_s']:.2f}x",
                     f"{100 * frac:.1f}% of peak, max RSS {c['peak_memory_bytes'] / 2**30:.2f} GiB"))
    full, c1 = inference["prefill_seconds_full"], inference["prefill_seconds_chain1"]
    tf, tc1 = anchor["prefill_1024"]["full_s"], anchor["prefill_1024"]["chain1_s"]
    rows.append(("prefill 1024, all chains (s)", f"{full:.3f}", f"{tf:.3f}", f"{tf / full:.2f}x", ""))
    rows.append(("prefill 1024, chain 1 (s)", f"{c1:.3f}", f"{tc1:.3f}", f"{tc1 / c1:.2f}x",
                 f"colm full / chain-1 {full / c1:.2f}x"))
    for k, tps in sorted(inference["decode_tokens_per_second"].items()):
        t = anchor["decode_tok_s"][k]
        rows.append((f"decode after 1024, {k} chain(s) (tokens/s)", f"{tps:.0f}", f"{t:.0f}", f"{tps / t:.2f}x", ""))

    print(f"\nbench-cpu, {started}, colm vs PyTorch {anchor.get('torch', '')} (anchor max RSS "
          f"{anchor_rss / 2**30:.2f} GiB over its whole run; fp32 FMA peak {peak / 1e9:.0f} GFLOP/s; "
          f"PyTorch fp32 GEMM {anchor['gemm_gflops']:.0f} GFLOP/s)\n")
    print("| measurement | colm | PyTorch | colm vs PyTorch | notes |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if a.out:
        json.dump({"colm": colm, "inference": inference, "anchor": anchor, "anchor_max_rss": anchor_rss},
                  open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
