#!/usr/bin/python3
"""End-to-end checks of `colm experiment`.

  check_experiment.py --colm BIN --tmp DIR

- every experiment runs --quick (reference backend) and writes results.json,
  results.md with a row per variant and the columns filled, and SVG plots;
- the parameter counts are the initial models' non-zero weights (counted
  here from the safetensors files, independently of colm);
- progressive: chain tuning leaves chain 1's loss unchanged, bit for bit;
- chain-loss on the compiled cpu backend gives the reference backend's
  losses (within float rounding);
- a finished experiment is not redone; an interrupted one (SIGINT to the
  runner alone) resumes to the uninterrupted run's results, bit for bit, and
  leaves no stage running;
- bad flags and names are refused with messages that say what.
Prints one line per check and "N passed, M failed".
"""

import argparse
import json
import math
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

results = []


def check(ok, what):
    results.append(bool(ok))
    print(("PASS: " if ok else "FAIL: ") + what, flush=True)
    return ok


def run(colm, args, timeout=600):
    p = subprocess.run([colm] + args, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def nonzero_weights(path):
    """Non-zero entries of every F32 tensor of a safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    count = 0
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", t
        a, b = t["data_offsets"]
        values = struct.unpack("<%df" % ((b - a) // 4), data[a:b])
        count += sum(1 for v in values if v != 0.0)
    return count


def load(out):
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f)


def losses(res):
    return {(r["id"], k): v for r in res["runs"]
            for k, v in r["metrics"].items() if k.startswith("loss")}


def check_report(name, out):
    res = load(out)
    md = open(os.path.join(out, "results.md")).read()
    rows = [l for l in md.splitlines() if l.startswith("| ")]
    variants = []
    for r in res["runs"]:
        if r["variant"] not in variants:
            variants.append(r["variant"])
    check(len(rows) == len(variants) + 1,
          f"{name}: results.md has a row per variant ({len(variants)})")
    check(all("| - |" not in l and "nan" not in l for l in rows),
          f"{name}: every cell of the table is filled")
    check("The paper:" in md, f"{name}: results.md states the paper's claim")
    svgs = [f for f in os.listdir(out) if f.endswith(".svg")]
    check(svgs and all(open(os.path.join(out, f)).read().lstrip()
                       .startswith(("<svg", "<?xml")) for f in svgs),
          f"{name}: SVG plots written ({', '.join(sorted(svgs))})")
    for r in res["runs"]:
        init = os.path.join(out, r["id"], "init", "model.safetensors")
        if os.path.exists(init):
            counted = nonzero_weights(init)
            stated = round(r["metrics"]["params_m"] * 1e6)
            check(counted == stated,
                  f"{name}/{r['id']}: {stated} trainable parameters, "
                  f"{counted} non-zero initial weights")
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--colm", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    colm, tmp = a.colm, a.tmp
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    text = os.path.join(tmp, "text.txt")
    with open(text, "w") as f:
        f.write("the quick brown fox jumps over the lazy dog. " * 120)
    data = ["--data", text, "--val", text]

    rc, out = run(colm, ["experiment", "--list"])
    names = [l.split()[0] for l in out.splitlines() if l.strip()]
    check(rc == 0 and "matched-params" in names and "prefill" in names,
          f"--list names the experiments: {' '.join(names)}")

    ref = {}
    for name in names:
        dest = os.path.join(tmp, name)
        rc, log = run(colm, ["experiment", name, "--quick", "--backend",
                             "reference", "--out", dest] + data)
        if not check(rc == 0, f"{name} --quick runs"):
            print(log)
            continue
        ref[name] = check_report(name, dest)

    if "progressive" in ref:
        notes = ref["progressive"]["notes"]
        check(notes and all("unchanged, bit for bit" in n for n in notes),
              "progressive: chain 1 after chain tuning is the small model: "
              + "; ".join(notes))
    if "prefill" in ref:
        check(all(r["metrics"]["flop_ratio"] > 1 and
                  r["metrics"]["speedup"] > 0 for r in ref["prefill"]["runs"]),
              "prefill: FLOP ratios above 1, speed-ups measured")

    # The compiled backend against the interpreter.
    cpu_out = os.path.join(tmp, "chain-loss-cpu")
    rc, log = run(colm, ["experiment", "chain-loss", "--quick", "--out",
                         cpu_out] + data)
    if check(rc == 0, "chain-loss --quick on the cpu backend runs"):
        cpu = losses(load(cpu_out))
        base = losses(ref.get("chain-loss", {"runs": []}))
        worst = max((abs(cpu[k] - v) / abs(v) for k, v in base.items()),
                    default=math.inf)
        check(base.keys() == cpu.keys() and worst < 1e-4,
              f"cpu losses equal the reference backend's (worst relative "
              f"difference {worst:.2e})")
        rc, log = run(colm, ["experiment", "chain-loss", "--quick", "--out",
                             cpu_out] + data)
        check(rc == 0 and "0 of 6 stages to run" in log,
              "a finished experiment is not redone")
        check(losses(load(cpu_out)) == cpu, "and its results stay the same")

    # Interrupted and resumed: the uninterrupted run's bits.
    slow = ["experiment", "chain-loss", "--quick", "--backend", "reference",
            "--steps", "120"] + data
    whole = os.path.join(tmp, "whole")
    rc, _ = run(colm, slow + ["--out", whole])
    check(rc == 0, "a 120-step chain-loss runs")
    cut = os.path.join(tmp, "cut")
    p = subprocess.Popen([colm] + slow + ["--out", cut],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    time.sleep(2.5)
    p.send_signal(signal.SIGINT)
    log = p.communicate(timeout=120)[0]
    check(p.returncode != 0 and "rerun the same command to resume" in log,
          "SIGINT stops the runner with a message: " +
          log.strip().splitlines()[-1] if log.strip() else "(no output)")
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", cut], capture_output=True,
                          text=True).stdout.split()
    check(not left, "no stage is left running after SIGINT")
    rc, log = run(colm, slow + ["--out", cut])
    check(rc == 0, "the interrupted experiment resumes")
    if rc == 0:
        check(losses(load(cut)) == losses(load(whole)),
              "and gives the uninterrupted run's losses, bit for bit")

    for args, want in [
        (["experiment"], "missing the experiment's NAME"),
        (["experiment", "nope", "--quick"], "unknown experiment 'nope'"),
        (["experiment", "chain-loss", "--quick", "--data",
          os.path.join(tmp, "missing.txt"), "--val", text, "--out",
          os.path.join(tmp, "x")], "missing.txt: no such file"),
        (["experiment", "chain-loss", "--quick", "--backend", "cuda"],
         "experiments run on cpu or reference"),
        (["experiment", "chain-loss", "--seeds", "0"], "--seeds"),
    ]:
        rc, log = run(colm, args)
        check(rc != 0 and want in log,
              f"colm {' '.join(args[:4])}... is refused: {want}")

    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
