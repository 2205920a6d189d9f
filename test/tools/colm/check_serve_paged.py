"""`colm serve` over a small paged KV cache: long prompts run in chunks
between decode steps (--step-tokens), prompts that share a prefix reuse its
blocks, and sequences that outgrow the pool are preempted and resumed; none
of it changes a token: every answer equals `colm generate --greedy` alone.
GET /metrics reports all of it in the Prometheus text format.

Usage: check_serve_paged.py --colm BIN --tmp DIR
"""
import argparse
import concurrent.futures
import os
import subprocess
import sys
import urllib.request

from serve_util import Server, check, post, run, summary, tiny_model


def metrics(server):
    with urllib.request.urlopen(server.url + "/metrics", timeout=30) as r:
        kind = r.headers.get("Content-Type", "")
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return kind, text, values


def generate(colm, model, tmp, prompt, n, chains):
    out = os.path.join(tmp, "t.txt")
    subprocess.run([colm, "generate", "--model", model, "--prompt-tokens",
                    ",".join(map(str, prompt)), "--max-new", str(n), "--greedy",
                    "--chains", str(chains), "--tokens-out", out],
                   check=True, capture_output=True)
    return [int(t) for t in open(out).read().strip().split(",")]


def run_model(a, name, kv_sharing):
    model = tiny_model(a.tmp, name, vocab=64, kv_sharing=kv_sharing, seed=5)
    # 12 blocks of 16 positions for 6 sequences of up to 110: preemption;
    # a step of 24 tokens: prompts of 40-72 tokens run in chunks; half the
    # prompts start with the same 48 tokens.
    shared = [(5 * j + 1) % 64 for j in range(48)]
    jobs = []
    for i in range(12):
        length = 40 + (i * 7) % 33
        if i % 2 == 0:
            prompt = (shared + [(3 * i + j) % 64 for j in range(length)])[:max(length, 52)]
        else:
            prompt = [(11 * i + 2 * j) % 64 for j in range(length)]
        jobs.append((prompt, 1 + i % 3, 20 + (i * 5) % 21))
    with Server(a.colm, model, a.tmp, "--max-context", "128", "--kv-cache-blocks", "12",
                "--max-batch", "6", "--step-tokens", "24", name=name) as server:
        with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(
                lambda j: post(server, "/v1/completions",
                               {"prompt": j[0], "max_tokens": j[2], "temperature": 0,
                                "chains": j[1]}, timeout=120), jobs))
        ok = 0
        for (prompt, chains, n), (status, body) in zip(jobs, answers):
            want = generate(a.colm, model, a.tmp, prompt, n, chains)
            got = body["choices"][0]["tokens"] if status == 200 else body
            ok += got == want
            if got != want:
                print(f"  mismatch chains={chains} len={len(prompt)}: {got} vs {want}")
        check(ok == len(jobs), f"{name}: chunked, shared and preempted sequences equal "
              f"colm generate alone ({ok}/{len(jobs)})")
        kind, text, m = metrics(server)
        check(kind.startswith("text/plain") and "# TYPE colm_requests_running gauge" in text,
              f"{name}: /metrics is Prometheus text ({kind})")
        check(m.get("colm_preemptions_total", 0) > 0,
              f"{name}: sequences were preempted ({m.get('colm_preemptions_total')})")
        check(m.get("colm_prefix_cache_hit_blocks_total", 0) >= 3,
              f"{name}: shared prefixes hit the cache "
              f"({m.get('colm_prefix_cache_hit_blocks_total')} of "
              f"{m.get('colm_prefix_cache_queried_blocks_total')} blocks)")
        check(m.get("colm_prefill_chunks_total", 0) > len(jobs),
              f"{name}: long prompts ran in chunks ({m.get('colm_prefill_chunks_total')} "
              f"chunks for {len(jobs)} prompts)")
        check(m.get("colm_kv_cache_blocks_used", -1) + m.get("colm_kv_cache_blocks_free", -1)
              == 12, f"{name}: KV blocks used + free = the pool")
        check(m.get("colm_time_to_first_token_seconds_count") == len(jobs) and
              m.get("colm_generation_tokens_total") == sum(j[2] for j in jobs),
              f"{name}: TTFT observed per sequence, every token counted")
        by_chains = sum(v for k, v in m.items()
                        if k.startswith("colm_generation_tokens_by_chains_total"))
        check(by_chains == m.get("colm_generation_tokens_total"),
              f"{name}: tokens by chain count add up ({by_chains})")
        # One sequence always fits: the pool bounds the context.
        status, body = post(server, "/v1/completions", {"prompt": [1] * 150, "max_tokens": 60})
        check(status == 400 and "context of 128" in str(body),
              f"{name}: a request larger than the pool: {status}")
        check("preempted after" in server.log(), f"{name}: the log names preempted sequences")
        code = server.stop()
        check(code == 0, f"{name}: the server stops cleanly")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--colm", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    os.makedirs(a.tmp, exist_ok=True)
    run_model(a, "air", True)
    run_model(a, "colm", False)
    return summary()


if __name__ == "__main__":
    sys.exit(run(main))
