#!/usr/bin/python3
"""End-to-end check of `colm forward` (and `colm init`) against the NumPy reference.

  check_forward.py --colm PATH/TO/colm --tmp DIR

For every configuration of the matrix (layouts [1,1], [2,2], [1,1,2], [4]; CoLM and
CoLM-Air; with and without grouped-query attention where the spec allows it), a random
tiny model is written with test/reference/colm_ref.py, `colm forward` is run for every
--chains K (and once without --chains), and the logits must match the reference with
max|a-b| / max|b| <= 1e-4. Elasticity at the tool level: perturbing every parameter
entry of the chains above k leaves the k-chain logits identical. `colm init` output is
checked too. Prints one line per check, then "N passed, M failed"; exits 1 on failure.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "reference"))
import colm_ref as ref  # noqa: E402

TOL = 1e-4
T = 7

passed = 0
failed = 0


def report(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
    print(f"{'PASS' if ok else 'FAIL'}: {name}{(' ' + detail) if detail else ''}", flush=True)


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


class ColmError(Exception):
    pass


def run_colm(colm, args, timeout=300):
    try:
        p = subprocess.run([colm] + args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ColmError(f"timed out: colm {' '.join(args)}")
    except OSError as e:
        raise ColmError(f"cannot run {colm}: {e}")
    if p.returncode != 0:
        msg = (p.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        raise ColmError(f"exit {p.returncode}: colm {' '.join(args)}: {msg}")
    return p


def colm_forward(colm, model_dir, tokens, k, out_path):
    if os.path.exists(out_path):
        os.remove(out_path)
    args = ["forward", "--model", model_dir, "--tokens", ",".join(str(t) for t in tokens),
            "--logits-out", out_path]
    if k is not None:
        args += ["--chains", str(k)]
    run_colm(colm, args)
    try:
        a = np.load(out_path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise ColmError(f"cannot read {out_path}: {e}")
    return np.asarray(a, dtype=np.float64)


def label(c):
    kind = "air" if c["kv_sharing"] else "colm"
    ch = "-".join(str(x) for x in c["chains"])
    hd = c["hidden_size"] // c["num_attention_heads"]
    return f"{kind}[{ch}] h={c['num_attention_heads']} hkv={c['num_key_value_heads']} hd={hd} V={c['vocab_size']}"


def matrix():
    out = []
    i = 0
    for chains in ([1, 1], [2, 2], [1, 1, 2], [4]):
        for air in (False, True):
            seen = set()
            for gqa in (False, True):
                hd = 8 if i % 2 == 0 else 16
                vocab = 32 + (i * 7) % 33  # 32..64
                c = ref.make_config(chains, kv_sharing=air, gqa=gqa, hd=hd, vocab=vocab, layers=2)
                if c["num_key_value_heads"] in seen:
                    continue
                seen.add(c["num_key_value_heads"])
                out.append(c)
                i += 1
    return out


def check_model(colm, tmp, c, seed, dtype="F32", extra_label=""):
    name = f"m{seed}"
    mdir = os.path.join(tmp, name)
    params = ref.random_model(c, seed, mdir, dtype=dtype)
    cf = ref.fill_defaults(c)
    n = len(cf["chains"])
    rng = np.random.default_rng(seed)
    tokens = [int(t) for t in rng.integers(0, cf["vocab_size"], size=T)]
    tag = label(cf) + extra_label
    if dtype != "F32":  # the reference must use the values the file holds
        params = ref.read_safetensors(os.path.join(mdir, "model.safetensors"))
    outs = {}
    for k in list(range(1, n + 1)) + [None]:
        want = ref.forward(cf, params, tokens, k)
        kname = f"--chains {k}" if k is not None else "(no --chains)"
        try:
            got = colm_forward(colm, mdir, tokens, k, os.path.join(tmp, f"{name}_k{k}.npy"))
        except ColmError as e:
            report(False, f"forward {tag} {kname}", str(e))
            continue
        if got.shape != want.shape:
            report(False, f"forward {tag} {kname}", f"shape {got.shape} != {want.shape}")
            continue
        err = rel_err(got, want)
        report(bool(err <= TOL), f"forward {tag} {kname}", f"rel_err={err:.2e}")
        outs[k] = got
    return mdir, params, tokens, outs


def check_elastic(colm, tmp, c, seed, params, tokens, outs):
    """Perturb every entry of chains > k; colm's k-chain logits must not change at all."""
    cf = ref.fill_defaults(c)
    n = len(cf["chains"])
    tag = label(cf)
    for k in range(1, n):
        if k not in outs:
            report(False, f"elastic {tag} k={k}", "no unperturbed result to compare with")
            continue
        pp = ref.perturb_higher_chains(cf, params, k, seed + 1000 + k)
        pdir = os.path.join(tmp, f"m{seed}_perturbed{k}")
        ref.write_model(pdir, c, pp)
        try:
            got = colm_forward(colm, pdir, tokens, k, os.path.join(tmp, f"m{seed}_p{k}.npy"))
            full = colm_forward(colm, pdir, tokens, None, os.path.join(tmp, f"m{seed}_p{k}_full.npy"))
        except ColmError as e:
            report(False, f"elastic {tag} k={k}", str(e))
            continue
        same = got.shape == outs[k].shape and np.array_equal(got, outs[k])
        diff = float(np.max(np.abs(got - outs[k]))) if got.shape == outs[k].shape else float("nan")
        report(same, f"elastic {tag} k={k}: k-chain logits identical after perturbing chains > k",
               f"max_abs_diff={diff:.2e}")
        # and the perturbation is visible to the full model (the file really changed)
        want_full = ref.forward(cf, pp, tokens, n)
        err = rel_err(full, want_full)
        report(bool(err <= TOL) and rel_err(want_full, ref.forward(cf, params, tokens, n)) > 1e-3,
               f"elastic {tag} k={k}: perturbed full model matches reference", f"rel_err={err:.2e}")


def check_init(colm, tmp):
    cfg = ref.make_config([1, 1, 2], kv_sharing=False, gqa=False, hd=16, vocab=256, layers=2)
    cfg["intermediate_size"] = 128
    cfg_path = os.path.join(tmp, "init_config.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    out = os.path.join(tmp, "init_model")
    tag = f"init {label(cfg)}"
    try:
        run_colm(colm, ["init", "--config", cfg_path, "--out", out, "--seed", "1"])
    except ColmError as e:
        report(False, tag, str(e))
        return
    try:
        c, params = ref.load_model(out)  # names, shapes, zeros above the chain diagonal
        report(True, f"{tag}: loads in the reference, zero blocks above the diagonal")
    except Exception as e:  # noqa: BLE001
        report(False, f"{tag}: loads in the reference, zero blocks above the diagonal", str(e))
        return
    same_cfg = all(c[k] == v for k, v in cfg.items() if k != "model_type")
    report(same_cfg, f"{tag}: config.json round-trips")
    ok = True
    bad = []
    pooled = []
    for name, (shape, kind) in ref.param_shapes(c).items():
        w = params[name]
        if kind == "gain":
            if not np.all(w == 1.0):
                ok = False
                bad.append(f"{name} gains not 1")
            continue
        vals = w[ref.lower_mask(shape, c["chains"])] if kind == "chain" else w.ravel()
        pooled.append(vals)
        s = float(np.std(vals))
        if not (0.016 <= s <= 0.024) or abs(float(np.mean(vals))) > 0.004:
            ok = False
            bad.append(f"{name} std={s:.4f} mean={float(np.mean(vals)):.4f}")
    allv = np.concatenate(pooled)
    s = float(np.std(allv))
    ok = ok and 0.019 <= s <= 0.021
    report(ok, f"{tag}: weights ~ normal(0, 0.02), gains 1", f"pooled_std={s:.5f} " + "; ".join(bad[:3]))
    # a second init with the same seed is identical, a different seed differs
    out2 = os.path.join(tmp, "init_model_again")
    out3 = os.path.join(tmp, "init_model_seed2")
    try:
        run_colm(colm, ["init", "--config", cfg_path, "--out", out2, "--seed", "1"])
        run_colm(colm, ["init", "--config", cfg_path, "--out", out3, "--seed", "2"])
        p2 = ref.read_safetensors(os.path.join(out2, "model.safetensors"))
        p3 = ref.read_safetensors(os.path.join(out3, "model.safetensors"))
        det = all(np.array_equal(p2[k], params[k]) for k in params)
        differ = not np.array_equal(p3["lm_head.weight"], params["lm_head.weight"])
        report(det and differ, f"{tag}: deterministic per seed")
    except (ColmError, ValueError, OSError) as e:
        report(False, f"{tag}: deterministic per seed", str(e))
    # the initialised model runs and agrees with the reference
    tokens = [5, 17, 250, 3, 3, 99, 0]
    try:
        got = colm_forward(colm, out, tokens, 2, os.path.join(tmp, "init_k2.npy"))
        want = ref.forward(c, params, tokens, 2)
        err = rel_err(got, want)
        report(got.shape == want.shape and err <= TOL, f"{tag}: forward --chains 2 matches reference",
               f"rel_err={err:.2e}")
    except ColmError as e:
        report(False, f"{tag}: forward --chains 2 matches reference", str(e))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--colm", required=True, help="path to the colm binary")
    ap.add_argument("--tmp", required=True, help="scratch directory (recreated)")
    args = ap.parse_args()
    if os.path.exists(args.tmp):
        shutil.rmtree(args.tmp)
    os.makedirs(args.tmp)

    seed = 1
    for c in matrix():
        _, params, tokens, outs = check_model(args.colm, args.tmp, c, seed)
        check_elastic(args.colm, args.tmp, c, seed, params, tokens, outs)
        seed += 1
    # half-precision files (spec section 6 accepts F16 and BF16)
    check_model(args.colm, args.tmp, ref.make_config([1, 1, 2], kv_sharing=True, hd=8, vocab=40),
                seed, dtype="F16", extra_label=" F16")
    seed += 1
    check_model(args.colm, args.tmp, ref.make_config([2, 2], gqa=True, hd=16, vocab=64),
                seed, dtype="BF16", extra_label=" BF16")
    seed += 1
    # a plain LLaMA config (no chains, no kv_sharing, no num_key_value_heads) is a one-chain CoLM
    llama = ref.make_config([4], hd=8, vocab=50)
    for key in ("chains", "kv_sharing", "num_key_value_heads", "rms_norm_eps", "rope_theta"):
        del llama[key]
    llama["model_type"] = "llama"
    check_model(args.colm, args.tmp, llama, seed, extra_label=" llama-config")
    seed += 1

    check_init(args.colm, args.tmp)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
