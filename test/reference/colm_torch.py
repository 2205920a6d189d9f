"""PyTorch (float64, autograd) version of the spec's forward pass, for checking
training: gradients come from torch.autograd, optimizers from torch.optim.

Written from spec/colm.md section 3 like colm_ref.py, with torch ops, so the
training checks do not depend on the C++ autodiff being right.
"""
import math

import torch

import colm_ref


def chain_norm(x, g, b, eps):
    parts = []
    for i in range(len(b) - 1):
        s = x[:, b[i]:b[i + 1]]
        parts.append(s / torch.sqrt((s * s).mean(dim=1, keepdim=True) + eps))
    return torch.cat(parts, dim=1) * g


def rope(x, T, hd, theta):
    inv_f = theta ** (-2.0 * torch.arange(hd // 2, dtype=torch.float64) / hd)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_f[None, :]
    ang = torch.cat([ang, ang], dim=1)
    cos, sin = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    half = hd // 2
    rot = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rot * sin


def forward(config, P, tokens, k):
    """Logits [T, V] of the k-chain sub-model; P: name -> float64 tensor."""
    c = colm_ref.fill_defaults(config)
    d = colm_ref.dims(c)
    C, S, hd = d["C"], d["S"], d["hd"]
    T = len(tokens)
    Sk = sum(C[:k])
    Dk, Fk, hk = d["D"] * Sk // S, d["F"] * Sk // S, d["h"] * Sk // S
    Qk = hk * hd
    eps, theta = float(c["rms_norm_eps"]), float(c["rope_theta"])
    bD = colm_ref.bounds(d["D"], C, k)
    if c["kv_sharing"]:
        nkv = d["hkv"]
        kv_of_head = [j % d["hkv"] for j in range(hk)]
    else:
        nkv = d["hkv"] * Sk // S
        kv_of_head = [j * d["hkv"] // d["h"] for j in range(hk)]
    KVk = nkv * hd
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    x = P["model.embed_tokens.weight"][torch.tensor(tokens), :Dk]
    for l in range(d["L"]):
        p = f"model.layers.{l}."
        a = chain_norm(x, P[p + "input_layernorm.weight"][:Dk], bD, eps)
        q = a @ P[p + "self_attn.q_proj.weight"][:Qk, :Dk].T
        if c["kv_sharing"]:
            a1 = a[:, : d["D1"]]
            kk = a1 @ P[p + "self_attn.k_proj.weight"].T
            vv = a1 @ P[p + "self_attn.v_proj.weight"].T
        else:
            kk = a @ P[p + "self_attn.k_proj.weight"][:KVk, :Dk].T
            vv = a @ P[p + "self_attn.v_proj.weight"][:KVk, :Dk].T
        q = rope(q.reshape(T, hk, hd), T, hd, theta)
        kk = rope(kk.reshape(T, nkv, hd), T, hd, theta)
        vv = vv.reshape(T, nkv, hd)
        ke, ve = kk[:, kv_of_head], vv[:, kv_of_head]
        scores = torch.einsum("thd,shd->hts", q, ke) / math.sqrt(hd)
        scores = scores.masked_fill(~causal[None], float("-inf"))
        w = torch.softmax(scores, dim=-1)
        attn = torch.einsum("hts,shd->thd", w, ve).reshape(T, Qk)
        x = x + attn @ P[p + "self_attn.o_proj.weight"][:Dk, :Qk].T
        b = chain_norm(x, P[p + "post_attention_layernorm.weight"][:Dk], bD, eps)
        gate = b @ P[p + "mlp.gate_proj.weight"][:Fk, :Dk].T
        up = b @ P[p + "mlp.up_proj.weight"][:Fk, :Dk].T
        x = x + (torch.nn.functional.silu(gate) * up) @ P[p + "mlp.down_proj.weight"][:Dk, :Fk].T
    x = chain_norm(x, P["model.norm.weight"][:Dk], bD, eps)
    return x @ P["lm_head.weight"][:, :Dk].T


def chain_loss(config, P, batch, weights):
    """sum_k w_k * mean cross-entropy of the k-chain sub-model over the batch."""
    total = 0.0
    for k, w in enumerate(weights, start=1):
        if w == 0:
            continue
        ce = 0.0
        for inputs, targets in batch:
            logits = forward(config, P, inputs, k)
            ce = ce + torch.nn.functional.cross_entropy(logits, torch.tensor(targets))
        total = total + w * ce / len(batch)
    return total
