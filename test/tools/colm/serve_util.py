"""Helpers of the `colm serve` tests: tiny models, a server on 127.0.0.1 with a
bounded lifetime, JSON and server-sent-event requests, PASS/FAIL lines."""
import json
import os
import socket
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
    if not ok:
        # Also on stderr: lit shows it whole where FileCheck elides stdout.
        print("FAIL: " + what, file=sys.stderr, flush=True)
    return bool(ok)


def summary():
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


def tiny_model(tmp, name, vocab=256, chains=(1, 1, 2), kv_sharing=True, seed=3,
               max_position=128, head_dim=4):
    """A random CoLM(-Air) small enough for the reference interpreter."""
    config = colm_ref.make_config(list(chains), kv_sharing=kv_sharing, hd=head_dim,
                                  vocab=vocab, layers=2)
    config["max_position_embeddings"] = max_position
    path = os.path.join(tmp, name)
    colm_ref.random_model(config, seed=seed, out_dir=path, std=0.5)
    return path


def slow_model(colm, tmp, name="big"):
    """A model slow enough per token that a long generation takes seconds."""
    path = os.path.join(tmp, name)
    cfg = os.path.join(tmp, name + ".json")
    with open(cfg, "w") as f:
        # 8000 tokens take seconds even on the compiled backend's fastest
        # decode steps (2000 at D = 256 once took under half a second).
        json.dump({"vocab_size": 256, "hidden_size": 384, "intermediate_size": 768,
                   "num_hidden_layers": 3, "num_attention_heads": 6,
                   "num_key_value_heads": 2, "chains": [2, 2, 2], "kv_sharing": True,
                   "max_position_embeddings": 8192}, f)
    subprocess.run([colm, "init", "--config", cfg, "--out", path, "--force"], check=True,
                   capture_output=True)
    return path


class Server:
    """`colm serve --port 0` on 127.0.0.1; stderr (the request log) goes to a file."""

    def __init__(self, colm, model, tmp, *flags, name="serve"):
        self.log_path = os.path.join(tmp, name + ".log")
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen([colm, "serve", "--model", model, "--port", "0", *flags],
                                     stdout=subprocess.PIPE, stderr=self.log_file, text=True)
        self.line = self.proc.stdout.readline()
        self.port = int(self.line.rsplit(":", 1)[1]) if "listening on" in self.line else None
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
        return self.proc.returncode

    def log(self):
        self.log_file.flush()
        with open(self.log_path) as f:
            return f.read()

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def request(url, body=None, method=None, raw=None, timeout=60, headers=None):
    """(status, parsed JSON or text, response headers)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text, hdrs = r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        status, text, hdrs = e.code, e.read().decode(), e.headers
    try:
        return status, json.loads(text), hdrs
    except ValueError:
        return status, text, hdrs


def post(server, path, body, timeout=60):
    status, out, _ = request(server.url + path, body, timeout=timeout)
    return status, out


def stream(server, path, body, timeout=60):
    """The JSON events of a server-sent-event answer, and whether it ended in [DONE]."""
    req = urllib.request.Request(server.url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        text = r.read().decode()
    events = [e[6:] for e in text.split("\n\n") if e.startswith("data: ")]
    done = bool(events) and events[-1] == "[DONE]"
    return [json.loads(e) for e in events if e != "[DONE]"], done


def raw_http(port, data, timeout=5.0):
    """Sends bytes on a fresh connection and reads one response (by its
    Content-Length, or to the end); (seconds until the first response bytes or
    None, status or None, response text)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    start = time.time()
    try:
        s.sendall(data)
        buf, first = b"", None
        while True:
            try:
                b = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if first is None:
                first = time.time() - start
            if not b:
                break
            buf += b
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep:
                length = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
                          if l.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break
        text = buf.decode(errors="replace")
        status = int(text.split(" ", 2)[1]) if text.startswith("HTTP/") else None
        return first, status, text
    finally:
        s.close()


def run(main):
    """Runs a test's main(); an unexpected exception is a FAIL line too."""
    import traceback
    try:
        return main()
    except Exception:  # noqa: BLE001 - report anything, then fail
        traceback.print_exc()
        check(False, "unexpected exception (traceback above)")
        return summary()
