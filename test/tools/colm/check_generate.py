"""`colm generate` with greedy sampling must produce exactly the tokens that
the chosen sub-model gives when recomputed from scratch (`colm forward
--chains k` over the whole sequence) at every step: CoLM and CoLM-Air, every
fixed K, chain schedules going up and down, --prefill-chains 1 and all.

Usage: check_generate.py --colm BIN --tmp DIR
"""
import argparse
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "reference"))
import colm_ref  # noqa: E402

results = []


def check(ok, what):
    results.append(bool(ok))
    print(("PASS: " if ok else "FAIL: ") + what, flush=True)


def colm(binary, *args):
    p = subprocess.run([binary, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(" ".join(args) + ": " + p.stderr.strip())
    return p.stdout


def chains_at(schedule, i):
    k = schedule[0][1]
    for start, chains in schedule:
        if i >= start:
            k = chains
    return k


def recompute(binary, model, tmp, prompt, schedule, n):
    tokens, out = list(prompt), []
    for i in range(n):
        path = os.path.join(tmp, "l.npy")
        colm(binary, "forward", "--model", model, "--tokens", ",".join(map(str, tokens)),
             "--chains", str(chains_at(schedule, i)), "--logits-out", path)
        out.append(int(np.argmax(np.load(path)[-1])))
        tokens.append(out[-1])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--colm", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    os.makedirs(a.tmp, exist_ok=True)
    prompt = [3, 17, 4, 22, 9, 30, 1]
    n_new = 9
    for name, kw in [("air[2,2]", dict(chains=[2, 2], kv_sharing=True, gqa=True)),
                     ("air[1,1,2]", dict(chains=[1, 1, 2], kv_sharing=True)),
                     ("colm[1,1,2]", dict(chains=[1, 1, 2], gqa=True)),
                     ("colm[2,2]", dict(chains=[2, 2]))]:
        config = colm_ref.make_config(hd=4, vocab=32, layers=2, **kw)
        model = os.path.join(a.tmp, name)
        colm_ref.random_model(config, seed=7, out_dir=model, std=0.5)
        n = len(config["chains"])
        schedules = [[(0, k)] for k in range(1, n + 1)]
        schedules += [[(0, 1), (3, n), (6, 1)], [(0, n), (2, 1), (5, 2), (7, n)]]
        prefills = ["1", "all"] if config["kv_sharing"] else ["all"]
        for schedule in schedules:
            spec = ",".join(f"{s}:{k}" for s, k in schedule)
            want = recompute(a.colm, model, a.tmp, prompt, schedule, n_new)
            for prefill in prefills:
                out = os.path.join(a.tmp, "tokens.txt")
                try:
                    colm(a.colm, "generate", "--model", model, "--prompt-tokens",
                         ",".join(map(str, prompt)), "--max-new", str(n_new), "--greedy",
                         "--chain-schedule", spec, "--prefill-chains", prefill,
                         "--tokens-out", out)
                    got = [int(t) for t in open(out).read().strip().split(",")]
                except RuntimeError as e:
                    got = str(e)
                check(got == want, f"{name} schedule {spec} prefill-chains {prefill}: "
                                   f"{got} == recomputed {want}")
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
