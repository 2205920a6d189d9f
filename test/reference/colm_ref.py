#!/usr/bin/python3
"""Independent NumPy reference of the CoLM / CoLM-Air forward pass.

Written straight from docs/spec (shared/spec/colm.md), sections 1-3 and 6, using only
the Python standard library and NumPy. Everything is computed in float64.

Module API:
  read_safetensors(path) -> {name: np.ndarray}
  write_safetensors(path, tensors, dtype="F32")
  load_config(dir_or_file) -> dict with the defaults of spec section 6 filled in
  validate_config(config) / check_params(config, params)  (raise ValueError)
  forward(config, params, tokens, k=None) -> logits [T, V]
  make_config(chains, kv_sharing, gqa, ...) -> config dict
  random_params(config, seed) / random_model(config, seed, out_dir)
  load_model(dir) -> (config, params)

CLI:
  python3 colm_ref.py --model DIR --tokens 3,1,4,1 [--chains K] --out FILE.npy
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np

# ----------------------------------------------------------------------------
# safetensors
# ----------------------------------------------------------------------------

_DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2}


def read_safetensors(path):
    """Parses a safetensors file; returns {name: float64 array}. Raises ValueError."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: truncated (shorter than the 8-byte header length)")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    data = blob[8 + n :]
    out = {}
    ranges = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = info["dtype"]
        if dtype not in _DTYPE_SIZE:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {dtype}")
        shape = [int(s) for s in info["shape"]]
        begin, end = (int(o) for o in info["data_offsets"])
        count = int(np.prod(shape)) if shape else 1
        if not (0 <= begin <= end <= len(data)):
            raise ValueError(f"{path}: tensor {name}: data_offsets out of range")
        if end - begin != count * _DTYPE_SIZE[dtype]:
            raise ValueError(f"{path}: tensor {name}: byte size does not match shape")
        raw = data[begin:end]
        if dtype == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        elif dtype == "F16":
            arr = np.frombuffer(raw, dtype="<f2")
        else:  # BF16: the upper half of a float32
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view("<f4")
        out[name] = arr.astype(np.float64).reshape(shape)
        ranges.append((begin, end, name))
    ranges.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(ranges, ranges[1:]):
        if b1 < e0:
            raise ValueError(f"{path}: tensors {n0} and {n1} overlap")
    return out


def _encode(arr, dtype):
    a = np.ascontiguousarray(arr)
    if dtype == "F32":
        return a.astype("<f4").tobytes()
    if dtype == "F16":
        return a.astype("<f2").tobytes()
    if dtype == "BF16":  # round to nearest even
        u = a.astype("<f4").view("<u4").astype(np.uint64)
        u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
        return u.astype("<u2").tobytes()
    raise ValueError(f"unsupported dtype {dtype}")


def write_safetensors(path, tensors, dtype="F32", metadata=None):
    """Writes {name: array} as a valid safetensors file: sorted names, contiguous data,
    header padded with spaces to a multiple of 8 bytes."""
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        raw = _encode(arr, dtype)
        header[name] = {
            "dtype": dtype,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = dict(metadata)
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * ((-len(hbytes)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for c in chunks:
            f.write(c)


# ----------------------------------------------------------------------------
# config
# ----------------------------------------------------------------------------


def fill_defaults(raw):
    c = dict(raw)
    h = int(c["num_attention_heads"])
    c.setdefault("num_key_value_heads", h)
    c.setdefault("rms_norm_eps", 1e-5)
    c.setdefault("rope_theta", 10000.0)
    if c.get("chains") is None:
        c["chains"] = [h]
    c.setdefault("kv_sharing", False)
    c.setdefault("max_position_embeddings", 2048)
    return c


def validate_config(c):
    """Checks the rules of spec sections 1, 3 and 6; raises ValueError naming the field."""
    C = [int(x) for x in c["chains"]]
    if not C or any(x <= 0 for x in C):
        raise ValueError("chains: every ratio must be a positive integer")
    S = sum(C)
    D, F = c["hidden_size"], c["intermediate_size"]
    h, hkv = c["num_attention_heads"], c["num_key_value_heads"]
    if h != S:
        raise ValueError(f"num_attention_heads ({h}) must equal sum(chains) ({S})")
    if D % h:
        raise ValueError(f"hidden_size ({D}) is not divisible by num_attention_heads ({h})")
    hd = D // h
    if hd % 2:
        raise ValueError("head size must be even (RoPE)")
    dims = [("hidden_size", D), ("intermediate_size", F)]
    if not c["kv_sharing"]:
        dims.append(("num_key_value_heads", hkv))
    for field, X in dims:
        for i in range(1, len(C) + 1):
            if (X * sum(C[:i])) % S:
                raise ValueError(f"{field} ({X}) is not split exactly by chains {C}")
    if c["kv_sharing"]:
        if any(ci % hkv for ci in C):
            raise ValueError(f"num_key_value_heads ({hkv}) must divide every chain ratio {C}")


def load_config(path):
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    with open(path) as f:
        try:
            raw = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: malformed JSON: {e}")
    c = fill_defaults(raw)
    validate_config(c)
    return c


def dims(c):
    """Derived sizes of the full model."""
    C = list(c["chains"])
    S = sum(C)
    D = c["hidden_size"]
    h = c["num_attention_heads"]
    hd = D // h
    return dict(C=C, S=S, n=len(C), D=D, F=c["intermediate_size"], h=h,
                hkv=c["num_key_value_heads"], hd=hd, V=c["vocab_size"],
                L=c["num_hidden_layers"], D1=D * C[0] // S)


def bounds(X, C, k=None):
    """Chain boundaries of a dimension of size X: [0, X*S_1/S, ..., X*S_k/S]."""
    S = sum(C)
    k = len(C) if k is None else k
    return [X * sum(C[:i]) // S for i in range(k + 1)]


def param_shapes(c):
    """{name: (shape, kind)} with kind 'chain' (out_dim_size, in_dim_size) for chain linears,
    'dense', 'gain', 'embed' (columns split by chains)."""
    d = dims(c)
    D, F, h, hkv, hd, V = d["D"], d["F"], d["h"], d["hkv"], d["hd"], d["V"]
    s = {"model.embed_tokens.weight": ((V, D), "embed"),
         "model.norm.weight": ((D,), "gain"),
         "lm_head.weight": ((V, D), "embed")}
    for l in range(d["L"]):
        p = f"model.layers.{l}."
        s[p + "input_layernorm.weight"] = ((D,), "gain")
        s[p + "post_attention_layernorm.weight"] = ((D,), "gain")
        s[p + "self_attn.q_proj.weight"] = ((h * hd, D), "chain")
        if c["kv_sharing"]:
            s[p + "self_attn.k_proj.weight"] = ((hkv * hd, d["D1"]), "dense")
            s[p + "self_attn.v_proj.weight"] = ((hkv * hd, d["D1"]), "dense")
        else:
            s[p + "self_attn.k_proj.weight"] = ((hkv * hd, D), "chain")
            s[p + "self_attn.v_proj.weight"] = ((hkv * hd, D), "chain")
        s[p + "self_attn.o_proj.weight"] = ((D, h * hd), "chain")
        s[p + "mlp.gate_proj.weight"] = ((F, D), "chain")
        s[p + "mlp.up_proj.weight"] = ((F, D), "chain")
        s[p + "mlp.down_proj.weight"] = ((D, F), "chain")
    return s


def lower_mask(shape, C):
    """Boolean mask of the blocks (i, j) with j <= i of a chain linear [out, in]."""
    ob, ib = bounds(shape[0], C), bounds(shape[1], C)
    m = np.zeros(shape, dtype=bool)
    for i in range(len(C)):
        m[ob[i] : ob[i + 1], : ib[i + 1]] = True
    return m


def check_params(c, params):
    """Names, shapes and the zero-above-diagonal rule of spec section 6."""
    shapes = param_shapes(c)
    for name in params:
        if name not in shapes:
            raise ValueError(f"unexpected tensor {name}")
    for name, (shape, kind) in shapes.items():
        if name not in params:
            raise ValueError(f"missing tensor {name}")
        if tuple(params[name].shape) != tuple(shape):
            raise ValueError(f"tensor {name}: shape {list(params[name].shape)} != {list(shape)}")
        if kind == "chain":
            C = c["chains"]
            ob, ib = bounds(shape[0], C), bounds(shape[1], C)
            W = params[name]
            for i in range(len(C)):
                for j in range(i + 1, len(C)):
                    if np.any(W[ob[i] : ob[i + 1], ib[j] : ib[j + 1]] != 0):
                        raise ValueError(f"tensor {name}: non-zero block ({i}, {j}) above the chain diagonal")


def load_model(path):
    c = load_config(path)
    params = read_safetensors(os.path.join(path, "model.safetensors"))
    check_params(c, params)
    return c, params


# ----------------------------------------------------------------------------
# forward (vectorised: slice to the k-chain prefixes, then a plain LLaMA forward)
# ----------------------------------------------------------------------------


def chain_norm(x, g, b, eps):
    """RMSNorm with statistics per chain slice; b = chain boundaries of x's columns."""
    starts = np.asarray(b[:-1])
    widths = np.diff(b)
    ms = np.add.reduceat(x * x, starts, axis=1) / widths  # [T, k]
    scale = np.repeat(1.0 / np.sqrt(ms + eps), widths, axis=1)
    return x * scale * g


def rope_tables(T, hd, theta):
    inv_f = theta ** (-2.0 * np.arange(hd // 2) / hd)
    ang = np.arange(T)[:, None] * inv_f[None, :]  # [T, hd/2]
    ang = np.concatenate([ang, ang], axis=1)  # [T, hd]
    return np.cos(ang), np.sin(ang)


def rope(x, cos, sin):
    """x: [T, heads, hd]; HF LLaMA rotate_half convention."""
    half = x.shape[-1] // 2
    rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos[:, None, :] + rot * sin[:, None, :]


def silu(z):
    return z / (1.0 + np.exp(-z))


def forward(config, params, tokens, k=None, return_hidden=False, return_kv=False):
    """Logits [T, V] of the k-chain sub-model (k = n: the full model)."""
    c = config
    d = dims(c)
    C, S, n, hd = d["C"], d["S"], d["n"], d["hd"]
    k = n if k is None else int(k)
    if not 1 <= k <= n:
        raise ValueError(f"chains must be in 1..{n}")
    tokens = np.asarray(tokens, dtype=np.int64)
    if np.any(tokens < 0) or np.any(tokens >= d["V"]):
        raise ValueError("token id out of range")
    T = len(tokens)
    Sk = sum(C[:k])
    Dk = d["D"] * Sk // S
    Fk = d["F"] * Sk // S
    hk = d["h"] * Sk // S  # = Sk query heads
    Qk = hk * hd
    eps = float(c["rms_norm_eps"])
    bD = bounds(d["D"], C, k)
    if c["kv_sharing"]:
        nkv = d["hkv"]
        kv_of_head = np.arange(hk) % d["hkv"]
    else:
        nkv = d["hkv"] * Sk // S
        kv_of_head = (np.arange(hk) * d["hkv"]) // d["h"]
    KVk = nkv * hd
    cos, sin = rope_tables(T, hd, float(c["rope_theta"]))
    causal = np.tril(np.ones((T, T), dtype=bool))
    P = lambda name: params[name]

    x = P("model.embed_tokens.weight")[tokens, :Dk]
    kv_cache = []
    for l in range(d["L"]):
        p = f"model.layers.{l}."
        a = chain_norm(x, P(p + "input_layernorm.weight")[:Dk], bD, eps)
        q = a @ P(p + "self_attn.q_proj.weight")[:Qk, :Dk].T
        if c["kv_sharing"]:
            a1 = a[:, : d["D1"]]
            kk = a1 @ P(p + "self_attn.k_proj.weight").T
            vv = a1 @ P(p + "self_attn.v_proj.weight").T
        else:
            kk = a @ P(p + "self_attn.k_proj.weight")[:KVk, :Dk].T
            vv = a @ P(p + "self_attn.v_proj.weight")[:KVk, :Dk].T
        q = rope(q.reshape(T, hk, hd), cos, sin)
        kk = rope(kk.reshape(T, nkv, hd), cos, sin)
        vv = vv.reshape(T, nkv, hd)
        kv_cache.append((kk, vv))
        ke, ve = kk[:, kv_of_head], vv[:, kv_of_head]  # [T, hk, hd]
        scores = np.einsum("thd,shd->hts", q, ke) / math.sqrt(hd)
        scores = np.where(causal[None], scores, -np.inf)
        scores -= scores.max(axis=-1, keepdims=True)
        w = np.exp(scores)
        w /= w.sum(axis=-1, keepdims=True)
        attn = np.einsum("hts,shd->thd", w, ve).reshape(T, Qk)
        x = x + attn @ P(p + "self_attn.o_proj.weight")[:Dk, :Qk].T
        b = chain_norm(x, P(p + "post_attention_layernorm.weight")[:Dk], bD, eps)
        gate = b @ P(p + "mlp.gate_proj.weight")[:Fk, :Dk].T
        up = b @ P(p + "mlp.up_proj.weight")[:Fk, :Dk].T
        x = x + (silu(gate) * up) @ P(p + "mlp.down_proj.weight")[:Dk, :Fk].T
    x = chain_norm(x, P("model.norm.weight")[:Dk], bD, eps)
    logits = x @ P("lm_head.weight")[:, :Dk].T
    if return_hidden or return_kv:
        extra = {"hidden": x, "kv": kv_cache}
        return logits, extra
    return logits


# ----------------------------------------------------------------------------
# model construction helpers (tests)
# ----------------------------------------------------------------------------


def make_config(chains, kv_sharing=False, gqa=False, hd=8, vocab=48, layers=2,
                ffn_mult=3, hkv=None, eps=1e-5, theta=10000.0):
    """A tiny config. gqa=True picks the smallest legal num_key_value_heads < h."""
    C = list(chains)
    S = sum(C)
    h = S
    if hkv is None:
        if kv_sharing:
            # h_kv must divide every c_i
            g = 0
            for ci in C:
                g = math.gcd(g, ci)
            # Without GQA in CoLM-Air h_kv is as large as allowed (gcd); with GQA, 1.
            hkv = 1 if gqa else g
        else:
            if gqa:
                # smallest h_kv < h such that h_kv * S_i / S is an integer for all i
                hkv = next((x for x in range(1, h)
                            if all((x * sum(C[:i])) % S == 0 for i in range(1, len(C) + 1))), h)
            else:
                hkv = h
    return {
        "model_type": "colm",
        "vocab_size": vocab,
        "hidden_size": h * hd,
        "intermediate_size": ffn_mult * S * (hd // 2),  # a multiple of S: split exactly
        "num_hidden_layers": layers,
        "num_attention_heads": h,
        "num_key_value_heads": hkv,
        "rms_norm_eps": eps,
        "rope_theta": theta,
        "max_position_embeddings": 128,
        "chains": C,
        "kv_sharing": bool(kv_sharing),
    }


def random_params(config, seed, std=0.5):
    """Random weights: linears normal with std min(std, 1.5/sqrt(in)) so activations stay O(1)
    but every entry matters; exact zeros above the chain diagonal; gains uniform(0.6, 1.4);
    embeddings normal(0, 1)."""
    c = fill_defaults(config)
    validate_config(c)
    rng = np.random.default_rng(seed)
    out = {}
    for name, (shape, kind) in sorted(param_shapes(c).items()):
        if kind == "gain":
            w = rng.uniform(0.6, 1.4, size=shape)
        elif kind == "embed":
            w = rng.normal(0.0, 1.0 if "embed" in name else min(std, 1.5 / math.sqrt(shape[1])), size=shape)
        else:
            w = rng.normal(0.0, min(std, 1.5 / math.sqrt(shape[1])), size=shape)
            if kind == "chain":
                w = w * lower_mask(shape, c["chains"])
        # round to float32 so the file holds exactly what the reference computes with
        out[name] = w.astype(np.float32).astype(np.float64)
    return out


def write_model(out_dir, config, params, dtype="F32"):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), params, dtype=dtype)


def random_model(config, seed, out_dir=None, std=0.5, dtype="F32"):
    """Random params; when out_dir is given, also writes config.json + model.safetensors."""
    params = random_params(config, seed, std)
    if out_dir is not None:
        write_model(out_dir, config, params, dtype)
    return params


def higher_chain_mask(config, name, shape, kind, k):
    """Entries of parameter `name` that belong to chains > k (for the elasticity check):
    rows of output chains > k of chain linears (within the allowed blocks), columns of
    chains > k of embeddings / lm_head, and gain entries of chains > k. CoLM-Air's dense
    Wk/Wv belong to chain 1: never."""
    C = config["chains"]
    if kind == "dense":
        return np.zeros(shape, dtype=bool)
    if kind == "gain":
        m = np.zeros(shape, dtype=bool)
        m[bounds(shape[0], C)[k]:] = True
        return m
    if kind == "embed":
        m = np.zeros(shape, dtype=bool)
        m[:, bounds(shape[1], C)[k]:] = True
        return m
    m = lower_mask(shape, C)
    m[: bounds(shape[0], C)[k]] = False
    return m


def perturb_higher_chains(config, params, k, seed):
    c = fill_defaults(config)
    rng = np.random.default_rng(seed)
    out = {}
    for name, (shape, kind) in param_shapes(c).items():
        m = higher_chain_mask(c, name, shape, kind, k)
        w = params[name] + m * rng.normal(0.0, 1.0, size=shape)
        out[name] = w.astype(np.float32).astype(np.float64)
    return out


# ----------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("--chains", type=int, default=None)
    ap.add_argument("--out", required=True, help="output .npy (float64 [T, V])")
    args = ap.parse_args(argv)
    try:
        c, params = load_model(args.model)
        tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
        logits = forward(c, params, tokens, args.chains)
    except (ValueError, OSError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    np.save(args.out, logits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
