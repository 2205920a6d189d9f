"""The GPU yardsticks of tools/gpu-check.sh, measured with PyTorch (cuBLAS and
its FlashAttention-class SDPA) on the GPU machine: the dense bf16 GEMM rate on
bench-gpu's linear shapes (spec/bench.md: 8 x 2048 tokens, hidden 2048,
intermediate 5632, 32 heads of 64, 8 KV heads, vocabulary 32000) and causal
attention's TFLOP/s, each the median of timed repeats after warm-ups, inputs
larger than L2.

Usage: anchor.py --json FILE
"""
import argparse
import json

import torch


def timed(fn, repeat=20, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    dev = torch.device("cuda")
    tokens, hidden, inter, vocab = 16384, 2048, 5632, 32000
    kv = 512  # 8 KV heads of 64
    shapes = {
        "q_proj": (tokens, hidden, hidden),
        "k_proj": (tokens, kv, hidden),
        "v_proj": (tokens, kv, hidden),
        "o_proj": (tokens, hidden, hidden),
        "gate_proj": (tokens, inter, hidden),
        "up_proj": (tokens, inter, hidden),
        "down_proj": (tokens, hidden, inter),
        "lm_head": (tokens, vocab, hidden),
    }
    out = {"device": torch.cuda.get_device_name(0), "gemm": {}}
    total_flops = total_time = 0.0
    for name, (m, n, k) in shapes.items():
        x = torch.randn(m, k, device=dev, dtype=torch.bfloat16)
        w = torch.randn(n, k, device=dev, dtype=torch.bfloat16)
        t = timed(lambda: x @ w.t())
        flops = 2.0 * m * n * k
        out["gemm"][name] = {"m": m, "n": n, "k": k, "seconds": t,
                             "tflops": flops / t / 1e12}
        total_flops += flops
        total_time += t
        print(f"cuBLAS bf16 {name:10s} {m}x{n}x{k}: {flops / t / 1e12:7.1f} TFLOP/s")
    out["gemm_dense_tflops"] = total_flops / total_time / 1e12
    print(f"cuBLAS bf16 dense rate over bench-gpu's linears: "
          f"{out['gemm_dense_tflops']:.1f} TFLOP/s")
    q = torch.randn(8, 32, 2048, 64, device=dev, dtype=torch.bfloat16)
    kk = torch.randn(8, 32, 2048, 64, device=dev, dtype=torch.bfloat16)
    v = torch.randn(8, 32, 2048, 64, device=dev, dtype=torch.bfloat16)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    t = timed(lambda: sdpa(q, kk, v, is_causal=True))
    flops = 4.0 * 8 * 32 * 2048 * 2048 * 64 / 2  # causal: half the scores
    out["attention_forward_tflops"] = flops / t / 1e12
    print(f"SDPA causal forward 8x32x2048x64 bf16: {flops / t / 1e12:.1f} TFLOP/s")
    with open(a.json, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
