"""End-to-end checks of `colm train` against PyTorch.

- One SGD step (sequential sampler, no clipping, constant lr) changes every
  weight exactly as p - lr * dL/dp, with dL/dp from torch.autograd on the
  spec's loss, for CoLM and CoLM-Air, chain losses full / all / explicit, and
  frozen chains (frozen entries unchanged bit for bit).
- Two AdamW steps match torch.optim.AdamW (weight decay on matrices only).
- A run resumed at step 2 of 4 ends bit for bit where an uninterrupted run
  ends.

Usage: check_train.py --colm BIN --tmp DIR. Prints one line per check and
"N passed, M failed".
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "reference"))
import colm_ref  # noqa: E402
import colm_torch  # noqa: E402

B, T, N_TOKENS = 2, 6, 160
results = []


def check(ok, what):
    results.append(bool(ok))
    print(("PASS: " if ok else "FAIL: ") + what, flush=True)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        print("command failed: " + " ".join(cmd) + "\n" + p.stderr, flush=True)
    return p.returncode == 0


def weights_of(spec, n):
    if spec == "full":
        return [0.0] * (n - 1) + [1.0]
    if spec == "all":
        return [1.0 / n] * n
    return [float(x) for x in spec.split(",")]


def sequential_batch(ids, step, vocab):
    """Row r of step s reads the window at ((s*B + r)*T) mod (N - T)."""
    batch = []
    for r in range(B):
        start = ((step * B + r) * T) % (len(ids) - T)
        batch.append((ids[start:start + T].tolist(), ids[start + 1:start + T + 1].tolist()))
    return batch


def trainable_mask(config, name, shape, kind, frozen):
    """Entries that may change: not above the diagonal, not in chains 1..frozen."""
    c = config
    C = c["chains"]
    if kind == "dense":
        return np.full(shape, frozen == 0)
    if kind == "gain":
        m = np.zeros(shape, dtype=bool)
        m[colm_ref.bounds(shape[0], C)[frozen]:] = True
        return m
    if kind == "embed":
        m = np.zeros(shape, dtype=bool)
        m[:, colm_ref.bounds(shape[1], C)[frozen]:] = True
        return m
    m = colm_ref.lower_mask(shape, C)
    m[: colm_ref.bounds(shape[0], C)[frozen]] = False
    return m


def torch_train(config, params, ids, steps, opt, lr, chain_loss, frozen, wd=0.0, eps=1e-8):
    c = colm_ref.fill_defaults(config)
    shapes = colm_ref.param_shapes(c)
    P = {n: torch.tensor(v, dtype=torch.float64, requires_grad=True) for n, v in params.items()}
    masks = {n: torch.tensor(trainable_mask(c, n, s, kind, frozen)) for n, (s, kind) in shapes.items()}
    mats = [P[n] for n in sorted(P) if P[n].dim() == 2]
    gains = [P[n] for n in sorted(P) if P[n].dim() == 1]
    if opt == "sgd":
        o = torch.optim.SGD([{"params": mats + gains}], lr=lr)
    else:
        o = torch.optim.AdamW([{"params": mats, "weight_decay": wd},
                               {"params": gains, "weight_decay": 0.0}],
                              lr=lr, eps=eps)
    w = weights_of(chain_loss, len(c["chains"]))
    for s in range(steps):
        o.zero_grad()
        loss = colm_torch.chain_loss(c, P, sequential_batch(ids, s, c["vocab_size"]), w)
        loss.backward()
        for n in P:
            P[n].grad = P[n].grad * masks[n]
        before = {n: P[n].detach().clone() for n in P}
        o.step()
        with torch.no_grad():  # frozen entries do not move at all
            for n in P:
                P[n].copy_(torch.where(masks[n], P[n], before[n]))
    return {n: P[n].detach().numpy() for n in P}


def compare(tag, start, got, want, tol):
    worst, where = 0.0, ""
    for n in want:
        step = want[n] - start[n]
        scale = np.abs(step).max()
        if scale == 0:
            ok = np.array_equal(got[n], start[n].astype(np.float32))
            if not ok:
                worst, where = float("inf"), n + " (should not change)"
            continue
        err = np.abs((got[n].astype(np.float64) - start[n]) - step).max() / scale
        if err > worst:
            worst, where = err, n
    check(worst <= tol, f"{tag}: max relative error of the update {worst:.2e} (worst: {where})")


def frozen_bits(tag, config, start, got, frozen):
    c = colm_ref.fill_defaults(config)
    bad = []
    for n, (shape, kind) in colm_ref.param_shapes(c).items():
        keep = ~trainable_mask(c, n, shape, kind, frozen)
        if not np.array_equal(got[n].astype(np.float32)[keep].view(np.uint32),
                              start[n].astype(np.float32)[keep].view(np.uint32)):
            bad.append(n)
    check(not bad, f"{tag}: frozen and above-diagonal entries unchanged bit for bit {bad[:2]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--colm", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    os.makedirs(a.tmp, exist_ok=True)
    torch.set_num_threads(1)
    cases = [
        ("colm[1,1,2]", dict(chains=[1, 1, 2], gqa=True), ["full", "all", "0.5,0,2"], [0, 1]),
        ("air[2,2]", dict(chains=[2, 2], kv_sharing=True, gqa=True), ["full", "all", "2,0.5"], [0, 1]),
        ("colm[2,2]", dict(chains=[2, 2]), ["all"], [1]),
    ]
    for name, kw, losses, freezes in cases:
        config = colm_ref.make_config(hd=4, vocab=24, layers=2, **kw)
        model = os.path.join(a.tmp, name)
        params = colm_ref.random_model(config, seed=11, out_dir=model, std=0.3)
        ids = np.random.default_rng(5).integers(0, config["vocab_size"], N_TOKENS).astype("<u2")
        data = os.path.join(a.tmp, name + ".bin")
        ids.tofile(data)
        base = [a.colm, "train", "--model", model, "--data", data, "--batch", str(B),
                "--seq", str(T), "--sampler", "sequential", "--clip-grad-norm", "0",
                "--schedule", "constant"]
        for loss in losses:
            for frozen in freezes:
                tag = f"{name} sgd chain-loss={loss} freeze={frozen}"
                out = os.path.join(a.tmp, f"{name}-sgd-{loss}-{frozen}")
                if not run(base + ["--steps", "1", "--optimizer", "sgd", "--lr", "0.5",
                                   "--chain-loss", loss, "--freeze-chains", str(frozen),
                                   "--save", out]):
                    check(False, tag + ": colm train failed")
                    continue
                got = colm_ref.read_safetensors(os.path.join(out, "model.safetensors"))
                want = torch_train(config, params, ids, 1, "sgd", 0.5, loss, frozen)
                compare(tag, params, got, want, 1e-4)
                frozen_bits(tag, config, params, got, frozen)
        # AdamW, two steps.
        loss, frozen = losses[-1], freezes[-1]
        tag = f"{name} adamw x2 chain-loss={loss} freeze={frozen}"
        out = os.path.join(a.tmp, f"{name}-adamw")
        if run(base + ["--steps", "2", "--optimizer", "adamw", "--lr", "0.01",
                       "--weight-decay", "0.1", "--chain-loss", loss,
                       "--freeze-chains", str(frozen), "--save", out]):
            got = colm_ref.read_safetensors(os.path.join(out, "model.safetensors"))
            want = torch_train(config, params, ids, 2, "adamw", 0.01, loss, frozen, wd=0.1)
            compare(tag, params, got, want, 1e-4)
            frozen_bits(tag, config, params, got, frozen)
        else:
            check(False, tag + ": colm train failed")
        # Resume at step 2 of 4 == an uninterrupted 4-step run.
        common = [a.colm, "train", "--model", model, "--data", data, "--batch", str(B),
                  "--seq", str(T), "--sampler", "random", "--seed", "3", "--lr", "0.01",
                  "--chain-loss", "all"]
        whole, part = os.path.join(a.tmp, name + "-whole"), os.path.join(a.tmp, name + "-part")
        ok = (run(common + ["--steps", "4", "--save", whole]) and
              run(common + ["--steps", "2", "--save", part]) and
              run([a.colm, "train", "--resume", part, "--steps", "4"]))
        same = ok and all(
            open(os.path.join(whole, f), "rb").read() == open(os.path.join(part, f), "rb").read()
            for f in ("model.safetensors", "training_state.safetensors"))
        check(same, f"{name}: resumed at step 2 of 4 ends bit for bit like the whole run")
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
