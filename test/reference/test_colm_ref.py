#!/usr/bin/python3
"""Self-checks of colm_ref.py.

Compares the vectorised forward against a deliberately naive second implementation
(explicit per-chain Chain-of-Linear loops as the paper writes them, per-head and
per-position attention loops, per-pair RoPE) and checks the chain properties of the
spec. Run: python3 test_colm_ref.py   (last line: "N passed, 0 failed").
"""

import json
import math
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import colm_ref as ref  # noqa: E402

# ----------------------------------------------------------------------------
# naive implementation (independent of colm_ref's forward helpers)
# ----------------------------------------------------------------------------


def naive_cuts(X, C):
    """Chain i (0-based) owns [cuts[i], cuts[i+1]) of a dimension of size X."""
    S = sum(C)
    cuts = [0]
    acc = 0
    for ci in C:
        acc += ci
        assert (X * acc) % S == 0
        cuts.append(X * acc // S)
    return cuts


def naive_chain_linear(x, W, C, k):
    """Chain-of-Linear: output chain i = x[:, :in_prefix_i] @ W_i[:, :in_prefix_i]^T, i < k."""
    oc = naive_cuts(W.shape[0], C)
    ic = naive_cuts(W.shape[1], C)
    y = np.zeros((x.shape[0], oc[k]))
    for i in range(k):
        ip = ic[i + 1]
        y[:, oc[i] : oc[i + 1]] = x[:, :ip] @ W[oc[i] : oc[i + 1], :ip].T
    return y


def naive_chain_norm(x, g, C, D, k, eps):
    cuts = naive_cuts(D, C)
    y = np.zeros_like(x)
    for t in range(x.shape[0]):
        for i in range(k):
            s = slice(cuts[i], cuts[i + 1])
            seg = x[t, s]
            ms = sum(float(v) * float(v) for v in seg) / len(seg)
            y[t, s] = seg / math.sqrt(ms + eps) * g[s]
    return y


def naive_rope(vec, pos, theta):
    hd = len(vec)
    half = hd // 2
    out = np.zeros(hd)
    for m in range(half):
        ang = pos * theta ** (-2.0 * m / hd)
        c, s = math.cos(ang), math.sin(ang)
        a, b = vec[m], vec[m + half]
        out[m] = a * c - b * s
        out[m + half] = b * c + a * s
    return out


def naive_forward(c, P, tokens, k=None, kv_in=None):
    """Returns (logits, final hidden, per-layer [(K, V)] with K/V as [T, n_kv_heads, hd])."""
    C = list(c["chains"])
    n = len(C)
    k = n if k is None else k
    S = sum(C)
    D, F = c["hidden_size"], c["intermediate_size"]
    h, hkv = c["num_attention_heads"], c["num_key_value_heads"]
    hd = D // h
    eps, theta = c["rms_norm_eps"], c["rope_theta"]
    Dk = naive_cuts(D, C)[k]
    D1 = naive_cuts(D, C)[1]
    hk = sum(C[:k])  # query heads of the sub-model (chain i owns c_i heads)
    T = len(tokens)
    x = np.array([P["model.embed_tokens.weight"][t, :Dk] for t in tokens])
    caches = []
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        a = naive_chain_norm(x, P[p + "input_layernorm.weight"], C, D, k, eps)
        q = naive_chain_linear(a, P[p + "self_attn.q_proj.weight"], C, k)
        if c["kv_sharing"]:
            kk = a[:, :D1] @ P[p + "self_attn.k_proj.weight"].T
            vv = a[:, :D1] @ P[p + "self_attn.v_proj.weight"].T
        else:
            kk = naive_chain_linear(a, P[p + "self_attn.k_proj.weight"], C, k)
            vv = naive_chain_linear(a, P[p + "self_attn.v_proj.weight"], C, k)
        nkv = kk.shape[1] // hd
        K = np.zeros((T, nkv, hd))
        Vh = np.zeros((T, nkv, hd))
        for t in range(T):
            for g in range(nkv):
                K[t, g] = naive_rope(kk[t, g * hd : (g + 1) * hd], t, theta)
                Vh[t, g] = vv[t, g * hd : (g + 1) * hd]
        if kv_in is not None:
            K, Vh = kv_in[l]
        caches.append((K, Vh))
        attn = np.zeros((T, hk * hd))
        for j in range(hk):
            g = (j % hkv) if c["kv_sharing"] else (j * hkv) // h
            for t in range(T):
                qj = naive_rope(q[t, j * hd : (j + 1) * hd], t, theta)
                sc = [float(np.dot(qj, K[s, g])) / math.sqrt(hd) for s in range(t + 1)]
                mx = max(sc)
                e = [math.exp(v - mx) for v in sc]
                z = sum(e)
                o = np.zeros(hd)
                for s in range(t + 1):
                    o += (e[s] / z) * Vh[s, g]
                attn[t, j * hd : (j + 1) * hd] = o
        x = x + naive_chain_linear(attn, P[p + "self_attn.o_proj.weight"], C, k)
        b = naive_chain_norm(x, P[p + "post_attention_layernorm.weight"], C, D, k, eps)
        gate = naive_chain_linear(b, P[p + "mlp.gate_proj.weight"], C, k)
        up = naive_chain_linear(b, P[p + "mlp.up_proj.weight"], C, k)
        act = np.array([[gv / (1.0 + math.exp(-gv)) for gv in row] for row in gate]) * up
        x = x + naive_chain_linear(act, P[p + "mlp.down_proj.weight"], C, k)
    x = naive_chain_norm(x, P["model.norm.weight"], C, D, k, eps)
    E = P["lm_head.weight"]
    logits = np.zeros((T, E.shape[0]))
    for t in range(T):
        for v in range(E.shape[0]):
            logits[t, v] = sum(x[t, d] * E[v, d] for d in range(Dk))
    return logits, x, caches


# ----------------------------------------------------------------------------
# checks
# ----------------------------------------------------------------------------

PASSED = 0
FAILED = 0


def check(name, ok, detail=""):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"PASS {name}")
    else:
        FAILED += 1
        print(f"FAIL {name} {detail}")


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def configs():
    out = []
    for chains in ([1, 1], [2, 2], [1, 1, 2], [4]):
        for air in (False, True):
            seen = set()
            for gqa in (False, True):
                c = ref.make_config(chains, kv_sharing=air, gqa=gqa, hd=8, vocab=40)
                key = c["num_key_value_heads"]
                if key in seen:
                    continue
                seen.add(key)
                out.append(c)
    # the brief's explicit GQA case: CoLM [2,2] h=4 h_kv=2 (already above); and hd 16
    out.append(ref.make_config([1, 1, 2], kv_sharing=False, hd=16, vocab=33, layers=1))
    out.append(ref.make_config([2, 2, 4], kv_sharing=False, gqa=True, hd=4, vocab=50))  # h=8, h_kv=4
    out.append(ref.make_config([2, 2, 4], kv_sharing=True, hd=4, vocab=50))  # h=8, h_kv=2 tiled
    return out


def label(c):
    kind = "air" if c["kv_sharing"] else "colm"
    return f"{kind}{c['chains']}h{c['num_attention_heads']}kv{c['num_key_value_heads']}hd{c['hidden_size'] // c['num_attention_heads']}"


def test_model(c, seed):
    c = ref.fill_defaults(c)
    P = ref.random_params(c, seed)
    ref.check_params(c, P)
    n = len(c["chains"])
    rng = np.random.default_rng(seed + 100)
    T = 6
    tokens = [int(t) for t in rng.integers(0, c["vocab_size"], size=T)]
    full_logits, full_hidden, full_kv = naive_forward(c, P, tokens)
    D = c["hidden_size"]
    hd = D // c["num_attention_heads"]
    for k in range(1, n + 1):
        tag = f"{label(c)} k={k}"
        Lv, extra = ref.forward(c, P, tokens, k, return_hidden=True)
        Ln, Hn, KVn = naive_forward(c, P, tokens, k)
        check(f"vectorised==naive {tag}", rel(Lv, Ln) < 1e-12, f"rel={rel(Lv, Ln):.3g}")
        check(f"logits not degenerate {tag}", np.std(Lv) > 0.1 and np.all(np.isfinite(Lv)),
              f"std={np.std(Lv):.3g}")
        Dk = ref.bounds(D, c["chains"])[k]
        # causal rule: the sub-model's final hidden = prefix of the full model's
        check(f"hidden prefix of full model {tag}",
              rel(extra["hidden"], full_hidden[:, :Dk]) < 1e-12)
        # KV caches
        for l, ((Kv, Vv), (Kn, Vn), (Kf, Vf)) in enumerate(zip(extra["kv"], KVn, full_kv)):
            ok = rel(Kv, Kn) < 1e-12 and rel(Vv, Vn) < 1e-12
            if c["kv_sharing"]:
                # every sub-model shares the one (chain-1) cache
                ok = ok and rel(Kn, Kf) < 1e-12 and rel(Vn, Vf) < 1e-12
            else:
                nkv = Kn.shape[1]
                ok = ok and nkv == c["num_key_value_heads"] * sum(c["chains"][:k]) // sum(c["chains"])
                ok = ok and rel(Kn, Kf[:, :nkv]) < 1e-12 and rel(Vn, Vf[:, :nkv]) < 1e-12
            check(f"kv cache layer {l} {tag}", ok)
        # chains > k never influence the k-chain model
        if k < n:
            Pp = ref.perturb_higher_chains(c, P, k, seed + 7)
            ref.check_params(c, Pp)
            Lp = ref.forward(c, Pp, tokens, k)
            _, Hp, _ = naive_forward(c, Pp, tokens)
            check(f"perturb chains>k: k-logits unchanged {tag}", np.array_equal(Lp, Lv))
            check(f"perturb chains>k: full-model hidden prefix unchanged {tag}",
                  rel(Hp[:, :Dk], extra["hidden"]) < 1e-12)
            Lfull_p = ref.forward(c, Pp, tokens, n)
            check(f"perturb chains>k: full logits do change {tag}", rel(Lfull_p, full_logits) > 1e-3)
        # causality in time: the last token doesn't affect earlier positions
        t2 = list(tokens)
        t2[-1] = (t2[-1] + 1) % c["vocab_size"]
        L2 = ref.forward(c, P, t2, k)
        check(f"causal in time {tag}", rel(L2[:-1], Lv[:-1]) < 1e-12 and rel(L2[-1:], Lv[-1:]) > 1e-6)
    if c["kv_sharing"]:
        # CoLM-Air prefill: only chain 1's k/v matter. Perturb everything of chains >= 2 that
        # could feed k/v in a wrong implementation (q/o/ffn rows of chains >= 2, their gains
        # and embedding columns), and the full model with the chain-1 cache gives the same logits.
        _, _, kv1 = naive_forward(c, P, tokens, 1)
        Lc, _, _ = naive_forward(c, P, tokens, n, kv_in=kv1)
        check(f"air: full model on chain-1 KV cache == full model {label(c)}", rel(Lc, full_logits) < 1e-12)
        if n > 1:
            Pp = ref.perturb_higher_chains(c, P, 1, seed + 9)
            _, ex = ref.forward(c, Pp, tokens, n, return_kv=True)
            ok = all(rel(K2, K1) < 1e-12 and rel(V2, V1) < 1e-12 for (K2, V2), (K1, V1) in zip(ex["kv"], kv1))
            check(f"air: k/v depend on chain 1 only {label(c)}", ok)
    else:
        # CoLM: the KV head count of the sub-model follows h_kv*c_i/h per chain
        pass


def test_io():
    with tempfile.TemporaryDirectory() as d:
        rng = np.random.default_rng(3)
        t = {"b": rng.normal(size=(3, 5)), "a": rng.normal(size=(7,)), "s": np.array(2.5)}
        for dtype, tol in (("F32", 1e-7), ("F16", 1e-3), ("BF16", 8e-3)):
            path = os.path.join(d, f"x_{dtype}.safetensors")
            ref.write_safetensors(path, t, dtype=dtype)
            with open(path, "rb") as f:
                blob = f.read()
            n = int.from_bytes(blob[:8], "little")
            hdr = json.loads(blob[8 : 8 + n])
            ok = n % 8 == 0 and list(hdr) == sorted(hdr)
            r = ref.read_safetensors(path)
            ok = ok and all(r[k].shape == np.shape(t[k]) and rel(r[k], t[k]) < tol for k in t)
            check(f"safetensors round trip {dtype}", ok)
        # BF16 decoding of known bit patterns: 0x3F80 = 1.0, 0xC040 = -3.0, 0x3E20 = 0.15625
        path = os.path.join(d, "bf.safetensors")
        raw = np.array([0x3F80, 0xC040, 0x3E20], dtype="<u2").tobytes()
        hdr = json.dumps({"w": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}).encode()
        hdr += b" " * ((-len(hdr)) % 8)
        with open(path, "wb") as f:
            f.write(len(hdr).to_bytes(8, "little") + hdr + raw)
        check("bf16 decode", np.array_equal(ref.read_safetensors(path)["w"], [1.0, -3.0, 0.15625]))
        # config defaults (section 6)
        cfgp = os.path.join(d, "config.json")
        with open(cfgp, "w") as f:
            json.dump({"model_type": "llama", "vocab_size": 10, "hidden_size": 16, "intermediate_size": 24,
                       "num_hidden_layers": 1, "num_attention_heads": 2}, f)
        c = ref.load_config(d)
        check("config defaults", c["num_key_value_heads"] == 2 and c["rms_norm_eps"] == 1e-5
              and c["rope_theta"] == 10000 and c["chains"] == [2] and c["kv_sharing"] is False)
        bad = dict(ref.make_config([1, 1, 2]), intermediate_size=30)
        try:
            ref.validate_config(bad)
            check("config rejects F not split by chains", False)
        except ValueError as e:
            check("config rejects F not split by chains", "intermediate_size" in str(e))
        # zero-above-diagonal rule
        c = ref.make_config([1, 1])
        P = ref.random_params(c, 1)
        P["model.layers.0.mlp.up_proj.weight"][0, -1] = 0.5
        try:
            ref.check_params(ref.fill_defaults(c), P)
            check("check_params rejects upper block", False)
        except ValueError as e:
            check("check_params rejects upper block", "up_proj" in str(e) and "block" in str(e))
        # CLI
        md = os.path.join(d, "m")
        c = ref.make_config([1, 1, 2], kv_sharing=True)
        P = ref.random_model(c, 5, md)
        outp = os.path.join(d, "o.npy")
        rc = ref.main(["--model", md, "--tokens", "3,1,4,1", "--chains", "2", "--out", outp])
        check("cli", rc == 0 and rel(np.load(outp), ref.forward(ref.fill_defaults(c), P, [3, 1, 4, 1], 2)) == 0)


def main():
    test_io()
    for i, c in enumerate(configs()):
        test_model(c, 10 + i)
    print(f"{PASSED} passed, {FAILED} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
