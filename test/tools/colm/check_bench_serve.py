"""tools/bench_serve.py against `colm serve` on a tiny model: the report's
counts add up (requests, tokens, inter-token gaps), the server's own count
of gaps within the TPOT target comes back, --save-detailed keeps every
request, a Poisson sweep draws its SVG, a saved workload replays, and bad
input gets a clear error.

Usage: check_bench_serve.py --colm BIN --bench tools/bench_serve.py --tmp DIR
"""
import argparse
import json
import os
import subprocess
import sys

from serve_util import Server, check, run, summary, tiny_model


def bench(a, url, *args):
    p = subprocess.run([sys.executable, a.bench, "--url", url, *args],
                       capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--colm", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    os.makedirs(a.tmp, exist_ok=True)
    model = tiny_model(a.tmp, "m", vocab=64, seed=2)
    out = os.path.join(a.tmp, "r.json")
    with Server(a.colm, model, a.tmp, "--max-context", "128", name="bench") as server:
        code, text, err = bench(
            a, server.url, "--num-prompts", "8", "--concurrency", "4", "--input-len", "16",
            "--output-len", "8", "--vocab", "64", "--chains", "auto",
            "--field", 'latency_target={"tpot_ms": 1000}', "--tpot-target", "1000",
            "--ttft-target", "10000", "--json", out, "--save-detailed")
        check(code == 0, f"a random workload runs (exit {code}) {err[-200:]}")
        d = json.load(open(out)) if code == 0 else {"points": [{}]}
        rep = d["points"][0].get("report", {})
        reqs = d["points"][0].get("requests", [])
        check(rep.get("requests") == 8 and rep.get("failed") == 0 and len(reqs) == 8,
              f"8 requests, none failed, each kept ({rep.get('requests')}, {len(reqs)})")
        check(all(len(r["itl"]) == r["output_tokens"] - 1 for r in reqs) and
              all(r["ttft"] > 0 and r["e2e"] >= r["ttft"] for r in reqs),
              "each request: one gap per token after the first, E2E >= TTFT")
        mix = sum(sum(r["chain_tokens"].values()) for r in reqs)
        check(mix == sum(r["output_tokens"] for r in reqs),
              f"the chain mix covers every output token ({mix})")
        check(rep.get("tokens_within_tpot_target") == 1.0 and
              rep.get("server_tokens_within_tpot_target") == 1.0 and
              "as the server timed them: 100.0%" in text,
              "every gap within a 1 s target, as the client and the server timed it")
        check(abs(rep.get("goodput", 0) - rep.get("request_throughput", -1)) < 1e-9,
              "goodput = throughput when every request meets the targets")
        svg = os.path.join(a.tmp, "load.svg")
        code, text, err = bench(
            a, server.url, "--workload", "shared-prefix", "--prefix-len", "32",
            "--num-prompts", "6", "--input-len", "8", "--output-len", "4", "--vocab", "64",
            "--request-rates", "50,100", "--plot", svg)
        check(code == 0 and text.count("== rate") == 2 and
              open(svg).read().lstrip().startswith("<svg"),
              f"a Poisson sweep of two rates and its plot (exit {code})")
        saved = os.path.join(a.tmp, "w.jsonl")
        code, _, _ = bench(a, server.url, "--num-prompts", "5", "--input-len", "8",
                           "--output-len", "3", "--vocab", "64", "--save-prompts", saved)
        lines = open(saved).read().splitlines() if os.path.exists(saved) else []
        code2, text, err = bench(a, server.url, "--workload", saved)
        check(code == 0 and len(lines) == 5 and code2 == 0 and "5 requests" in text,
              f"a saved workload replays ({len(lines)} prompts, exit {code2}) {err[-200:]}")
        bad = os.path.join(a.tmp, "bad.jsonl")
        with open(bad, "w") as f:
            f.write('{"prompt": [1, 2], "max_tokens": 2}\nnot json\n')
        code, _, err = bench(a, server.url, "--workload", bad)
        check(code != 0 and "bad.jsonl:2" in err, f"a bad prompt line is named: {err.strip()[-120:]}")
    code, text, err = bench(a, "http://127.0.0.1:9", "--num-prompts", "2", "--input-len", "4",
                            "--output-len", "2", "--timeout", "5")
    check(code != 0 and "failed" in text + err,
          f"no server: the requests fail and the exit status says so (exit {code})")
    return summary()


if __name__ == "__main__":
    sys.exit(run(main))
