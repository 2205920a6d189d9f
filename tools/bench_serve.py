#!/usr/bin/env python3
"""Serving benchmark for `colm serve` (or any OpenAI-compatible server), in
the form of vLLM's `bench serve` and llama.cpp's server bench.

Sends a workload of streaming /v1/completions requests at a fixed
concurrency or with Poisson arrivals and reports requests/s, output and
total tokens/s, time to first token (TTFT), time per output token (TPOT),
inter-token latency (ITL) and end-to-end latency (mean, p50, p90, p99), and
goodput: requests/s that met the latency targets. Standard library only.

Workloads (prompts are token ids, as a byte-level model takes them):
  random          prompts of --input-len tokens (+-(--range-ratio)), random ids
  shared-prefix   a common prefix of --prefix-len tokens, then a random part
  FILE.jsonl      replay: one {"prompt": [ids] or "text", "max_tokens": n} per
                  line (--save-prompts writes any workload in this form)

Examples:
  tools/bench_serve.py --url http://127.0.0.1:8080 --num-prompts 64 \\
      --concurrency 8 --input-len 256 --output-len 64
  tools/bench_serve.py --url ... --request-rates 1,2,4,8 --plot load.svg
"""
import argparse
import json
import random
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request


def percentile(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    f = int(k)
    c = min(f + 1, len(s) - 1)
    return s[f] + (s[c] - s[f]) * (k - f)


def summary(values):
    if not values:
        return {"mean": float("nan"), "p50": float("nan"), "p90": float("nan"),
                "p99": float("nan")}
    return {"mean": statistics.fmean(values), "p50": percentile(values, 50),
            "p90": percentile(values, 90), "p99": percentile(values, 99)}


def make_workload(a, rng):
    if a.workload not in ("random", "shared-prefix"):
        jobs = []
        with open(a.workload) as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        o = json.loads(line)
                        jobs.append((o["prompt"], int(o.get("max_tokens", a.output_len))))
                    except (ValueError, KeyError) as e:
                        sys.exit(f"{a.workload}:{n}: not a prompt line ({e})")
        return jobs[:a.num_prompts] if a.num_prompts else jobs
    prefix = [rng.randrange(a.vocab) for _ in range(a.prefix_len)] \
        if a.workload == "shared-prefix" else []

    def length(mean):
        lo = max(1, int(mean * (1 - a.range_ratio)))
        hi = max(lo, int(mean * (1 + a.range_ratio)))
        return rng.randint(lo, hi)

    jobs = []
    for _ in range(a.num_prompts):
        body = [rng.randrange(a.vocab) for _ in range(length(a.input_len))]
        jobs.append((prefix + body, length(a.output_len)))
    return jobs


def one_request(a, prompt, max_tokens, extra=None):
    """Streams one completion; returns its timings or an error."""
    body = {"prompt": prompt, "max_tokens": max_tokens, "stream": True,
            "stream_options": {"include_usage": True}}
    body.update(a.extra)
    body.update(extra or {})
    if a.model:
        body["model"] = a.model
    req = urllib.request.Request(a.url.rstrip("/") + "/v1/completions",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    events, tokens, error, chain_tokens = [], 0, None, None
    try:
        with urllib.request.urlopen(req, timeout=a.timeout) as r:
            for raw in r:
                line = raw.decode().strip()
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                o = json.loads(line[6:])
                if o.get("usage"):
                    tokens = o["usage"].get("completion_tokens", tokens)
                    chain_tokens = o["usage"].get("chain_tokens")
                if o.get("choices") and (o["choices"][0].get("text") or
                                         o["choices"][0].get("tokens")):
                    events.append(time.perf_counter())
    except (urllib.error.URLError, OSError, ValueError) as e:
        error = str(e)
    end = time.perf_counter()
    if error or not events:
        return {"error": error or "no tokens", "start": start, "end": end}
    ttft = events[0] - start
    tokens = tokens or len(events)
    return {"start": start, "end": end, "ttft": ttft, "e2e": end - start,
            "events": events,
            "tpot": (end - start - ttft) / (tokens - 1) if tokens > 1 else None,
            "itl": [b - a_ for a_, b in zip(events, events[1:])],
            "prompt_tokens": len(prompt) if isinstance(prompt, list) else None,
            "chain_tokens": chain_tokens,
            "output_tokens": tokens}


def run_load(a, jobs, rate, concurrency, rng):
    """Runs every job; Poisson arrivals at `rate` (inf: all at once), at most
    `concurrency` in flight."""
    results = [None] * len(jobs)
    gate = threading.Semaphore(concurrency if concurrency else len(jobs))
    threads = []

    def work(i, prompt, n):
        try:
            results[i] = one_request(a, prompt, n)
        finally:
            gate.release()

    interrupt = {}
    if a.interrupt_len:
        # One long prompt arrives while the workload runs: its prefill is
        # what the others' inter-token latency must not feel.
        long_prompt = [rng.randrange(a.vocab) for _ in range(a.interrupt_len)]

        def interrupter():
            time.sleep(a.interrupt_after)
            interrupt.update(one_request(a, long_prompt, 1, a.interrupt_fields))

        threads.append(threading.Thread(target=interrupter, daemon=True))
        threads[-1].start()
    t0 = time.perf_counter()
    for i, (prompt, n) in enumerate(jobs):
        if rate and rate != float("inf") and i > 0:
            time.sleep(rng.expovariate(rate))
        gate.acquire()
        t = threading.Thread(target=work, args=(i, prompt, n), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    duration = time.perf_counter() - t0
    if interrupt:
        results.append(dict(interrupt, interrupt=True))
    return results, duration


def report(results, duration, a):
    long = [r for r in results if r and r.get("interrupt")]
    results = [r for r in results if not (r and r.get("interrupt"))]
    ok = [r for r in results if r and "error" not in r]
    failed = len(results) - len(ok)
    out_tokens = sum(r["output_tokens"] for r in ok)
    in_tokens = sum(r["prompt_tokens"] or 0 for r in ok)
    ms = lambda xs: [1000 * x for x in xs]  # noqa: E731
    good = [r for r in ok
            if (a.ttft_target is None or 1000 * r["ttft"] <= a.ttft_target) and
            (a.tpot_target is None or r["tpot"] is None or
             1000 * r["tpot"] <= a.tpot_target)]
    return {
        "requests": len(results), "failed": failed, "duration_s": duration,
        "request_throughput": len(ok) / duration,
        "output_throughput": out_tokens / duration,
        "total_token_throughput": (in_tokens + out_tokens) / duration,
        "goodput": len(good) / duration,
        "ttft_ms": summary(ms([r["ttft"] for r in ok])),
        "tpot_ms": summary(ms([r["tpot"] for r in ok if r["tpot"] is not None])),
        "itl_ms": summary(ms([x for r in ok for x in r["itl"]])),
        "e2e_ms": summary(ms([r["e2e"] for r in ok])),
        "errors": sorted({r["error"] for r in results if r and "error" in r})[:3],
        "tokens_within_tpot_target":
            (sum(1 for r in ok for x in r["itl"] if 1000 * x <= a.tpot_target) /
             max(1, sum(len(r["itl"]) for r in ok))) if a.tpot_target else None,
        "chain_tokens": chain_mix(ok),
    } | (interrupt_report(long[0], ok) if long else {})


def chain_mix(ok):
    """The tokens each chain count produced (colm serve's usage extension)."""
    mix = {}
    for r in ok:
        for k, n in (r.get("chain_tokens") or {}).items():
            mix[k] = mix.get(k, 0) + n
    return mix


def interrupt_report(long, ok):
    """The other streams' inter-token latency while the long prompt was
    prefilled (from its arrival to its first token) and outside it."""
    if "error" in long:
        return {"interrupt_error": long["error"]}
    lo, hi = long["start"], long["start"] + long["ttft"]
    inside, outside = [], []
    for r in ok:
        for x, y in zip(r["events"], r["events"][1:]):
            (inside if y > lo and x < hi else outside).append(1000 * (y - x))
    return {"interrupt_ttft_ms": 1000 * long["ttft"],
            "itl_during_prefill_ms": summary(inside),
            "itl_outside_prefill_ms": summary(outside)}


def server_counters(url):
    """colm serve's /metrics counters (empty for other servers)."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
            text = r.read().decode()
    except (OSError, ValueError):
        return {}
    values = {}
    for line in text.splitlines():
        if line.startswith("colm_") and "{" not in line:
            name, _, value = line.partition(" ")
            try:
                values[name] = float(value)
            except ValueError:
                pass
    return values


def server_side(before, after):
    """The share of inter-token gaps within their TPOT target as the server
    timed them: on a small machine the client's own threads add to the
    gaps it measures."""
    key, met = "colm_tpot_target_tokens_total", "colm_tpot_target_met_tokens_total"
    if key not in before or key not in after:
        return {}
    gaps = after[key] - before[key]
    if gaps <= 0:
        return {}
    return {"server_tokens_within_tpot_target": (after[met] - before[met]) / gaps}


def print_report(rep, label, a):
    print(f"\n== {label}: {rep['requests']} requests in {rep['duration_s']:.2f} s"
          f" ({rep['failed']} failed)")
    print(f"  requests/s {rep['request_throughput']:.2f}   output tokens/s "
          f"{rep['output_throughput']:.1f}   total tokens/s "
          f"{rep['total_token_throughput']:.1f}")
    targets = []
    if a.ttft_target is not None:
        targets.append(f"TTFT <= {a.ttft_target:g} ms")
    if a.tpot_target is not None:
        targets.append(f"TPOT <= {a.tpot_target:g} ms")
    if targets:
        print(f"  goodput {rep['goodput']:.2f} requests/s ({', '.join(targets)})")
    if rep["tokens_within_tpot_target"] is not None:
        print(f"  tokens within the TPOT target: "
              f"{100 * rep['tokens_within_tpot_target']:.1f}% of inter-token gaps")
    if rep.get("server_tokens_within_tpot_target") is not None:
        print(f"  as the server timed them: "
              f"{100 * rep['server_tokens_within_tpot_target']:.1f}% of the gaps of "
              f"requests with a latency_target")
    if rep["chain_tokens"]:
        total = sum(rep["chain_tokens"].values())
        mix = ", ".join(f"{k} chain{'s' if k != '1' else ''} {100 * n / total:.1f}%"
                        for k, n in sorted(rep["chain_tokens"].items()))
        print(f"  tokens by chain count: {mix}")
    print(f"  {'ms':<6}{'mean':>10}{'p50':>10}{'p90':>10}{'p99':>10}")
    for key, name in (("ttft_ms", "TTFT"), ("tpot_ms", "TPOT"), ("itl_ms", "ITL"),
                      ("e2e_ms", "E2E")):
        s = rep[key]
        print(f"  {name:<6}{s['mean']:>10.1f}{s['p50']:>10.1f}{s['p90']:>10.1f}"
              f"{s['p99']:>10.1f}")
    if "interrupt_ttft_ms" in rep:
        print(f"  a {a.interrupt_len}-token prompt arrived after {a.interrupt_after:g} s: "
              f"its TTFT {rep['interrupt_ttft_ms']:.1f} ms")
        for key, name in (("itl_during_prefill_ms", "ITL during its prefill"),
                          ("itl_outside_prefill_ms", "ITL otherwise")):
            s = rep[key]
            print(f"  {name:<24} mean {s['mean']:.1f}  p50 {s['p50']:.1f}  "
                  f"p90 {s['p90']:.1f}  p99 {s['p99']:.1f} ms")
    for e in rep["errors"]:
        print(f"  error: {e}")


def plot(points, path, title):
    """An SVG of p50 and p99 TPOT and TTFT against the request rate."""
    w, h, m = 640, 360, 60
    xs = [p["rate"] for p in points]
    series = [("TTFT p50", "ttft_ms", "p50", "#1f77b4"),
              ("TTFT p99", "ttft_ms", "p99", "#aec7e8"),
              ("TPOT p50", "tpot_ms", "p50", "#d62728"),
              ("TPOT p99", "tpot_ms", "p99", "#ff9896")]
    ys = [p["report"][k][q] for p in points for _, k, q, _ in series]
    ys = [y for y in ys if y == y]
    xmax, ymax = max(xs) or 1, (max(ys) if ys else 1) * 1.1 or 1
    sx = lambda x: m + (w - 2 * m) * x / xmax  # noqa: E731
    sy = lambda y: h - m - (h - 2 * m) * y / ymax  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w / 2}" y="20" text-anchor="middle">{title}</text>',
           f'<line x1="{m}" y1="{h - m}" x2="{w - m}" y2="{h - m}" stroke="black"/>',
           f'<line x1="{m}" y1="{m}" x2="{m}" y2="{h - m}" stroke="black"/>',
           f'<text x="{w / 2}" y="{h - 20}" text-anchor="middle">requests/s offered</text>',
           f'<text x="15" y="{h / 2}" transform="rotate(-90 15 {h / 2})" '
           f'text-anchor="middle">latency (ms)</text>']
    for i in range(5):
        yv = ymax * i / 4
        out.append(f'<text x="{m - 5}" y="{sy(yv) + 4}" text-anchor="end">{yv:.0f}</text>')
    for x in xs:
        out.append(f'<text x="{sx(x)}" y="{h - m + 15}" text-anchor="middle">{x:g}</text>')
    for n, (name, key, q, color) in enumerate(series):
        pts = [(sx(p["rate"]), sy(p["report"][key][q])) for p in points
               if p["report"][key][q] == p["report"][key][q]]
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' %
                   (color, " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)))
        out.append(f'<text x="{w - m + 5}" y="{m + 15 * n}" fill="{color}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def parse_fields(items, flag):
    """NAME=JSON request fields."""
    fields = {}
    for f in items:
        name, _, value = f.partition("=")
        try:
            fields[name] = json.loads(value)
        except ValueError:
            sys.exit(f"{flag} {f}: the value is not JSON")
    return fields


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--model", help="the request's model field")
    ap.add_argument("--workload", default="random",
                    help="random, shared-prefix or a prompts FILE.jsonl (default random)")
    ap.add_argument("--num-prompts", type=int, default=64)
    ap.add_argument("--input-len", type=int, default=256)
    ap.add_argument("--output-len", type=int, default=64)
    ap.add_argument("--range-ratio", type=float, default=0.5,
                    help="lengths vary by this fraction either way (default 0.5)")
    ap.add_argument("--prefix-len", type=int, default=1024,
                    help="shared-prefix: tokens every prompt starts with")
    ap.add_argument("--vocab", type=int, default=256, help="token ids drawn below this")
    ap.add_argument("--concurrency", type=int, default=0,
                    help="requests in flight at most (0: no limit)")
    ap.add_argument("--request-rate", type=float, default=float("inf"),
                    help="Poisson arrivals per second (default inf: all at once)")
    ap.add_argument("--request-rates", help="a sweep: comma-separated rates")
    ap.add_argument("--chains", help='the "chains" field of every request')
    ap.add_argument("--field", action="append", default=[],
                    help="an extra request field NAME=JSON (repeatable)")
    ap.add_argument("--interrupt-len", type=int, default=0,
                    help="send one more request with a prompt this long while the "
                         "workload runs, and report the others' ITL during its prefill")
    ap.add_argument("--interrupt-after", type=float, default=1.0,
                    help="seconds after the start (default 1)")
    ap.add_argument("--interrupt-field", action="append", default=[],
                    help="a field NAME=JSON of that request only")
    ap.add_argument("--ttft-target", type=float, help="goodput: TTFT target in ms")
    ap.add_argument("--tpot-target", type=float, help="goodput: TPOT target in ms")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--save-prompts", help="write the workload as JSONL and go on")
    ap.add_argument("--json", help="write the results as JSON")
    ap.add_argument("--save-detailed", action="store_true",
                    help="with --json: every request's TTFT, inter-token gaps and E2E too")
    ap.add_argument("--plot", help="with --request-rates: an SVG of latency against load")
    a = ap.parse_args()
    a.extra = parse_fields(a.field, "--field")
    if a.chains:
        a.extra = {"chains": a.chains if a.chains == "auto" else int(a.chains)} | a.extra
    a.interrupt_fields = parse_fields(a.interrupt_field, "--interrupt-field")
    rng = random.Random(a.seed)
    jobs = make_workload(a, rng)
    if not jobs:
        sys.exit("the workload is empty")
    if a.save_prompts:
        with open(a.save_prompts, "w") as f:
            for prompt, n in jobs:
                f.write(json.dumps({"prompt": prompt, "max_tokens": n}) + "\n")
    rates = [float(r) for r in a.request_rates.split(",")] if a.request_rates \
        else [a.request_rate]
    points = []
    for rate in rates:
        before = server_counters(a.url)
        results, duration = run_load(a, jobs, rate, a.concurrency,
                                     random.Random(a.seed + 1))
        rep = report(results, duration, a)
        rep |= server_side(before, server_counters(a.url))
        label = (f"rate {rate:g}/s" if rate != float("inf") else "all at once") + \
            (f", concurrency {a.concurrency}" if a.concurrency else "")
        print_report(rep, label, a)
        point = {"rate": rate, "report": rep}
        if a.save_detailed:
            point["requests"] = [
                {k: r.get(k) for k in ("prompt_tokens", "output_tokens", "ttft", "itl",
                                       "e2e", "chain_tokens", "error")}
                for r in results if r]
        points.append(point)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"settings": {k: v for k, v in vars(a).items() if k != "extra"},
                       "fields": a.extra, "points": points}, f, indent=1,
                      default=str)
    if a.plot and len(points) > 1:
        plot([p for p in points if p["rate"] != float("inf")], a.plot,
             f"{a.workload}: {a.num_prompts} requests, {a.input_len} in / "
             f"{a.output_len} out")
    return 1 if any(p["report"]["failed"] for p in points) else 0


if __name__ == "__main__":
    sys.exit(main())
