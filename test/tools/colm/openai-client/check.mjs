// The official `openai` npm client (the version package.json pins) against
// `colm serve` on 127.0.0.1: models, completions and chat completions,
// streaming and not, n, logprobs, and OpenAI's 404 for another model.
// Bounded: one tiny model, a few requests, a time limit.
//
// Usage: node check.mjs --colm BIN --tmp DIR
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import path from "node:path";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";

const arg = (name) => process.argv[process.argv.indexOf(name) + 1];
const colm = arg("--colm");
const tmp = arg("--tmp");
mkdirSync(tmp, { recursive: true });

let passed = 0, failed = 0;
function check(ok, what) {
  ok ? passed++ : failed++;
  console.log(`${ok ? "PASS" : "FAIL"}: ${what}`);
}

// A tiny model named "tiny" (the id /v1/models gives it).
const config = path.join(tmp, "tiny.json");
const model = path.join(tmp, "tiny");
writeFileSync(config, JSON.stringify({
  vocab_size: 256, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, chains: [2, 2],
  kv_sharing: true, max_position_embeddings: 256,
}));
execFileSync(colm, ["init", "--config", config, "--out", model, "--force", "--seed", "5"],
             { stdio: ["ignore", "ignore", "inherit"] });

const server = spawn(colm, ["serve", "--model", model, "--port", "0"],
                     { stdio: ["ignore", "pipe", "inherit"] });
const limit = setTimeout(() => {
  console.log("FAIL: time limit (60 s) reached");
  server.kill("SIGKILL");
  process.exit(1);
}, 60000);
const line = await new Promise((resolve) => {
  createInterface({ input: server.stdout }).once("line", resolve);
});
const port = Number(line.split(":").pop());
check(line.includes("listening on http://127.0.0.1:"), `server starts: ${line}`);
const here = path.dirname(fileURLToPath(import.meta.url));
const version = JSON.parse(readFileSync(path.join(here, "node_modules", "openai",
                                                  "package.json"))).version;
console.log(`openai ${version} on node ${process.version}`);

const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "unused",
                            maxRetries: 0, timeout: 30000 });
try {
  const models = await client.models.list();
  const ids = models.data.map((m) => m.id);
  // The model and an alias per sub-model (NAME@kN).
  check(ids[0] === "tiny" && ids.length > 1 &&
        ids.slice(1).every((id, i) => id === `tiny@k${i + 1}`),
        `models.list(): ${JSON.stringify(ids)}`);

  const params = { model: "tiny", prompt: "Hello", max_tokens: 8, temperature: 0 };
  const c = await client.completions.create(params);
  check(c.object === "text_completion" && c.choices[0].finish_reason === "length" &&
        c.usage.completion_tokens === 8,
        `completions.create: ${JSON.stringify(c.choices[0].text)}, usage ${JSON.stringify(c.usage)}`);
  let streamed = "", finish = null;
  for await (const chunk of await client.completions.create({ ...params, stream: true })) {
    for (const ch of chunk.choices) {
      streamed += ch.text;
      finish = ch.finish_reason ?? finish;
    }
  }
  check(streamed === c.choices[0].text && finish === "length",
        "completions.create({stream: true}) streams the same text");

  const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }];
  const chat = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 8,
                                                      temperature: 0 });
  const content = chat.choices[0].message.content;
  check(chat.object === "chat.completion" && chat.choices[0].message.role === "assistant" &&
        typeof content === "string",
        `chat.completions.create: ${JSON.stringify(content)}, ${chat.choices[0].finish_reason}`);
  let deltas = "", role = null, usage = null;
  const s = await client.chat.completions.create({
    model: "tiny", messages, max_tokens: 8, temperature: 0, stream: true,
    stream_options: { include_usage: true } });
  for await (const chunk of s) {
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      role = ch.delta.role ?? role;
      deltas += ch.delta.content ?? "";
    }
  }
  check(deltas === content && role === "assistant" && usage &&
        usage.total_tokens === chat.usage.total_tokens,
        `chat.completions.create({stream: true}): same content, usage ${JSON.stringify(usage)}`);

  const n = await client.chat.completions.create({
    model: "tiny", messages, max_tokens: 4, temperature: 1, seed: 3, n: 2,
    logprobs: true, top_logprobs: 2 });
  check(n.choices.length === 2 && n.choices.every((ch) =>
          ch.logprobs.content.length === 4 &&
          ch.logprobs.content.every((t) => t.top_logprobs.length === 2)),
        "n: 2 with logprobs: 2 choices of 4 tokens with 2 alternatives each");

  try {
    await client.completions.create({ ...params, model: "gpt-4" });
    check(false, "a request for another model fails");
  } catch (e) {
    check(e instanceof OpenAI.NotFoundError && e.status === 404 && e.code === "model_not_found",
          `another model: ${e.constructor.name} ${e.status} ${e.code}: ${e.message}`);
  }
} catch (e) {
  check(false, `unexpected error: ${e.stack ?? e}`);
}

server.kill("SIGTERM");
const code = await new Promise((resolve) => server.once("exit", (c) => resolve(c)));
check(code === 0, `server stops cleanly (exit ${code})`);
clearTimeout(limit);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
