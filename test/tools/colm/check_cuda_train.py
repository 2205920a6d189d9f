"""`colm train --backend cuda` with the weights, gradients and AdamW state on
the GPU (compiler/CudaOptimizer.h), run on the test suite's fake driver with
the kernels' emulator builds as modules (COLM_CUDA_SIM_IMAGES=1), against
`--backend cuda-sim` (the same kernels, the host optimizer), small CoLM and
CoLM-Air (one frozen chain) models:
  no clipping   every step's loss, the trained weights and the optimizer state
                bit for bit the host's;
  clipping      (the GPU sums the norm in another order) weights within 1e-5;
  resume        two steps, then resumed to four: the weights and state of an
                uninterrupted four-step run, bit for bit (the checkpoint's
                moments go to the GPU and back).
Usage: check_cuda_train.py --colm BIN --fake-driver SO --tmp DIR
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

from check_cuda_sim import config, read_safetensors

results = []


def check(ok, what):
    results.append(bool(ok))
    print(("PASS: " if ok else "FAIL: ") + what, flush=True)


def run(binary, env, *args):
    p = subprocess.run([binary, *args], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(" ".join(args) + ": " + p.stderr.strip())
    return p.stdout + p.stderr


def tensors(out):
    t = read_safetensors(os.path.join(out, "model.safetensors"))
    s = read_safetensors(os.path.join(out, "training_state.safetensors"))
    t.update({"state." + k: v for k, v in s.items()})
    return t


def losses(log):
    with open(log) as f:
        return [json.loads(line)["loss"] for line in f]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--colm", required=True)
    ap.add_argument("--fake-driver", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    os.makedirs(a.tmp, exist_ok=True)
    host = dict(os.environ)
    gpu = dict(os.environ, COLM_CUDA_DRIVER=a.fake_driver, COLM_CUDA_SIM_IMAGES="1")
    text = os.path.join(a.tmp, "text.txt")
    with open(text, "w") as f:
        f.write("Chain-of-Model learning splits every hidden state into chains. " * 40)
    for air in (False, True):
        name = "air" if air else "colm"
        cfg = os.path.join(a.tmp, name + ".json")
        with open(cfg, "w") as f:
            json.dump(config(air), f)
        model = os.path.join(a.tmp, name)
        run(a.colm, host, "init", "--config", cfg, "--out", model, "--seed", "3", "--force")
        common = ["train", "--model", model, "--data", text, "--batch", "2", "--seq", "16",
                  "--lr", "0.01", "--weight-decay", "0.1", "--freeze-chains", "1" if air else "0"]

        def train(env, tag, steps, clip, resume=None):
            out = os.path.join(a.tmp, f"{name}-{tag}")
            log = out + ".jsonl"
            if resume is None:
                if os.path.exists(log):
                    os.remove(log)
                run(a.colm, env, *common, "--steps", str(steps), "--clip-grad-norm", str(clip),
                    "--out", out, "--force", "--log", log, "--backend",
                    "cuda" if env is gpu else "cuda-sim")
            else:
                run(a.colm, env, "train", "--resume", resume, "--steps", str(steps),
                    "--data", text, "--backend", "cuda")
                out = resume
            return out, log

        sim, sim_log = train(host, "sim", 4, 0)
        cu, cu_log = train(gpu, "cuda", 4, 0)
        check(losses(cu_log) == losses(sim_log),
              f"{name} no clipping: every step's loss the host's {losses(cu_log)}")
        ts, tc = tensors(sim), tensors(cu)
        same = sorted(ts) == sorted(tc) and all(np.array_equal(ts[k], tc[k]) for k in ts)
        check(same, f"{name} no clipping: weights and optimizer state bit for bit the host's")

        sim, _ = train(host, "sim-clip", 4, 0.05)
        cu, cu_log = train(gpu, "cuda-clip", 4, 0.05)
        ws, wc = tensors(sim), tensors(cu)
        worst = max(float(np.abs(wc[k] - ws[k]).max() / max(np.abs(ws[k]).max(), 1e-30))
                    for k in ws if not k.startswith("state."))
        check(worst <= 1e-5, f"{name} clipping: weights within {worst:.1e}")

        part, _ = train(gpu, "cuda-part", 2, 0)
        train(gpu, "cuda-part", 4, 0, resume=part)
        tp = tensors(part)
        same = all(np.array_equal(tp[k], tc[k]) for k in tc)
        check(same, f"{name} resume 2 -> 4 on the GPU: the uninterrupted run's bits")

    out = run(a.colm, gpu, "bench", "--config", os.path.join(a.tmp, "air.json"), "--train",
              "--backend", "cuda", "--batch", "1", "--seq", "8", "--steps", "2", "--no-peak")
    check("the optimizer:" in out and "tokens/s" in out,
          "colm bench --train --backend cuda runs with the GPU optimizer")

    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
