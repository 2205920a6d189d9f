"""`mpirun -np 2 colm train ... --distributed` (runtime/dist) against the
single-process run of the same global batch, on loopback with Open MPI:
  equal runs     AdamW (multi-chain loss, CoLM) and SGD (CoLM-Air, one frozen
                 chain), an uneven split (3 rows on 2 ranks), clipping, small
                 buckets (overlapped with the backward pass): every step's
                 loss and gradient norm, the weights and AdamW's moments
                 within fp32 reduction-order tolerance; frozen chains and
                 zero blocks bit for bit untouched;
  resume         2 ranks -> 1 rank and 1 -> 2 ranks continue the same run;
  failure        a rank's non-finite loss, a killed rank and a hung rank stop
                 the job with one message naming the rank, within the
                 timeout, and the last good checkpoint stays intact.
  GPU path     with --fake-driver and --fake-nccl (the test suite's stand-ins
               for libcuda and libnccl, on host memory): --backend cuda
               --distributed (the trainable blocks reduce-scattered with
               NCCL's pre-multiplied sum, AdamW's state sharded over the
               GPUs, the weights all-gathered) against one process on the
               same fake GPU, resume 2 -> 1 and 1 -> 2 ranks, a bad batch.
Usage: check_distributed.py --colm BIN --mpirun MPIRUN --tmp DIR
                            [--fake-driver SO --fake-nccl SO]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from check_cuda_sim import config, read_safetensors

results = []


def check(ok, what):
    results.append(bool(ok))
    print(("PASS: " if ok else "FAIL: ") + what, flush=True)


ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1")


def run(cmd, env=ENV, expect_ok=True, timeout=300):
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if expect_ok and p.returncode != 0:
        raise RuntimeError(" ".join(cmd) + ":\n" + p.stdout + p.stderr)
    return p.returncode, p.stdout + p.stderr, time.time() - t0


def tensors(out):
    t = read_safetensors(os.path.join(out, "model.safetensors"))
    s = read_safetensors(os.path.join(out, "training_state.safetensors"))
    t.update({"state." + k: v for k, v in s.items() if k.startswith("exp_avg")})
    return t


def log(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def worst(a, b, prefix=""):
    """Largest difference relative to each tensor's largest magnitude."""
    return max(float(np.abs(a[k] - b[k]).max() / max(np.abs(b[k]).max(), 1e-30))
               for k in b if k.startswith(prefix))


def adamw_close(a, b, lr, steps):
    """AdamW's first steps move an entry by about lr whatever its gradient's
    size, so an entry whose gradient is ~0 can move either way under another
    summation order: allow that on at most 0.1% of the entries (a dropped or
    misplaced gradient spoils whole tensors), by at most the updates'
    bound, and ask 1e-5 of the tensor's magnitude of the rest."""
    far, total, largest = 0, 0, 0.0
    for k in b:
        d = np.abs(a[k] - b[k])
        far += int((d > 1e-5 * max(np.abs(b[k]).max(), 1e-30)).sum())
        total += d.size
        if not k.startswith("state."):
            largest = max(largest, float(d.max()))
    ok = far <= 1e-3 * total and largest <= 2.5 * lr * steps
    return ok, (f"within 1e-5 but for {far} of {total} entries "
                f"(at most {largest:.1e} apart; the bound is {2.5 * lr * steps:.2g})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--colm", required=True)
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--fake-driver")
    ap.add_argument("--fake-nccl")
    a = ap.parse_args()
    os.makedirs(a.tmp, exist_ok=True)
    text = os.path.join(a.tmp, "text.txt")
    with open(text, "w") as f:
        f.write("Chain-of-Model learning splits every hidden state into chains. " * 40)
    mpi = [a.mpirun, "-np", "2"]
    models = {}
    for air in (False, True):
        name = "air" if air else "colm"
        cfg = os.path.join(a.tmp, name + ".json")
        with open(cfg, "w") as f:
            json.dump(config(air), f)
        models[name] = os.path.join(a.tmp, name)
        run([a.colm, "init", "--config", cfg, "--out", models[name], "--seed", "3", "--force"])

    def train(tag, model, flags, ranks=0, steps=3, resume=None, env=ENV, expect_ok=True):
        out = os.path.join(a.tmp, tag)
        lg = out + ".jsonl"
        if resume is None:
            if os.path.exists(lg):
                os.remove(lg)
            args = ["train", "--model", model, "--data", text, "--seq", "16",
                    "--out", out, "--force", "--log", lg, *flags]
        else:
            args = ["train", "--resume", resume, "--data", text, *flags]
            out, lg = resume, resume + ".jsonl"
        args += ["--steps", str(steps)]
        cmd = [a.colm, *args] if ranks == 0 else \
            [a.mpirun, "-np", str(ranks), a.colm, *args, "--distributed"]
        rc, output, seconds = run(cmd, env=env, expect_ok=expect_ok)
        return out, lg, rc, output, seconds

    cases = [
        ("adamw", "colm", ["--batch", "4", "--chain-loss", "all", "--lr", "0.01",
                           "--clip-grad-norm", "0"]),
        ("sgd", "air", ["--batch", "4", "--optimizer", "sgd", "--lr", "0.5",
                        "--freeze-chains", "1", "--clip-grad-norm", "0"]),
        ("uneven", "air", ["--batch", "3", "--lr", "0.01", "--chain-loss", "1,1",
                           "--bucket-mb", "0.02"]),
        ("clipped", "colm", ["--batch", "4", "--lr", "0.01", "--clip-grad-norm", "0.05",
                             "--bucket-mb", "0.001"]),
    ]
    for tag, model, flags in cases:
        single = list(flags)
        if "--bucket-mb" in single:
            i = single.index("--bucket-mb")
            del single[i:i + 2]
        one, one_log, *_ = train(tag + "-1p", models[model], single)
        two, two_log, _, output, _ = train(tag + "-2r", models[model], flags, ranks=2)
        l1, l2 = log(one_log), log(two_log)
        loss = max(abs(x["loss"] - y["loss"]) / abs(x["loss"]) for x, y in zip(l1, l2))
        norm = max(abs(x["grad_norm"] - y["grad_norm"]) / x["grad_norm"] for x, y in zip(l1, l2))
        check(len(l1) == len(l2) == 3 and loss < 1e-6 and norm < 1e-5,
              f"{tag}: every step's loss (within {loss:.1e}) and gradient norm "
              f"(within {norm:.1e}) the single process's")
        t1, t2 = tensors(one), tensors(two)
        if tag == "sgd":
            w = worst(t2, t1)
            check(sorted(t1) == sorted(t2) and w < 1e-5,
                  f"{tag}: weights within {w:.1e} of the single process's")
        else:
            ok, what = adamw_close(t2, t1, lr=0.01, steps=3)
            check(sorted(t1) == sorted(t2) and ok, f"{tag}: weights and AdamW's moments {what}")
        if tag == "sgd":
            init = read_safetensors(os.path.join(models[model], "model.safetensors"))
            same = [np.array_equal(init[k] == t1[k], init[k] == t2[k]) for k in init]
            check(all(same), "sgd: the entries the single process never changes (frozen chain 1, "
                  "blocks above the diagonal) are untouched on 2 ranks")
        if tag == "clipped":
            check("gradient buckets" in output and "2 ranks" in output,
                  "clipped: small buckets reported: " +
                  output.splitlines()[0][output.splitlines()[0].find("2 ranks"):])

    # Validation split between the ranks, and the reference backend.
    val = os.path.join(a.tmp, "val.txt")
    with open(text) as f, open(val, "w") as g:
        g.write(f.read()[:3000])
    flags = ["--batch", "4", "--val", val, "--eval-every", "1"]
    _, one_log, *_ = train("val-1p", models["air"], flags, steps=2)
    _, two_log, *_ = train("val-2r", models["air"], flags, ranks=2, steps=2)
    v1 = [x["val_ce"] for x in log(one_log)]
    v2 = [x["val_ce"] for x in log(two_log)]
    gap = max(abs(x[k] - y[k]) / x[k] for x, y in zip(v1, v2) for k in x)
    check(len(v2) == 2 and all(sorted(x) == sorted(y) for x, y in zip(v1, v2)) and gap < 1e-6,
          f"validation split between 2 ranks: every sub-model's loss within {gap:.1e}")
    flags = ["--batch", "4", "--backend", "reference", "--optimizer", "sgd", "--lr", "0.5"]
    one, one_log, *_ = train("ref-1p", models["air"], flags, steps=2)
    two, two_log, *_ = train("ref-2r", models["air"], flags, ranks=2, steps=2)
    w = worst(tensors(two), tensors(one))
    gap = max(abs(x["loss"] - y["loss"]) / x["loss"] for x, y in zip(log(one_log), log(two_log)))
    check(w < 1e-5 and gap < 1e-12,
          f"--backend reference on 2 ranks: losses within {gap:.1e}, weights within {w:.1e}")

    # Resume on another number of ranks.
    full, _, *_ = train("resume-full", models["colm"], ["--batch", "4", "--lr", "0.01"], steps=4)
    ref = tensors(full)
    part, *_ = train("resume-2to1", models["colm"], ["--batch", "4", "--lr", "0.01"], ranks=2, steps=2)
    train("", None, [], ranks=0, steps=4, resume=part)
    ok, what = adamw_close(tensors(part), ref, lr=0.01, steps=4)
    check(ok, f"resume: 2 ranks for 2 steps, then 1 process to 4: {what}")
    part, *_ = train("resume-1to2", models["colm"], ["--batch", "4", "--lr", "0.01"], steps=2)
    train("", None, [], ranks=2, steps=4, resume=part)
    ok, what = adamw_close(tensors(part), ref, lr=0.01, steps=4)
    check(ok, f"resume: 1 process for 2 steps, then 2 ranks to 4: {what}")

    # Failures: each stops the job with a message naming the rank; the
    # checkpoint of step 2 (--save-every 1) stays the good one.
    good, *_ = train("fault-ref", models["air"], ["--batch", "4"], ranks=2, steps=2)
    for fault, expect in (("nan", "the batch of rank 1 gave a non-finite loss"),
                          ("kill", "rank 1"),
                          ("hang", "rank 1 went silent")):
        env = dict(ENV, COLM_FAULT="1:3:" + fault)
        out, _, rc, output, seconds = train(
            "fault-" + fault, models["air"],
            ["--batch", "4", "--save-every", "1", "--collective-timeout", "3"],
            ranks=2, steps=4, env=env, expect_ok=False)
        errors = [l for l in output.splitlines() if l.startswith("error:") or "rank 1" in l]
        named = any(expect in l for l in output.splitlines())
        with open(os.path.join(out, "training_state.json")) as f:
            step = json.load(f).get("step")
        kept = step == 2 and worst(tensors(out), tensors(good), "model") == 0.0
        check(rc != 0 and named and seconds < 60,
              f"{fault}: the job stops (exit {rc}, {seconds:.0f} s) naming the rank: "
              + (errors[0] if errors else output[-300:]))
        check(kept, f"{fault}: the checkpoint of step 2 is intact (step {step})")
    one_error = sum(l.startswith("error:") for l in output.splitlines())
    check(one_error == 1, f"hang: one error message ({one_error})")

    if a.fake_driver and a.fake_nccl:
        gpu = dict(ENV, COLM_CUDA_DRIVER=a.fake_driver, COLM_CUDA_SIM_IMAGES="1",
                   COLM_NCCL=a.fake_nccl, COLM_CUDA_DEVICE="0")
        flags = ["--batch", "4", "--lr", "0.01", "--freeze-chains", "1", "--backend", "cuda"]
        one, one_log, *_ = train("gpu-1p", models["air"], flags, env=gpu)
        two, two_log, _, output, _ = train("gpu-2r", models["air"], flags, ranks=2, env=gpu)
        l1, l2 = log(one_log), log(two_log)
        loss = max(abs(x["loss"] - y["loss"]) / abs(x["loss"]) for x, y in zip(l1, l2))
        norm = max(abs(x["grad_norm"] - y["grad_norm"]) / x["grad_norm"] for x, y in zip(l1, l2))
        check("NCCL" in output and "AdamW's state sharded over the GPUs" in output and len(l2) == 3 and loss < 1e-6 and norm < 1e-5,
              f"gpu: --backend cuda on 2 ranks over (fake) NCCL: losses within {loss:.1e}, "
              f"gradient norms within {norm:.1e} of one process on the (fake) GPU")
        t1, t2 = tensors(one), tensors(two)
        ok, what = adamw_close(t2, t1, lr=0.01, steps=3)
        check(ok, f"gpu: weights and AdamW's moments {what}")
        init = read_safetensors(os.path.join(models["air"], "model.safetensors"))
        check(all(np.array_equal(init[k] == t1[k], init[k] == t2[k]) for k in init),
              "gpu: frozen chain 1 and the blocks above the diagonal untouched on 2 ranks")
        part, *_ = train("gpu-part", models["air"], flags, ranks=2, steps=2, env=gpu)
        train("", None, ["--backend", "cuda"], steps=3, resume=part, env=gpu)
        ok, what = adamw_close(tensors(part), t1, lr=0.01, steps=3)
        check(ok, f"gpu: 2 ranks for 2 steps, resumed in one process to 3: {what}")
        part, *_ = train("gpu-part1", models["air"], flags, steps=2, env=gpu)
        train("", None, ["--backend", "cuda"], ranks=2, steps=3, resume=part, env=gpu)
        ok, what = adamw_close(tensors(part), t1, lr=0.01, steps=3)
        check(ok, f"gpu: one process for 2 steps, resumed on 2 ranks to 3: {what}")
        out, _, rc, output, _ = train("gpu-nan", models["air"], flags, ranks=2, steps=3,
                                      env=dict(gpu, COLM_FAULT="1:2:nan"), expect_ok=False)
        errors = [l for l in output.splitlines() if l.startswith("error:")]
        check(rc != 0 and len(errors) == 1 and "the batch of rank 1" in errors[0],
              f"gpu: a rank's non-finite loss stops the job: {errors}")
        rc, output, _ = run([a.mpirun, "-np", "2", a.colm, "bench", "--config",
                             os.path.join(a.tmp, "air.json"), "--train", "--distributed",
                             "--backend", "cuda", "--batch", "2", "--seq", "8", "--steps", "1",
                             "--json"], env=gpu)
        lines = [l for l in output.splitlines() if l.startswith("{")]
        result = json.loads(lines[-1]).get("distributed", {}) if lines else {}
        check(result.get("scaling_efficiency", 0) > 0 and "NCCL" in output,
              "gpu: colm bench --train --distributed --backend cuda reports the efficiency")

    rc, output, _ = run([a.colm, "train", "--model", models["air"], "--data", text, "--steps", "1",
                         "--out", os.path.join(a.tmp, "x"), "--bucket-mb", "1"], expect_ok=False)
    check(rc != 0 and "--bucket-mb needs --distributed" in output,
          "--bucket-mb without --distributed is an error")
    rc, output, _ = run([a.mpirun, "-np", "2", a.colm, "train", "--model", models["air"], "--data",
                         text + ".missing", "--seq", "16", "--steps", "1", "--out", os.path.join(a.tmp, "y"),
                         "--distributed"], expect_ok=False)
    errors = [l for l in output.splitlines() if l.startswith("error:")]
    check(rc != 0 and len(errors) == 1 and ".missing" in errors[0],
          f"a setup error every rank hits is printed once: {errors}")
    rc, output, _ = run([a.mpirun, "-np", "3", a.colm, "train", "--model", models["air"], "--data",
                         text, "--seq", "16", "--steps", "1", "--batch", "2", "--out", os.path.join(a.tmp, "z"),
                         "--distributed"], expect_ok=False)
    errors = [l for l in output.splitlines() if l.startswith("error:")]
    check(rc != 0 and len(errors) == 1 and "rank 2" in errors[0] and "no rows" in errors[0],
          f"a setup error of one rank is printed once, by that rank: {errors}")

    rc, output, _ = run([a.mpirun, "-np", "2", a.colm, "bench", "--config",
                         os.path.join(a.tmp, "air.json"), "--train", "--distributed",
                         "--batch", "4", "--seq", "16", "--steps", "2", "--json"])
    lines = [l for l in output.splitlines() if l.startswith("{")]
    result = json.loads(lines[-1]).get("distributed", {}) if lines else {}
    check(result.get("ranks") == 2 and result.get("one_rank_tokens_per_second", 0) > 0 and
          result.get("tokens_per_second", 0) > 0 and result.get("scaling_efficiency", 0) > 0 and
          "scaling efficiency" in output and output.count("2 ranks:") == 1,
          "colm bench --train --distributed: one rank and 2 ranks in one run, "
          f"efficiency {result.get('scaling_efficiency', 0):.2f} (printed by rank 0 only)")

    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
