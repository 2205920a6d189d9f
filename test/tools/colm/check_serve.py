"""`colm serve` on loopback: concurrent requests get exactly the tokens that
`colm generate --greedy` gives alone; streaming works; bad requests get 4xx
JSON errors and the server keeps serving. The load is bounded (a fixed
number of requests, a time limit) and stays on 127.0.0.1.

Usage: check_serve.py --colm BIN --tmp DIR
"""
import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "reference"))
import colm_ref  # noqa: E402

results = []


def check(ok, what):
    results.append(bool(ok))
    print(("PASS: " if ok else "FAIL: ") + what, flush=True)


def post(port, body, raw=None, timeout=60):
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=data,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--colm", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    os.makedirs(a.tmp, exist_ok=True)
    config = colm_ref.make_config([1, 1, 2], kv_sharing=True, hd=4, vocab=64, layers=2)
    model = os.path.join(a.tmp, "air")
    colm_ref.random_model(config, seed=3, out_dir=model, std=0.5)

    server = subprocess.Popen([a.colm, "serve", "--model", model, "--port", "0",
                               "--max-context", "96"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = server.stdout.readline()
        check("listening on http://127.0.0.1:" in line, "server starts: " + line.strip())
        port = int(line.rsplit(":", 1)[1])

        # Bounded concurrent load: 24 greedy requests, 8 at a time.
        jobs = []
        for i in range(24):
            prompt = [(7 * i + j) % 64 for j in range(3 + i % 5)]
            chains = 1 + i % 3
            jobs.append((prompt, chains, 6 + i % 4))

        def one(job):
            prompt, chains, n = job
            return post(port, {"prompt": prompt, "max_tokens": n, "temperature": 0,
                               "chains": chains})

        start = time.time()
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(one, jobs))
        elapsed = time.time() - start
        check(elapsed < 120, f"24 concurrent requests answered in {elapsed:.1f}s")
        ok = 0
        for (prompt, chains, n), (status, body) in zip(jobs, answers):
            out = os.path.join(a.tmp, "t.txt")
            subprocess.run([a.colm, "generate", "--model", model, "--prompt-tokens",
                            ",".join(map(str, prompt)), "--max-new", str(n), "--greedy",
                            "--chains", str(chains), "--tokens-out", out],
                           check=True, capture_output=True)
            want = [int(t) for t in open(out).read().strip().split(",")]
            got = json.loads(body)["choices"][0]["tokens"] if status == 200 else body
            ok += got == want
            if got != want:
                print(f"  mismatch chains={chains} prompt={prompt}: {got} vs {want}")
        check(ok == len(jobs), f"concurrent results equal colm generate alone ({ok}/{len(jobs)})")

        # Streaming with server-sent events.
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/completions",
            data=json.dumps({"prompt": [5, 6], "max_tokens": 5, "stream": True,
                             "seed": 1}).encode())
        with urllib.request.urlopen(req, timeout=60) as r:
            events = [l for l in r.read().decode().split("\n\n") if l.startswith("data: ")]
        check(events[-1] == "data: [DONE]" and
              json.loads(events[-2][6:])["choices"][0]["finish_reason"] == "length",
              f"streaming: {len(events)} events ending in a finish_reason and [DONE]")

        # Bad requests: clear 4xx JSON errors.
        bad = [
            ("malformed JSON", None, b'{"prompt": "x", ', 400, "line 1"),
            ("unknown field", {"prompt": "x", "frobnicate": 1}, None, 400, "unknown field"),
            ("wrong type", {"prompt": "x", "max_tokens": "ten"}, None, 400, "max_tokens"),
            ("missing prompt", {"max_tokens": 3}, None, 400, "missing \"prompt\""),
            ("token out of range", {"prompt": [1, 999]}, None, 400, "token ids"),
            ("chains out of range", {"prompt": "x", "chains": 4}, None, 400, "chains"),
            ("oversized prompt", {"prompt": [1] * 200, "max_tokens": 4}, None, 400,
             "exceed the context"),
            ("body over 1 MiB", None, b'{"prompt": "' + b"z" * (2 << 20) + b'"}', 413, "1 MiB"),
            ("not an object", [1, 2], None, 400, "JSON object"),
        ]
        for name, body, raw, want_status, want_text in bad:
            status, text = post(port, body, raw)
            try:
                message = json.loads(text)["error"]["message"]
            except Exception:
                message = "(not a JSON error) " + text[:80]
            check(status == want_status and want_text in message,
                  f"{name}: {status} {message[:90]}")
        status, text = post(port, {"prompt": "text", "max_tokens": 2})
        check(status == 400 and "vocabulary of 64" in text,
              "text whose bytes the model's vocabulary lacks: " + text[:80])
        status, text = post(port, {"prompt": [1, 2, 3], "max_tokens": 2})
        check(status == 200, "the server still answers after bad requests")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    check(server.returncode == 0, f"server stops cleanly on SIGTERM (exit {server.returncode})")
    log = server.stdout.read()
    check("cmpl-1: " in log and "generated tokens, length" in log,
          "the server logs one line per request")

    # A streaming client that disconnects: its generation is cancelled
    # instead of running to max_tokens (a model slow enough per token).
    big = os.path.join(a.tmp, "big")
    with open(os.path.join(a.tmp, "big.json"), "w") as f:
        json.dump({"vocab_size": 256, "hidden_size": 256, "intermediate_size": 512,
                   "num_hidden_layers": 2, "num_attention_heads": 4,
                   "num_key_value_heads": 2, "chains": [2, 2], "kv_sharing": True,
                   "max_position_embeddings": 2048}, f)
    subprocess.run([a.colm, "init", "--config", os.path.join(a.tmp, "big.json"),
                    "--out", big, "--force"], check=True, capture_output=True)
    server = subprocess.Popen([a.colm, "serve", "--model", big, "--port", "0",
                               "--max-batch", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = int(server.stdout.readline().rsplit(":", 1)[1])
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/completions",
            data=json.dumps({"prompt": "a", "max_tokens": 2000, "stream": True}).encode())
        r = urllib.request.urlopen(req, timeout=60)
        r.readline()  # the first event arrived: generation is running
        r.close()     # and the client goes away
        status, _ = post(port, {"prompt": "b", "max_tokens": 1})
        check(status == 200, "the next request is served")
    finally:
        server.terminate()
        server.wait(timeout=30)
    log = server.stdout.read()
    check("cancelled: the client disconnected" in log,
          "a disconnected stream is cancelled: " +
          next((l for l in log.splitlines() if "cmpl-1:" in l), "(no log line)"))
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
