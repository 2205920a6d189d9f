"""`colm serve` OpenAI compatibility, on 127.0.0.1 with a tiny model:

- null for any optional field means its default; unsupported OpenAI fields are
  ignored with a line in the log; unknown fields are still 400s;
- logprobs (and echo with logprobs) equal log-softmax of `colm forward`'s
  logits; frequency/presence penalties and logit_bias pick the argmax of the
  penalised scores; n choices equal single requests with seeds s, s+1, ...;
  a seed reproduces; stream_options.include_usage adds a usage chunk;
- /v1/chat/completions (plain template) equals /v1/completions of the
  templated prompt, streaming and not; its default max_tokens fills the
  context;
- /v1/models lists the directory's name; another model gets OpenAI's 404.

Usage: serve_openai.py --colm BIN --tmp DIR
"""
import argparse
import json
import math
import os
import subprocess

import numpy as np

from serve_util import Server, run, check, post, request, stream, summary, tiny_model

MAX_CONTEXT = 64


def log_softmax_rows(colm, model, tokens, chains, tmp):
    """log-softmax of `colm forward`'s logits [T, V] for `tokens`."""
    out = os.path.join(tmp, "logits.npy")
    subprocess.run([colm, "forward", "--model", model, "--tokens", ",".join(map(str, tokens)),
                    "--chains", str(chains), "--logits-out", out], check=True,
                   capture_output=True)
    z = np.load(out).astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def token_id(display):
    """The byte token of a logprobs key: the character, or "bytes:\\xNN"."""
    return int(display[8:], 16) if display.startswith("bytes:\\x") else ord(display)


def template(messages):
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--colm", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    os.makedirs(a.tmp, exist_ok=True)
    model = tiny_model(a.tmp, "tiny-air")
    with Server(a.colm, model, a.tmp, "--max-context", str(MAX_CONTEXT)) as srv:
        check(srv.port, "server starts: " + srv.line.strip())
        C = "/v1/completions"
        H = "/v1/chat/completions"

        # null means the default; a body of every optional field as null.
        nulls = {k: None for k in [
            "model", "suffix", "max_tokens", "temperature", "top_p", "n", "stream",
            "stream_options", "logprobs", "echo", "stop", "presence_penalty",
            "frequency_penalty", "best_of", "logit_bias", "user", "seed", "top_k",
            "repetition_penalty", "chains", "chain_schedule", "prefill_chains"]}
        status, out = post(srv, C, {"prompt": "Hi", **nulls})
        check(status == 200 and out["usage"]["completion_tokens"] == 16,
              f"completions: every optional field null: {status}, "
              f"{out.get('usage') if isinstance(out, dict) else out}")
        chat_nulls = {k: None for k in [
            "model", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n",
            "stream", "stream_options", "logprobs", "top_logprobs", "stop",
            "presence_penalty", "frequency_penalty", "logit_bias", "user", "seed",
            "tools", "tool_choice", "response_format", "parallel_tool_calls"]}
        status, out = post(srv, H, {"messages": [{"role": "user", "content": "Hi",
                                                  "name": None}], **chat_nulls})
        check(status == 200 and out["object"] == "chat.completion",
              f"chat: every optional field null: {status}")

        # Unsupported OpenAI fields: ignored, with a line in the log.
        status, _ = post(srv, C, {"prompt": "Hi", "max_tokens": 2, "best_of": 3,
                                  "suffix": "!", "user": "u1"})
        status2, _ = post(srv, H, {"messages": [{"role": "user", "content": "Hi"}],
                                   "max_tokens": 2,
                                   "response_format": {"type": "json_object"},
                                   "tools": [{"type": "function",
                                              "function": {"name": "f"}}]})
        log = srv.log()
        check(status == 200 and status2 == 200 and
              "ignoring unsupported fields: best_of, suffix" in log.replace(
                  "suffix, best_of", "best_of, suffix") and
              "ignoring unsupported fields: response_format, tools" in log,
              "unsupported fields are ignored with a warning: " +
              " | ".join(l for l in log.splitlines() if "ignoring" in l))
        status, out = post(srv, C, {"prompt": "Hi", "frobnicate": 1})
        check(status == 400 and out["error"]["param"] == "frobnicate",
              f"an unknown field is still a 400 naming it: {out['error']}")
        check(set(out["error"]) == {"message", "type", "param", "code"},
              f"errors have OpenAI's shape: {sorted(out['error'])}")

        # logprobs: log-softmax of the model's logits (colm forward).
        prompt = [72, 105, 32, 116]
        for chains in (1, 3):
            status, out = post(srv, C, {"prompt": prompt, "max_tokens": 6, "temperature": 0,
                                        "logprobs": 3, "chains": chains})
            ch = out["choices"][0]
            lp = ch["logprobs"]
            toks = ch["tokens"]
            ref = log_softmax_rows(a.colm, model, prompt + toks[:-1], chains, a.tmp)
            want = [ref[len(prompt) - 1 + i][t] for i, t in enumerate(toks)]
            err = max(abs(x - y) for x, y in zip(lp["token_logprobs"], want))
            tops_ok = all(len(t) >= 1 and len(t) <= 4 for t in lp["top_logprobs"])
            greedy_ok = all(abs(max(t.values()) - v) < 1e-6
                            for t, v in zip(lp["top_logprobs"], lp["token_logprobs"]))
            offsets_ok = lp["text_offset"] == list(range(len(toks)))  # one byte per token
            check(status == 200 and err < 1e-4 and tops_ok and greedy_ok and offsets_ok and
                  len(lp["tokens"]) == len(toks),
                  f"logprobs ({chains} chains) equal colm forward's log-softmax "
                  f"(max error {err:.2e}); greedy picks the top one")

        # echo, with and without logprobs.
        status, out = post(srv, C, {"prompt": "Hello", "max_tokens": 0, "echo": True})
        check(status == 200 and out["choices"][0]["text"] == "Hello",
              f"echo with max_tokens 0 returns the prompt: {out['choices'][0]['text']!r}")
        status, out = post(srv, C, {"prompt": prompt, "max_tokens": 3, "temperature": 0,
                                    "echo": True, "logprobs": 1})
        ch = out["choices"][0]
        lp = ch["logprobs"]
        ref = log_softmax_rows(a.colm, model, prompt + ch["tokens"][:-1], 3, a.tmp)
        seq = prompt + ch["tokens"]
        want = [None] + [ref[i - 1][seq[i]] for i in range(1, len(seq))]
        got = lp["token_logprobs"]
        err = max(abs(x - y) for x, y in zip(got[1:], want[1:]))
        check(status == 200 and got[0] is None and lp["top_logprobs"][0] is None and
              len(got) == len(seq) and err < 1e-4 and
              ch["text"].startswith(bytes(prompt).decode()),
              f"echo + logprobs: the prompt's logprobs equal colm forward's (max error "
              f"{err:.2e}), the first is null")

        # Penalties and logit_bias: every token is the argmax of the penalised
        # scores among the 20 most likely.
        for name, extra in [("frequency_penalty", {"frequency_penalty": 1.5}),
                            ("presence_penalty", {"presence_penalty": 1.5}),
                            ("both", {"frequency_penalty": -0.5, "presence_penalty": 2})]:
            status, out = post(srv, C, {"prompt": prompt, "max_tokens": 12, "temperature": 0,
                                        "logprobs": 20, **extra})
            ch = out["choices"][0]
            plain = post(srv, C, {"prompt": prompt, "max_tokens": 12, "temperature": 0})[1]
            fp, pp = extra.get("frequency_penalty", 0), extra.get("presence_penalty", 0)
            ok, counts = True, {}
            for t, top in zip(ch["tokens"], ch["logprobs"]["top_logprobs"]):
                scores = {token_id(k): v for k, v in top.items()}
                pen = {k: v - counts.get(k, 0) * fp - (counts.get(k, 0) > 0) * pp
                       for k, v in scores.items()}
                if t not in pen or pen[t] < max(pen.values()) - 1e-6:
                    ok = False
                counts[t] = counts.get(t, 0) + 1
            check(status == 200 and ok,
                  f"{name}: each token is the penalised argmax "
                  f"({'differs from' if plain['choices'][0]['tokens'] != ch['tokens'] else 'same as'}"
                  f" the unpenalised answer)")
        status, out = post(srv, C, {"prompt": prompt, "max_tokens": 5, "temperature": 0,
                                    "logit_bias": {"90": 100}})
        check(status == 200 and out["choices"][0]["tokens"] == [90] * 5,
              f"logit_bias +100 forces the token: {out['choices'][0]['tokens']}")

        # n and seed: choice i is the single request with seed + i.
        body = {"prompt": prompt, "max_tokens": 8, "temperature": 1.0, "seed": 11}
        status, out = post(srv, C, {**body, "n": 3})
        singles = [post(srv, C, {**body, "seed": 11 + i})[1]["choices"][0]["tokens"]
                   for i in range(3)]
        got = [c["tokens"] for c in sorted(out["choices"], key=lambda c: c["index"])]
        check(status == 200 and got == singles and len({tuple(g) for g in got}) > 1 and
              out["usage"]["prompt_tokens"] == len(prompt) and
              out["usage"]["completion_tokens"] == 24,
              f"n=3 gives the choices of seeds 11, 12, 13: {got == singles}; usage "
              f"{out['usage']}")
        again = post(srv, C, body)[1]["choices"][0]["tokens"]
        check(again == singles[0], "the same seed gives the same tokens")
        status, out = post(srv, C, {"prompt": ["ab", "cd"], "max_tokens": 3,
                                    "temperature": 0, "n": 2})
        texts = [c["text"] for c in out["choices"]]
        alone = [post(srv, C, {"prompt": p, "max_tokens": 3, "temperature": 0})[1]
                 ["choices"][0]["text"] for p in ("ab", "cd")]
        check(status == 200 and texts == [alone[0]] * 2 + [alone[1]] * 2,
              f"a batch of 2 prompts with n=2: 4 choices in order")

        # Streaming: n=2 and include_usage.
        events, done = stream(srv, C, {**body, "n": 2, "stream": True,
                                       "stream_options": {"include_usage": True}})
        text = {0: "", 1: ""}
        for e in events[:-1]:
            for c in e["choices"]:
                text[c["index"]] += c["text"]
        last = events[-1]
        whole = post(srv, C, {**body, "n": 2})[1]
        want = {c["index"]: c["text"] for c in whole["choices"]}
        check(done and text == want and last["choices"] == [] and
              last["usage"] == whole["usage"] and
              all(e.get("usage", 0) is None for e in events[:-1]),
              f"streaming n=2 equals the non-streaming answer; include_usage adds "
              f"{last.get('usage')}")

        # Chat: the plain template; equals the completion of the templated prompt.
        messages = [{"role": "system", "content": "Be brief."},
                    {"role": "user", "content": [{"type": "text", "text": "Hi"},
                                                 {"type": "text", "text": " there"}]}]
        flat = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi there"}]
        status, out = post(srv, H, {"messages": messages, "max_tokens": 10, "temperature": 0})
        comp = post(srv, C, {"prompt": template(flat), "max_tokens": 10, "temperature": 0,
                             "stop": "\nuser:"})[1]
        msg = out["choices"][0]["message"]
        check(status == 200 and msg["role"] == "assistant" and
              msg["content"] == comp["choices"][0]["text"] and
              out["usage"]["prompt_tokens"] == len(template(flat).encode()) and
              out["id"].startswith("chatcmpl-") and out["chains"] == 3,
              f"chat equals the completion of the plain template: {msg['content']!r}")
        events, done = stream(srv, H, {"messages": messages, "max_tokens": 10,
                                       "temperature": 0, "stream": True})
        deltas = [e["choices"][0]["delta"] for e in events]
        content = "".join(d.get("content", "") for d in deltas)
        check(done and deltas[0].get("role") == "assistant" and content == msg["content"] and
              events[-1]["choices"][0]["finish_reason"] in ("length", "stop") and
              all(e["object"] == "chat.completion.chunk" for e in events),
              f"streaming chat: deltas add up to the same content, role first")
        status, out = post(srv, H, {"messages": messages, "max_tokens": 4, "temperature": 0,
                                    "logprobs": True, "top_logprobs": 2})
        content_lp = out["choices"][0]["logprobs"]["content"]
        check(status == 200 and len(content_lp) == 4 and
              all(len(c["top_logprobs"]) == 2 and isinstance(c["bytes"], list)
                  for c in content_lp),
              "chat logprobs: one entry per token with 2 alternatives")
        status, out = post(srv, H, {"messages": [{"role": "user", "content": "Hi"}],
                                    "temperature": 0, "stop": ["\x00never"]})
        u = out["usage"]
        check(status == 200 and (out["choices"][0]["finish_reason"] == "stop" or
                                 u["prompt_tokens"] + u["completion_tokens"] ==
                                 MAX_CONTEXT + 1),
              f"chat without max_tokens runs to the context: {u}, "
              f"{out['choices'][0]['finish_reason']}")
        status, out = post(srv, H, {"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "x"}}]}]})
        check(status == 400 and "only text" in out["error"]["message"],
              f"an image part: {status} {out['error']['message']}")

        # Models: the directory's name and an alias per sub-model
        # (NAME@kN); another model is OpenAI's 404.
        status, out, _ = request(srv.url + "/v1/models")
        ids = [m["id"] for m in out["data"]]
        aliases = [f"tiny-air@k{k}" for k in range(1, len(ids))]
        check(status == 200 and len(ids) > 1 and ids == ["tiny-air"] + aliases,
              f"/v1/models lists {ids}")
        status, out, _ = request(srv.url + "/v1/models/tiny-air")
        check(status == 200 and out["id"] == "tiny-air", "GET /v1/models/tiny-air")
        status, out, _ = request(srv.url + "/v1/models/tiny-air@k1")
        check(status == 200 and out["id"] == "tiny-air@k1" and out["chains"] == 1,
              "GET /v1/models/tiny-air@k1")
        status, out, _ = request(srv.url + "/v1/models/gpt-4")
        check(status == 404 and out["error"]["code"] == "model_not_found",
              f"GET /v1/models/gpt-4: {status} {out['error']}")
        for path, body in [(C, {"prompt": "x", "model": "gpt-4"}),
                           (H, {"messages": [{"role": "user", "content": "x"}],
                                "model": model})]:
            status, out = post(srv, path, body)
            check(status == 404 and out["error"]["code"] == "model_not_found" and
                  out["error"]["param"] == "model" and
                  out["error"]["type"] == "invalid_request_error",
                  f"{path} for model {body['model']!r}: {status} {out['error']['message']}")
        status, out = post(srv, C, {"prompt": "x", "model": "tiny-air", "max_tokens": 1})
        check(status == 200 and out["model"] == "tiny-air", "a request naming the model")
    return summary()


if __name__ == "__main__":
    raise SystemExit(run(main))
