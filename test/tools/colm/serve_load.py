"""A bounded loopback load test of `colm serve` (127.0.0.1 only, fixed request
count, every wait bounded):

- a pool of distinct requests (completions and chat, streaming and not,
  greedy and seeded sampling, n > 1, logprobs, echo, chain choices) is first
  answered one at a time: the answers "alone";
- then LOAD requests drawn from the pool run with IN_FLIGHT clients at once
  (several times --max-batch), and some clients disconnect mid-stream or
  before a non-streaming answer;
- every well-formed request succeeds and equals its answer alone, and the
  server's resident memory (VmRSS) returns to its idle level (within
  RSS_TOLERANCE_KIB) once the load is over.

Usage: serve_load.py --colm BIN --tmp DIR
"""
import argparse
import concurrent.futures
import json
import os
import random
import socket
import time

from serve_util import Server, run, check, post, stream, summary, tiny_model

MAX_BATCH = 4
IN_FLIGHT = 16  # 4 x MAX_BATCH
LOAD = 320
DISCONNECT_EVERY = 10  # every 10th request is a client that goes away
RSS_TOLERANCE_KIB = 8 * 1024
# A hang guard, not a speed check (speed is measured in benchmarks): on a
# slow shared 2-core machine with the other tests beside it the load took 68 s.
TIME_LIMIT_S = 300


def request_pool():
    rng = random.Random(7)
    pool = []
    for i in range(40):
        chat = i % 4 == 3
        streaming = i % 3 == 1
        body = {"max_tokens": 8 + i % 17, "stream": streaming}
        if chat:
            body["messages"] = [{"role": "user", "content": f"Hello {i}"}]
            if i % 8 == 7:
                body["messages"].insert(0, {"role": "system", "content": "Short."})
        else:
            body["prompt"] = (f"Prompt {i}:" if i % 2 else
                              [rng.randrange(256) for _ in range(2 + i % 9)])
        if i % 5 == 0:
            body["temperature"] = 0
        else:
            body.update(temperature=0.9, seed=100 + i, top_k=40 if i % 2 else 0)
        body["chains"] = 1 + i % 3
        if i % 6 == 2:
            body["n"] = 2
        if i % 7 == 4:
            if chat:
                body.update(logprobs=True, top_logprobs=2)
            else:
                body["logprobs"] = 2
        if not chat and i % 9 == 5:
            body["echo"] = True
        if i % 11 == 3:
            body["frequency_penalty"] = 0.7
        if streaming and i % 2:
            body["stream_options"] = {"include_usage": True}
        pool.append(("/v1/chat/completions" if chat else "/v1/completions", body))
    return pool


def normalise(path, body, server):
    """The answer without ids and times: one record per choice (text, tokens,
    finish reason, logprobs) and the usage, whether it streamed or not."""
    choices = {}
    if body.get("stream"):
        events, done = stream(server, path, body)
        if not done or any("error" in e for e in events):
            return ("failed", events[-1:] if events else None)
        usage = None
        for e in events:
            if e.get("usage"):
                usage = e["usage"]
            for c in e["choices"]:
                rec = choices.setdefault(c["index"], {"text": "", "finish": None, "lp": []})
                piece = c.get("text", c.get("delta", {}).get("content", ""))
                rec["text"] += piece or ""
                if c.get("finish_reason"):
                    rec["finish"] = c["finish_reason"]
                lp = c.get("logprobs")
                if lp:
                    rec["lp"] += lp.get("token_logprobs", lp.get("content", []))
        return ("ok", sorted(choices.items()), usage)
    status, out = post(server, path, body)
    if status != 200:
        return ("failed", status, out)
    for c in out["choices"]:
        lp = c.get("logprobs")
        choices[c["index"]] = {
            "text": c.get("text", c.get("message", {}).get("content")),
            "finish": c["finish_reason"], "tokens": c["tokens"],
            "lp": (lp.get("token_logprobs", lp.get("content", [])) if lp else [])}
    return ("ok", sorted(choices.items()), out["usage"])


def disconnect(server, path, body, streaming):
    """A client that sends a request and goes away: after the first event of
    a stream, or right after sending a non-streaming request."""
    data = json.dumps({**body, "stream": streaming, "max_tokens": 40}).encode()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        if streaming:
            buf = b""
            while b"data: " not in buf:
                b = s.recv(4096)
                if not b:
                    break
                buf += b
        else:
            time.sleep(0.05)
    finally:
        s.close()
    return "gone"


def settle_rss(server, limit, seconds=5.0):
    """VmRSS once it is at most `limit` (or the last reading after `seconds`)."""
    end = time.time() + seconds
    rss = server.rss_kib()
    while rss > limit and time.time() < end:
        time.sleep(0.1)
        rss = server.rss_kib()
    return rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--colm", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    os.makedirs(a.tmp, exist_ok=True)
    # D = 128: big enough that a sequence's cache and buffers would show in
    # VmRSS if requests leaked, small enough for the interpreter.
    model = tiny_model(a.tmp, "load", head_dim=32)
    pool = request_pool()
    with Server(a.colm, model, a.tmp, "--max-batch", str(MAX_BATCH), "--max-context", "96",
                name="load") as srv:
        check(srv.port, "server starts: " + srv.line.strip())
        start = time.time()
        alone = [normalise(path, body, srv) for path, body in pool]
        check(all(r[0] == "ok" for r in alone),
              f"{len(pool)} distinct requests answered one at a time in "
              f"{time.time() - start:.1f}s")
        time.sleep(0.3)
        idle = srv.rss_kib()

        rng = random.Random(11)
        jobs = []
        for j in range(LOAD):
            k = rng.randrange(len(pool))
            kind = "disconnect" if j % DISCONNECT_EVERY == DISCONNECT_EVERY - 1 else "normal"
            jobs.append((k, kind, j % 20 != 9))  # most disconnects are mid-stream

        def run(job):
            k, kind, streaming = job
            path, body = pool[k]
            if kind == "disconnect":
                return disconnect(srv, path, body, streaming)
            return normalise(path, body, srv)

        peak = [idle]
        running = [True]

        def sample():
            while running[0]:
                peak[0] = max(peak[0], srv.rss_kib() or 0)
                time.sleep(0.02)

        start = time.time()
        with concurrent.futures.ThreadPoolExecutor(max_workers=IN_FLIGHT + 1) as ex:
            sampler = ex.submit(sample)
            answers = list(ex.map(run, jobs))
            running[0] = False
            sampler.result()
        took = time.time() - start
        normal = [(job, ans) for job, ans in zip(jobs, answers) if job[1] == "normal"]
        failed = [ans for _, ans in normal if ans[0] != "ok"]
        same = sum(ans == alone[job[0]] for job, ans in normal)
        check(not failed, f"{len(normal)} well-formed requests, {IN_FLIGHT} in flight, "
              f"{LOAD - len(normal)} clients disconnecting: {len(failed)} failed "
              f"{failed[:1]}")
        check(same == len(normal), f"every answer equals the same request alone "
              f"({same}/{len(normal)})")
        check(took < TIME_LIMIT_S, f"{LOAD} requests in {took:.1f}s")

        # Every request finished (the log has a line per request), and the
        # memory is back to its idle level.
        end = time.time() + 10
        while time.time() < end:
            lines = [l for l in srv.log().splitlines() if " generated tokens, " in l]
            if len(lines) >= len(pool) + LOAD:
                break
            time.sleep(0.1)
        cancelled = sum("cancelled" in l for l in lines)
        check(len(lines) == len(pool) + LOAD and cancelled >= 1,
              f"the log has a line for each of the {len(pool) + LOAD} requests "
              f"({cancelled} cancelled)")
        rss = settle_rss(srv, idle + RSS_TOLERANCE_KIB)
        check(rss <= idle + RSS_TOLERANCE_KIB,
              f"VmRSS back to idle: {rss} KiB after the load (peak {peak[0]}), {idle} KiB "
              f"idle before (tolerance {RSS_TOLERANCE_KIB} KiB)")
        status, _ = post(srv, "/v1/completions", {"prompt": [1, 2], "max_tokens": 1})
        check(status == 200, "the server still answers")
    check(srv.proc.returncode == 0, f"server stops cleanly ({srv.proc.returncode})")
    return summary()


if __name__ == "__main__":
    raise SystemExit(run(main))
