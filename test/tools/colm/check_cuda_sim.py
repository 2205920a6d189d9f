"""`colm forward`, `colm train` and `colm generate` with --backend cuda-sim (the
CUDA kernels on the host SIMT emulator) against --backend reference (the
interpreter), on small CoLM and CoLM-Air models:
  forward   fp32 logits of every sub-model within 1e-4 (max |diff| / max |ref|);
            bf16 within 1e-2 and not the fp32 bits;
  train     three SGD steps with every sub-model's loss: each step's loss and
            gradient norm within 1e-4, and the trained weights within 1e-4
            (SGD: an update is linear in the gradient, where AdamW's m/sqrt(v)
            makes tiny gradients' rounding a full step);
  generate  greedy tokens, with a chain schedule (and chain-1 prefill on Air),
            identical.

Usage: check_cuda_sim.py --colm BIN --tmp DIR
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

results = []


def check(ok, what):
    results.append(bool(ok))
    print(("PASS: " if ok else "FAIL: ") + what, flush=True)


def colm(binary, *args):
    p = subprocess.run([binary, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(" ".join(args) + ": " + p.stderr.strip())
    return p.stdout


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def config(air):
    return {
        "model_type": "colm",
        "vocab_size": 256,
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2 if air else 4,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "max_position_embeddings": 64,
        "chains": [2, 2] if air else [1, 1, 2],
        "kv_sharing": air,
    }


def read_safetensors(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", info["dtype"]
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=np.float32)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--colm", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    os.makedirs(a.tmp, exist_ok=True)
    text = os.path.join(a.tmp, "text.txt")
    with open(text, "w") as f:
        f.write("Chain-of-Model learning splits every hidden state into chains. " * 40)
    tokens = "3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3,2,3,8,4,6,2,6,4,3,3,8,3,2,7,9,5,0"
    for air in (False, True):
        name = "air" if air else "colm"
        cfg = os.path.join(a.tmp, name + ".json")
        with open(cfg, "w") as f:
            json.dump(config(air), f)
        model = os.path.join(a.tmp, name)
        colm(a.colm, "init", "--config", cfg, "--out", model, "--seed", "3", "--force")

        # Training first, so that forward and generate see trained weights.
        runs = {}
        for be in ("reference", "cuda-sim"):
            out = os.path.join(a.tmp, f"{name}-{be}")
            log = out + ".jsonl"
            if os.path.exists(log):
                os.remove(log)
            colm(a.colm, "train", "--model", model, "--data", text, "--steps", "3",
                 "--batch", "2", "--seq", "16", "--chain-loss", "all", "--optimizer", "sgd", "--lr", "0.5",
                 "--backend", be, "--out", out, "--force", "--log", log)
            with open(log) as f:
                runs[be] = ([json.loads(line) for line in f], out)
        ref_log, ref_out = runs["reference"]
        sim_log, sim_out = runs["cuda-sim"]
        check(len(ref_log) == len(sim_log) == 3, f"{name} train: three steps logged")
        for r, s in zip(ref_log, sim_log):
            for key in ("loss", "grad_norm"):
                check(abs(r[key] - s[key]) <= 1e-4 * abs(r[key]),
                      f"{name} train step {r['step']} {key}: {s[key]} vs {r[key]}")
        rw = read_safetensors(os.path.join(ref_out, "model.safetensors"))
        sw = read_safetensors(os.path.join(sim_out, "model.safetensors"))
        worst = max(rel(sw[k], rw[k]) for k in rw)
        check(worst <= 1e-4, f"{name} train: trained weights within {worst:.1e}")

        trained = ref_out
        n = len(config(air)["chains"])
        for k in range(1, n + 1):
            out = {}
            for be, prec in (("reference", "fp32"), ("cuda-sim", "fp32"),
                             ("cuda-sim", "bf16")):
                path = os.path.join(a.tmp, f"{name}-{k}-{be}-{prec}.npy")
                colm(a.colm, "forward", "--model", trained, "--tokens", tokens,
                     "--chains", str(k), "--backend", be, "--precision", prec,
                     "-o", path)
                out[be, prec] = np.load(path)
            ref = out["reference", "fp32"]
            e32 = rel(out["cuda-sim", "fp32"], ref)
            e16 = rel(out["cuda-sim", "bf16"], ref)
            check(e32 <= 1e-4, f"{name} forward k={k} fp32: {e32:.1e}")
            check(1e-6 < e16 <= 1e-2, f"{name} forward k={k} bf16: {e16:.1e}")

        schedules = ["0:1,4:%d,8:1" % n, str(n)]
        for sched in schedules:
            got = {}
            for be in ("reference", "cuda-sim"):
                path = os.path.join(a.tmp, f"{name}-gen-{be}.txt")
                args = ["generate", "--model", trained, "--prompt-tokens",
                        "72,101,108,108,111,32", "--max-new", "10", "--greedy",
                        "--backend", be, "--tokens-out", path]
                args += ["--chain-schedule", sched] if ":" in sched else ["--chains", sched]
                colm(a.colm, *args)
                with open(path) as f:
                    got[be] = f.read().strip()
            check(got["reference"] == got["cuda-sim"],
                  f"{name} generate ({sched}): {got['cuda-sim']} vs {got['reference']}")

    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
