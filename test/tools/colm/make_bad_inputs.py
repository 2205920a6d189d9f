#!/usr/bin/python3
"""Writes a valid tiny CoLM model and broken variants of it, for bad-inputs.test.

  make_bad_inputs.py DIR

DIR/good               valid: chains [1,1], D=16, h=2, hd=8, F=24, V=32, 2 layers
DIR/truncated          model.safetensors cut short in the middle of the tensor data
DIR/header_past_end    8-byte header length points past the end of the file
DIR/overlap            two tensors share the same data_offsets
DIR/out_of_range       a tensor's data_offsets lie past the end of the data
DIR/bad_dtype          a tensor with dtype "I64"
DIR/wrong_shape        model.layers.0.mlp.up_proj.weight stored as [D, F] instead of [F, D]
DIR/missing_tensor     lm_head.weight absent
DIR/unexpected_tensor  an extra tensor model.layers.0.self_attn.extra_proj.weight
DIR/nonzero_upper      model.layers.1.self_attn.q_proj.weight non-zero above the chain diagonal
DIR/bad_divide         chains [1,1,2] with intermediate_size 30 (not split exactly)
DIR/bad_json           config.json is not valid JSON
DIR/nan_weight         a NaN in model.layers.1.mlp.down_proj.weight (a diverged run)
DIR/inf_weight         an Inf in model.embed_tokens.weight
DIR/fifo_config        config.json is a FIFO (reading it must not block)
"""

import json
import os
import shutil
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "reference"))
import colm_ref as ref  # noqa: E402

ST = "model.safetensors"


def split(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def join(path, header, data):
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def variant(root, name, config=None):
    """Copies DIR/good to DIR/name; optionally replaces the config. Returns the path."""
    d = os.path.join(root, name)
    if os.path.exists(d):
        shutil.rmtree(d)
    shutil.copytree(os.path.join(root, "good"), d)
    if config is not None:
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
    return d


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = sys.argv[1]
    os.makedirs(root, exist_ok=True)
    cfg = ref.make_config([1, 1], kv_sharing=False, hd=8, vocab=32, layers=2)
    good = os.path.join(root, "good")
    params = ref.random_model(cfg, 1, good)
    goodst = os.path.join(good, ST)

    # truncated: cut in the middle of the data
    d = variant(root, "truncated")
    with open(goodst, "rb") as f:
        blob = f.read()
    with open(os.path.join(d, ST), "wb") as f:
        f.write(blob[: len(blob) - 101])

    # header length past the end of the file
    d = variant(root, "header_past_end")
    with open(os.path.join(d, ST), "wb") as f:
        f.write(struct.pack("<Q", len(blob) + 1000) + blob[8:])

    header, data = split(goodst)

    # overlapping offsets: post_attention_layernorm aliases input_layernorm (same size)
    d = variant(root, "overlap")
    h = json.loads(json.dumps(header))
    a = "model.layers.0.input_layernorm.weight"
    b = "model.layers.0.post_attention_layernorm.weight"
    h[b]["data_offsets"] = list(h[a]["data_offsets"])
    join(os.path.join(d, ST), h, data)

    # out-of-range offsets: the tensor stored last now points past the end of the data
    d = variant(root, "out_of_range")
    h = json.loads(json.dumps(header))
    last = max((k for k in h if k != "__metadata__"), key=lambda k: h[k]["data_offsets"][1])
    size = h[last]["data_offsets"][1] - h[last]["data_offsets"][0]
    h[last]["data_offsets"] = [len(data) + 64, len(data) + 64 + size]
    join(os.path.join(d, ST), h, data)

    # wrong dtype
    d = variant(root, "bad_dtype")
    h = json.loads(json.dumps(header))
    h["model.norm.weight"]["dtype"] = "I64"
    join(os.path.join(d, ST), h, data)

    # wrong shape (same element count, so only the shape is wrong)
    d = variant(root, "wrong_shape")
    p = dict(params)
    p["model.layers.0.mlp.up_proj.weight"] = params["model.layers.0.mlp.up_proj.weight"].T.copy()
    ref.write_safetensors(os.path.join(d, ST), p)

    # missing tensor
    d = variant(root, "missing_tensor")
    p = {k: v for k, v in params.items() if k != "lm_head.weight"}
    ref.write_safetensors(os.path.join(d, ST), p)

    # unexpected tensor
    d = variant(root, "unexpected_tensor")
    p = dict(params)
    p["model.layers.0.self_attn.extra_proj.weight"] = np.ones((16, 16))
    ref.write_safetensors(os.path.join(d, ST), p)

    # non-zero entry in block (chain 1 rows, chain 2 columns) of a chain linear
    d = variant(root, "nonzero_upper")
    p = dict(params)
    w = params["model.layers.1.self_attn.q_proj.weight"].copy()
    w[0, cfg["hidden_size"] - 1] = 0.25
    p["model.layers.1.self_attn.q_proj.weight"] = w
    ref.write_safetensors(os.path.join(d, ST), p)

    # chains that don't divide intermediate_size: [1,1,2] (S=4) with F=30.
    # The tensors have the matching shapes and all-zero FFN weights, so only the config is wrong.
    bad_cfg = ref.make_config([1, 1, 2], kv_sharing=False, hd=8, vocab=32, layers=1)
    ok_params = ref.random_params(bad_cfg, 2)
    bad_cfg["intermediate_size"] = 30
    D = bad_cfg["hidden_size"]
    ok_params["model.layers.0.mlp.gate_proj.weight"] = np.zeros((30, D))
    ok_params["model.layers.0.mlp.up_proj.weight"] = np.zeros((30, D))
    ok_params["model.layers.0.mlp.down_proj.weight"] = np.zeros((D, 30))
    d = os.path.join(root, "bad_divide")
    ref.write_model(d, bad_cfg, ok_params)

    # non-finite weights (below the chain diagonal, where a value is allowed)
    d = variant(root, "nan_weight")
    p = dict(params)
    w = params["model.layers.1.mlp.down_proj.weight"].copy()
    w[3, 0] = np.nan
    p["model.layers.1.mlp.down_proj.weight"] = w
    ref.write_safetensors(os.path.join(d, ST), p)
    d = variant(root, "inf_weight")
    p = dict(params)
    w = params["model.embed_tokens.weight"].copy()
    w[5, 2] = np.inf
    p["model.embed_tokens.weight"] = w
    ref.write_safetensors(os.path.join(d, ST), p)

    # config.json that is not a regular file
    d = variant(root, "fifo_config")
    os.remove(os.path.join(d, "config.json"))
    os.mkfifo(os.path.join(d, "config.json"))

    # malformed config JSON
    d = variant(root, "bad_json")
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write('{\n  "vocab_size": 32,\n  "hidden_size": 16,\n  "chains": [1, 1\n')

    return 0


if __name__ == "__main__":
    sys.exit(main())
