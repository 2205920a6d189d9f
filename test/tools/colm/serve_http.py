"""`colm serve` HTTP edge cases, on 127.0.0.1 only, every wait bounded:

- a second server on a port in use fails with a clear error (no SO_REUSEPORT);
- a POST without a body gets a 400 at once; wrong methods get 405 with Allow;
- a hundred idle connections that never send a byte do not delay /health;
  idle connections are bounded (the oldest close first) and time out;
- keep-alive connections serve several requests;
- a non-streaming client that disconnects has its generation cancelled.

Usage: serve_http.py --colm BIN --tmp DIR
"""
import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import time

from serve_util import Server, run, check, raw_http, request, slow_model, summary, tiny_model


def closed_by_server(s):
    """True when the server closed the connection (reads end of file)."""
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--colm", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    os.makedirs(a.tmp, exist_ok=True)
    model = tiny_model(a.tmp, "air")

    with Server(a.colm, model, a.tmp, name="first") as first:
        check(first.port, "the first server listens: " + first.line.strip())
        port = first.port

        # 1. The same port again: a clear error, not a second listener.
        second = subprocess.Popen([a.colm, "serve", "--model", model, "--port", str(port)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = second.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            second.kill()
            out, err = second.communicate()
        check(second.returncode not in (0, None) and "already in use" in err
              and "listening" not in out,
              f"a second server on port {port} fails (exit {second.returncode}): "
              f"{err.strip() or out.strip()}")
        # Every request still reaches the one model.
        codes = [request(first.url + "/health", timeout=5)[0] for _ in range(10)]
        check(codes == [200] * 10, f"the first server answers every request: {codes}")

        # The listen backlog is larger than httplib's 5.
        if shutil.which("ss"):
            ss = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True,
                                text=True).stdout.split()
            backlog = int(ss[2]) if len(ss) > 2 and ss[2].isdigit() else 0
            check(backlog >= 128, f"listen backlog {backlog}")

        # 16. A POST with no body: 400 at once, not after the read timeout.
        # (httplib waited for the body until its 5 s read timeout.)
        t, status, text = raw_http(port, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n\r\n",
                                   timeout=4)
        check(status == 400 and t is not None and t < 2.5 and "no body" in text,
              f"a POST without a body: {status} after {t if t is None else round(t, 3)}s")
        t, status, text = raw_http(
            port, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            timeout=4)
        check(status == 400 and t is not None and t < 2.5 and "empty" in text,
              f"a POST with an empty body: {status} after {t if t is None else round(t, 3)}s")

        # Wrong methods: 405 with the allowed ones.
        for method, path, allow in [("GET", "/v1/completions", "POST"),
                                    ("PUT", "/v1/chat/completions", "POST"),
                                    ("DELETE", "/health", "GET, HEAD"),
                                    ("POST", "/v1/models", "GET, HEAD")]:
            status, body, hdrs = request(first.url + path, method=method,
                                         raw=b"{}" if method in ("PUT", "POST") else None,
                                         timeout=5)
            message = body.get("error", {}).get("message", "") if isinstance(body, dict) else ""
            check(status == 405 and hdrs.get("Allow") == allow and method in message,
                  f"{method} {path}: {status}, Allow: {hdrs.get('Allow')}, {message}")
        status, body, _ = request(first.url + "/v1/nothing", timeout=5)
        check(status == 404 and "no such endpoint" in json.dumps(body),
              f"an unknown path: {status}")

        # A hundred connections that never send a byte; /health is not delayed.
        # (Paced, so that the server accepts every one of them.)
        idle = []
        for _ in range(100):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            time.sleep(0.005)
        time.sleep(0.2)
        start = time.time()
        status, _, _ = request(first.url + "/health", timeout=10)
        took = time.time() - start
        check(status == 200 and took < 2.5,  # httplib: about 5 s
              f"/health with 100 idle connections open: {status} in {took:.3f}s")
        status, out, _ = request(first.url + "/v1/completions",
                                 {"prompt": [1, 2, 3], "max_tokens": 3, "temperature": 0},
                                 timeout=10)
        check(status == 200, f"a completion with 100 idle connections open: {status}")
        for s in idle:
            s.close()

        # Keep-alive: several requests on one connection.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        statuses, locals_ = [], set()
        for i in range(5):
            conn.request("POST", "/v1/completions",
                         json.dumps({"prompt": [1, 2 + i], "max_tokens": 2, "temperature": 0}),
                         {"Content-Type": "application/json"})
            locals_.add(conn.sock.getsockname())
            r = conn.getresponse()
            r.read()
            statuses.append(r.status)
        conn.close()
        check(statuses == [200] * 5 and len(locals_) == 1,
              f"5 requests on one keep-alive connection: {statuses}")
    check(first.proc.returncode == 0, f"the first server stops cleanly ({first.proc.returncode})")

    # Bounded idle connections, oldest first, and the idle timeout.
    with Server(a.colm, model, a.tmp, "--max-idle-connections", "20", "--idle-timeout", "1",
                name="bounded") as srv:
        check(srv.port, "a server with --max-idle-connections 20 --idle-timeout 1 starts")
        if srv.port:
            idle = []
            for _ in range(60):
                idle.append(socket.create_connection(("127.0.0.1", srv.port), timeout=5))
                time.sleep(0.002)
            time.sleep(0.5)
            closed = [closed_by_server(s) for s in idle]
            check(sum(closed) >= 40 and not any(closed[-15:]),
                  f"60 idle connections, at most 20 kept: {sum(closed)} closed, the newest kept")
            status, _, _ = request(srv.url + "/health", timeout=5)
            check(status == 200, "/health answers")
            time.sleep(2.0)
            closed = [closed_by_server(s) for s in idle]
            check(all(closed), f"after the idle timeout every idle connection is closed "
                  f"({sum(closed)}/60)")
            for s in idle:
                s.close()

            # A client that trickles its headers is cut off after the timeout.
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            s.settimeout(0.05)
            start, cut, answer = time.time(), None, b""
            try:
                s.sendall(b"GET /health HTTP/1.1\r\n")
                while time.time() - start < 4 and cut is None:
                    try:
                        s.sendall(b"X-Slow: 1\r\n")
                        b = s.recv(4096)
                        answer += b
                        if not b or answer.startswith(b"HTTP/"):
                            cut = time.time() - start
                    except socket.timeout:
                        pass
                    except OSError:
                        cut = time.time() - start
                    time.sleep(0.25)
            finally:
                s.close()
            check(cut is not None and cut < 2.5,
                  f"headers trickled for longer than --idle-timeout 1: cut off after "
                  f"{cut if cut is None else round(cut, 2)}s {answer[:12]!r}")

    # A non-streaming client that disconnects: its generation is cancelled.
    big = slow_model(a.colm, a.tmp)
    with Server(a.colm, big, a.tmp, "--max-batch", "1", name="disconnect") as srv:
        body = json.dumps({"prompt": "a", "max_tokens": 8000}).encode()
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        time.sleep(0.5)  # generation is running
        s.close()        # and the client goes away
        start = time.time()
        status, _ = request(srv.url + "/v1/completions", {"prompt": "b", "max_tokens": 1},
                            timeout=60)[:2]
        took = time.time() - start
        log = srv.log()
        check(status == 200 and "cmpl-1: 1 prompt" in log and
              "cancelled: the client disconnected" in log,
              f"a disconnected non-streaming request is cancelled; the next one took "
              f"{took:.2f}s: " +
              next((l for l in log.splitlines() if l.startswith("cmpl-1:")), "(no log line)"))
    return summary()


if __name__ == "__main__":
    raise SystemExit(run(main))
