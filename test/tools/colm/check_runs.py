#!/usr/bin/python3
"""End-to-end checks of `colm train` runs that share, move or change things.

  check_runs.py --colm BIN --tmp DIR

- one writer per checkpoint directory: a second run exits at once naming the
  first (its pid); the lock dies with its process (kill -9);
- the data is identified by its contents: a resume from another working
  directory, or with the same data under another path, continues bit for bit;
  changed or missing data is refused with a message that says so;
- a resumed run may change --lr, --steps (a cosine schedule re-plans its
  tail), --log, --val and --eval-every, and prints what changed; what defines
  the data stream (--batch, --seq, --seed, ...) stays fixed;
- resuming a finished run exits 0 and says so.
Prints one line per check and "N passed, M failed".
"""

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

results = []


def check(ok, what):
    results.append(bool(ok))
    print(("PASS: " if ok else "FAIL: ") + what, flush=True)
    return ok


def run(colm, args, cwd=None, timeout=120):
    p = subprocess.run([colm] + args, cwd=cwd, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def same_files(a, b, names=("model.safetensors", "training_state.safetensors")):
    return all(open(os.path.join(a, n), "rb").read() == open(os.path.join(b, n), "rb").read()
               for n in names)


def log_rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--colm", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    colm, tmp = os.path.abspath(a.colm), os.path.abspath(a.tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    cfg = {"vocab_size": 256, "hidden_size": 32, "intermediate_size": 64,
           "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
           "chains": [2, 2], "kv_sharing": True}
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(cfg, f)
    text = "the quick brown fox jumps over the lazy dog. " * 40
    data = os.path.join(tmp, "data.txt")
    with open(data, "w") as f:
        f.write(text)
    model = os.path.join(tmp, "m")
    rc, out = run(colm, ["init", "--config", os.path.join(tmp, "config.json"), "--out", model])
    if not check(rc == 0, "init"):
        print(out)
        return 1
    small = ["--batch", "1", "--seq", "8"]

    # 1. One writer per directory.
    busy = os.path.join(tmp, "busy")
    first = subprocess.Popen([colm, "train", "--model", model, "--data", data,
                              "--steps", "1000000", "--batch", "4", "--seq", "32",
                              "--out", busy], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    lock = os.path.join(tmp, ".busy.lock")
    deadline = time.time() + 60
    while time.time() < deadline and not (
            os.path.exists(os.path.join(busy, "training_state.json")) and
            os.path.exists(lock) and "pid" in open(lock).read()):
        time.sleep(0.05)
    try:
        rc, out = run(colm, ["train", "--model", model, "--data", data, "--steps", "2",
                             "--out", busy, "--force"] + small)
        check(rc != 0 and f"is in use by pid {first.pid} (colm train" in out,
              "a second run into the same directory exits naming the first: " +
              out.strip()[-160:])
        rc, out = run(colm, ["train", "--resume", busy, "--steps", "3"])
        check(rc != 0 and f"pid {first.pid}" in out,
              "so does a resume of the directory the first run writes")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    rc, out = run(colm, ["train", "--resume", busy, "--steps", "1"])
    check(rc == 0, "the lock dies with its process: after kill -9 the run resumes")

    # 2. Data by contents. A whole run, and a run resumed from another
    # working directory with the same data under another path.
    whole = os.path.join(tmp, "whole")
    part = os.path.join(tmp, "part")
    common = ["--steps", "4", "--seed", "5", "--lr", "0.01"] + small
    rc, _ = run(colm, ["train", "--model", model, "--data", data, "--out", whole] + common)
    check(rc == 0, "the whole 4-step run")
    rc, _ = run(colm, ["train", "--model", "m", "--data", "data.txt", "--out", "part",
                       "--steps", "2", "--seed", "5", "--lr", "0.01"] + small, cwd=tmp)
    check(rc == 0, "the first half, with relative paths")
    elsewhere = os.path.join(tmp, "elsewhere")
    os.makedirs(elsewhere)
    rc, out = run(colm, ["train", "--resume", part, "--steps", "3"], cwd=elsewhere)
    check(rc == 0, "resuming from another working directory finds the data: " + out.strip()[-120:])
    moved = os.path.join(tmp, "moved.txt")
    os.rename(data, moved)
    rc, out = run(colm, ["train", "--resume", part, "--steps", "4"])
    check(rc != 0 and "is gone; give --data FILE" in out, "missing data is named: " + out.strip()[-120:])
    rc, out = run(colm, ["train", "--resume", part, "--steps", "4", "--data", moved])
    check(rc == 0 and "(the same contents)" in out and same_files(whole, part),
          "the same data under another path resumes bit for bit")
    with open(moved, "a") as f:
        f.write("changed")
    rc, out = run(colm, ["train", "--resume", part, "--steps", "6", "--data", moved])
    check(rc != 0 and "changed since the checkpoint" in out and "fingerprint" in out,
          "changed data is refused: " + out.strip()[-160:])
    other = os.path.join(tmp, "other.txt")
    with open(other, "w") as f:
        f.write(text[::-1])
    rc, out = run(colm, ["train", "--resume", part, "--steps", "6", "--data", other])
    check(rc != 0 and "is not the data of the run" in out, "other data is refused")
    with open(data, "w") as f:
        f.write(text)

    # 3. A resumed run may change its settings, and says what changed.
    log = os.path.join(tmp, "lr.jsonl")
    run_dir = os.path.join(tmp, "lr")
    rc, _ = run(colm, ["train", "--model", model, "--data", data, "--out", run_dir,
                       "--steps", "3", "--lr", "0.003", "--log", log] + small)
    check(rc == 0, "a constant-rate run")
    rc, out = run(colm, ["train", "--resume", run_dir, "--steps", "5", "--lr", "0.001",
                         "--val", data, "--eval-every", "1"])
    rows = log_rows(log)
    check(rc == 0 and "--lr 0.003 -> 0.001" in out and "--steps 3 -> 5" in out and
          "--eval-every 0 -> 1" in out, "the changes are printed: " + " | ".join(
              l.strip() for l in out.splitlines() if "->" in l))
    check([r["step"] for r in rows] == [1, 2, 3, 4, 5], "the run keeps logging to its --log")
    check([r["lr"] for r in rows] == [0.003] * 3 + [0.001] * 2, "the new --lr applies from the next step")
    check("val_ce" in rows[3] and "val_ce" not in rows[2], "--val and --eval-every apply from the next step")
    rc, out = run(colm, ["train", "--resume", run_dir, "--steps", "6", "--batch", "2"])
    check(rc != 0 and "--batch 2 differs from the checkpoint's 1" in out,
          "--batch stays fixed: " + out.strip()[-100:])
    rc, out = run(colm, ["train", "--resume", run_dir])
    check(rc == 0 and "is finished: it is at step 5 of 5" in out,
          "resuming a finished run exits 0 and says so")

    # A longer cosine schedule re-plans its tail: the rates after the resume
    # follow the cosine of the new --steps.
    cos = os.path.join(tmp, "cos")
    clog = os.path.join(tmp, "cos.jsonl")
    lr, warm = 0.004, 1
    rc, _ = run(colm, ["train", "--model", model, "--data", data, "--out", cos, "--steps", "4",
                       "--lr", str(lr), "--warmup", str(warm), "--schedule", "cosine",
                       "--log", clog] + small)
    rc2, out = run(colm, ["train", "--resume", cos, "--steps", "10"])
    rows = log_rows(clog)

    def cosine(t, total):
        if t <= warm:
            return lr * t / warm
        return lr * (1 + math.cos(math.pi * min(1.0, (t - warm) / (total - warm)))) / 2

    want = [cosine(t, 4) for t in range(1, 5)] + [cosine(t, 10) for t in range(5, 11)]
    got = [r["lr"] for r in rows]
    check(rc == 0 and rc2 == 0 and len(got) == 10 and
          all(abs(x - y) <= 1e-12 * lr for x, y in zip(got, want)),
          "a cosine run extended from 4 to 10 steps follows the 10-step cosine after step 4")
    check("the learning rate of step 5 is" in out, "and says where the rate goes")
    rc, out = run(colm, ["train", "--resume", cos, "--steps", "12"])
    rc2, out2 = run(colm, ["train", "--resume", cos, "--steps", "12"])
    check(rc == 0 and rc2 == 0 and "already at step 12" in out2, "a second extension works too")

    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
