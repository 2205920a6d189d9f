"""`colm serve` over a small paged KV cache: long prompts run in chunks
between decode steps (--step-tokens), prompts that share a prefix reuse its
blocks, and sequences that outgrow the pool are preempted and resumed; none
of it changes a token: every answer equals `colm generate --greedy` alone.
GET /metrics reports all of it in the Prometheus text format.

Usage: check_serve_paged.py --colm BIN --tmp DIR [--backend cpu|cuda-sim]
"""
import argparse
import concurrent.futures
import json
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


BACKEND = ["--backend", "cpu"]


def generate(colm, model, tmp, prompt, n, chains):
    """`chains`: a count, or a --chain-schedule string."""
    out = os.path.join(tmp, "t.txt")
    flag = "--chain-schedule" if isinstance(chains, str) else "--chains"
    subprocess.run([colm, "generate", "--model", model, "--prompt-tokens",
                    ",".join(map(str, prompt)), "--max-new", str(n), "--greedy",
                    flag, str(chains), "--tokens-out", out, *BACKEND],
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
                "--max-batch", "6", "--step-tokens", "24", *BACKEND, name=name) as server:
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
                print(f"  mismatch chains={chains} len={len(prompt)}: {got} vs {want}",
                      file=sys.stderr)
        check(ok == len(jobs), f"{name}: chunked, shared and preempted sequences equal "
              f"colm generate alone ({ok}/{len(jobs)})")
        kind, text, m = metrics(server)
        check(kind.startswith("text/plain") and "# TYPE colm_requests_running gauge" in text,
              f"{name}: /metrics is Prometheus text ({kind})")
        check(m.get("colm_preemptions_total", 0) > 0,
              f"{name}: sequences were preempted ({m.get('colm_preemptions_total')})")
        # One after the other, two prompts that share 64 tokens: the second
        # reuses the first one's blocks (whatever the load above did).
        hits = m.get("colm_prefix_cache_hit_blocks_total", 0)
        for tail in ([1, 2, 3] * 10, [4, 5] * 10):
            status, _ = post(server, "/v1/completions",
                             {"prompt": shared + shared[:16] + tail, "max_tokens": 2,
                              "temperature": 0})
        _, _, m2 = metrics(server)
        check(status == 200 and m2.get("colm_prefix_cache_hit_blocks_total", 0) >= hits + 2,
              f"{name}: a shared prefix hits the cache "
              f"({m2.get('colm_prefix_cache_hit_blocks_total')} of "
              f"{m2.get('colm_prefix_cache_queried_blocks_total')} blocks in all)")
        # A block serves every chain count up to the one that computed it
        # (CoLM-Air's, every chain count): after a 3-chain prompt a 2-chain
        # one reuses its blocks; after a 1-chain prompt a 3-chain one does
        # only on CoLM-Air. Every answer is still colm generate's alone.
        for first, then, base in ((3, 2, 4), (1, 3, 5)):
            head = [(9 * j + base) % 64 for j in range(64)]
            post(server, "/v1/completions", {"prompt": head + [7] * 20, "max_tokens": 2,
                                             "temperature": 0, "chains": first})
            before = metrics(server)[2].get("colm_prefix_cache_hit_blocks_total", 0)
            prompt = head + [8] * 20
            status, body = post(server, "/v1/completions",
                                {"prompt": prompt, "max_tokens": 6, "temperature": 0,
                                 "chains": then})
            got = body["choices"][0]["tokens"] if status == 200 else body
            hit = metrics(server)[2].get("colm_prefix_cache_hit_blocks_total", 0) - before
            want_hit = then <= first or kv_sharing
            check((hit >= 4) == want_hit and
                  got == generate(a.colm, model, a.tmp, prompt, 6, then),
                  f"{name}: {then} chains after {first}: {hit:g} blocks reused "
                  f"({'some' if want_hit else 'none'} expected), colm generate's tokens")
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
        # "chains": "auto" between min_chains and max_chains; the usage
        # says which chain counts produced the tokens.
        status, body = post(server, "/v1/completions",
                            {"prompt": jobs[0][0], "max_tokens": 12, "temperature": 0,
                             "chains": "auto", "min_chains": 2, "max_chains": 3,
                             "latency_target": {"tpot_ms": 0.01}})
        mix = body.get("usage", {}).get("chain_tokens", {}) if status == 200 else {}
        check(status == 200 and sum(mix.values()) == 12 and
              all(k in ("2", "3") for k in mix),
              f"{name}: auto chains stay in [2, 3] and are reported "
              f"({mix if status == 200 else (status, body)})")
        for bad, want in (({"chains": "auto", "min_chains": 3, "max_chains": 2},
                           "exceeds"),
                          ({"max_chains": 2}, "need \"chains\": \"auto\""),
                          ({"chains": "some"}, "or \"auto\""),
                          ({"chains": "auto", "latency_target": {"tpot": 3}},
                           "unknown field")):
            status, body = post(server, "/v1/completions", {"prompt": [1, 2], **bad})
            check(status == 400 and want in str(body),
                  f"{name}: {json.dumps(bad)}: {status} {str(body)[:80]}")
        # Aliases: NAME@kN is the N-chain sub-model.
        prompt, n = jobs[1][0], 10
        status, body = post(server, "/v1/completions",
                            {"model": name + "@k1", "prompt": prompt, "max_tokens": n,
                             "temperature": 0})
        got = body["choices"][0]["tokens"] if status == 200 else body
        check(got == generate(a.colm, model, a.tmp, prompt, n, 1),
              f"{name}: {name}@k1 is the 1-chain sub-model")
        status, body = post(server, "/v1/completions",
                            {"model": name + "@k9", "prompt": [1], "max_tokens": 1})
        check(status == 404, f"{name}: {name}@k9 does not exist: {status}")
        with urllib.request.urlopen(server.url + "/v1/models", timeout=30) as r:
            ids = [m["id"] for m in json.loads(r.read())["data"]]
        check(ids == [name, name + "@k1", name + "@k2", name + "@k3"],
              f"{name}: /v1/models lists the aliases ({ids})")
        # "speculative" (CoLM-Air): the tokens of plain decoding, greedy
        # or sampled with a seed, and the drafts counted in /metrics.
        # The sampled case drafts over a window of the history (the first
        # block and the last 16 positions): the same tokens still.
        for sampling, window in (({"temperature": 0}, 0),
                                 ({"temperature": 0.8, "seed": 3}, 16)):
            body = {"prompt": jobs[3][0], "max_tokens": 24, "chains": 3, **sampling}
            plain_status, plain = post(server, "/v1/completions", body)
            status, spec = post(server, "/v1/completions",
                                {**body, "speculative": {"draft_chains": 2,
                                                         "max_draft": 3,
                                                         "draft_window": window}})
            if kv_sharing:
                check(status == 200 and plain_status == 200 and
                      spec["choices"][0]["tokens"] == plain["choices"][0]["tokens"],
                      f"{name}: speculative {sampling} equals plain decoding")
            else:
                check(status == 400 and "CoLM-Air" in str(spec),
                      f"{name}: speculative needs CoLM-Air: {status}")
        if kv_sharing:
            _, _, m3 = metrics(server)
            check(m3.get("colm_speculative_drafted_tokens_total", 0) > 0,
                  f"{name}: drafts counted "
                  f"({m3.get('colm_speculative_accepted_tokens_total')} of "
                  f"{m3.get('colm_speculative_drafted_tokens_total')} accepted)")
            status, body = post(server, "/v1/completions",
                                {"prompt": [1, 2], "speculative": True, "logprobs": 2})
            check(status == 400 and "log-probabilities" in str(body),
                  f"{name}: speculative with logprobs: {status}")
        # Switching up copies the blocks a sequence shares with the prefix
        # cache before rewriting them (CoLM): with the pool full of cached
        # prefixes, those are evicted for the copies.
        for i in range(2):
            post(server, "/v1/completions",
                 {"prompt": [(7 * i + 3 * j) % 64 for j in range(100)], "max_tokens": 1,
                  "temperature": 0})
        prompt, n = jobs[1][0][:52], 12
        status, body = post(server, "/v1/completions",
                            {"prompt": prompt, "max_tokens": n, "temperature": 0,
                             "chain_schedule": "0:1,4:3"})
        got = body["choices"][0]["tokens"] if status == 200 else body
        check(got == generate(a.colm, model, a.tmp, prompt, n, "0:1,4:3"),
              f"{name}: switching up over a pool full of cached prefixes "
              f"equals colm generate alone")
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
    ap.add_argument("--backend", default="cpu",
                    help="colm serve's and colm generate's backend (cpu, cuda-sim)")
    a = ap.parse_args()
    BACKEND[1] = a.backend
    os.makedirs(a.tmp, exist_ok=True)
    run_model(a, "air", True)
    run_model(a, "colm", False)
    return summary()


if __name__ == "__main__":
    sys.exit(run(main))
