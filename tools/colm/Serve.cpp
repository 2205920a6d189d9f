//===- Serve.cpp - colm serve: an OpenAI-compatible completions server ----===//
//
// The routes, the OpenAI-shaped answers (whole and streamed) and the
// server's life; the connections are ServeHttp's, the requests
// ServeRequest's, the batching Scheduler's.
//
//===----------------------------------------------------------------------===//
#include "tools/colm/Commands.h"

#include "compiler/Graph.h"
#include "runtime/Json.h"
#include "runtime/Model.h"
#include "tools/colm/Args.h"
#include "tools/colm/Scheduler.h"
#include "tools/colm/ServeHttp.h"
#include "tools/colm/ServeRequest.h"

#include "mlir/IR/MLIRContext.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

namespace colm::cli {
namespace {

using Clock = std::chrono::steady_clock;

// The handler only counts; a watcher thread does the shutting down. A
// second signal exits at once.
std::atomic<int> signalsSeen{0};

void onSignal(int) {
  if (signalsSeen.fetch_add(1) > 0)
    std::_Exit(130);
}

//===----------------------------------------------------------------------===//
// Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
//===----------------------------------------------------------------------===//

JsonValue stringOrNull(const std::string &s) {
  return s.empty() ? JsonValue::null() : JsonValue::string(s);
}

std::string errorJson(const std::string &message, const char *type,
                      const std::string &param = "",
                      const std::string &code = "") {
  JsonValue e = JsonValue::object();
  e.set("message", JsonValue::string(message));
  e.set("type", JsonValue::string(type));
  e.set("param", stringOrNull(param));
  e.set("code", stringOrNull(code));
  JsonValue o = JsonValue::object();
  o.set("error", e);
  return writeJson(o, 0);
}

void fail(httplib::Response &res, int status, const std::string &message,
          const std::string &param = "", const std::string &code = "") {
  res.status = status;
  res.set_content(
      errorJson(message,
                status >= 500 ? "server_error" : "invalid_request_error", param,
                code),
      "application/json");
}

//===----------------------------------------------------------------------===//
// Responses.
//===----------------------------------------------------------------------===//

JsonValue logprobOrNull(double x) {
  return std::isnan(x)      ? JsonValue::null()
         : std::isfinite(x) ? JsonValue::number(x)
                            : JsonValue::number(-9999.0);
}

JsonValue byteArray(const std::string &s) {
  JsonValue a = JsonValue::array();
  for (unsigned char c : s)
    a.push(JsonValue::integer(c));
  return a;
}

/// OpenAI's legacy completions table; `offset` is the text offset of the
/// first token and moves past the last.
JsonValue completionLogprobs(const std::vector<serve::TokenLogprob> &lps,
                             const Tokenizer &tokenizer, int64_t &offset) {
  JsonValue tokens = JsonValue::array(), values = JsonValue::array(),
            tops = JsonValue::array(), offsets = JsonValue::array();
  for (const serve::TokenLogprob &t : lps) {
    tokens.push(JsonValue::string(serve::tokenDisplay(tokenizer, t.token)));
    values.push(logprobOrNull(t.logprob));
    if (std::isnan(t.logprob)) {
      tops.push(JsonValue::null());
    } else {
      JsonValue top = JsonValue::object();
      for (auto [id, lp] : t.top)
        top.set(serve::tokenDisplay(tokenizer, id), logprobOrNull(lp));
      // "up to logprobs + 1": the sampled token is always there.
      top.set(serve::tokenDisplay(tokenizer, t.token),
              logprobOrNull(t.logprob));
      tops.push(top);
    }
    offsets.push(JsonValue::integer(offset));
    offset += static_cast<int64_t>(tokenizer.decode({t.token}).size());
  }
  JsonValue o = JsonValue::object();
  o.set("tokens", tokens);
  o.set("token_logprobs", values);
  o.set("top_logprobs", tops);
  o.set("text_offset", offsets);
  return o;
}

JsonValue chatLogprobs(const std::vector<serve::TokenLogprob> &lps,
                       const Tokenizer &tokenizer) {
  auto entry = [&](int32_t id, double lp) {
    JsonValue e = JsonValue::object();
    e.set("token", JsonValue::string(serve::tokenDisplay(tokenizer, id)));
    e.set("logprob", logprobOrNull(lp));
    e.set("bytes", byteArray(tokenizer.decode({id})));
    return e;
  };
  JsonValue content = JsonValue::array();
  for (const serve::TokenLogprob &t : lps) {
    JsonValue e = entry(t.token, t.logprob);
    JsonValue top = JsonValue::array();
    for (auto [id, lp] : t.top)
      top.push(entry(id, lp));
    e.set("top_logprobs", top);
    content.push(e);
  }
  JsonValue o = JsonValue::object();
  o.set("content", content);
  return o;
}

/// What one request needs to write its answers.
struct Reply {
  serve::ServeRequest parsed;
  std::shared_ptr<CompletionRequest> request;
  std::string id, model;
  int64_t created = 0;
  const Tokenizer *tokenizer = nullptr;

  bool chat() const { return parsed.api == serve::Api::Chat; }

  JsonValue envelope(const char *object) const {
    JsonValue o = JsonValue::object();
    o.set("id", JsonValue::string(id));
    o.set("object", JsonValue::string(object));
    o.set("created", JsonValue::integer(created));
    o.set("model", JsonValue::string(model));
    // An extension: the chains of the sub-model at generated token 0.
    o.set("chains", JsonValue::integer(parsed.chains));
    return o;
  }

  JsonValue usage() const {
    int64_t prompt = 0, completion = 0;
    std::lock_guard<std::mutex> lock(request->mutex);
    for (size_t i = 0; i < request->choices.size(); ++i) {
      if (i % static_cast<size_t>(parsed.n) == 0)
        prompt += static_cast<int64_t>(request->choices[i].prompt.size());
      completion += request->results[i].completionTokens;
    }
    JsonValue u = JsonValue::object();
    u.set("prompt_tokens", JsonValue::integer(prompt));
    u.set("completion_tokens", JsonValue::integer(completion));
    u.set("total_tokens", JsonValue::integer(prompt + completion));
    // An extension: the tokens each chain count produced.
    std::map<unsigned, int64_t> byChains;
    for (const ChoiceResult &c : request->results)
      for (const auto &[k, count] : c.chainTokens)
        byChains[k] += count;
    JsonValue chains = JsonValue::object();
    for (const auto &[k, count] : byChains)
      chains.set(std::to_string(k), JsonValue::integer(count));
    u.set("chain_tokens", chains);
    return u;
  }
};

/// Waits for every choice; false when the client went away first.
bool collect(const Reply &r, std::vector<std::string> &texts,
             std::vector<std::vector<serve::TokenLogprob>> &logprobs) {
  size_t n = r.request->choices.size();
  texts.assign(n, "");
  logprobs.assign(n, {});
  std::vector<std::pair<size_t, StreamPiece>> pieces;
  const Connection *conn = currentRequestConnection();
  for (;;) {
    pieces.clear();
    bool more = r.request->next(pieces, std::chrono::milliseconds(100));
    for (auto &[i, piece] : pieces) {
      texts[i] += piece.text;
      for (auto &lp : piece.logprobs)
        logprobs[i].push_back(std::move(lp));
    }
    if (!more)
      return true;
    if (conn && clientClosed(*conn)) {
      r.request->cancelled = true; // nobody is waiting for the answer
      closeAfterThisResponse();
      return false;
    }
  }
}

void answer(const Reply &r, httplib::Response &res) {
  std::vector<std::string> texts;
  std::vector<std::vector<serve::TokenLogprob>> logprobs;
  if (!collect(r, texts, logprobs)) {
    fail(res, 500, "the client disconnected");
    return;
  }
  JsonValue usage = r.usage();
  std::lock_guard<std::mutex> lock(r.request->mutex);
  if (!r.request->error.empty()) {
    fail(res, 500, r.request->error);
    return;
  }
  JsonValue o = r.envelope(r.chat() ? "chat.completion" : "text_completion");
  JsonValue choices = JsonValue::array();
  for (size_t i = 0; i < texts.size(); ++i) {
    const serve::GenerationParams &p = r.request->choices[i];
    const ChoiceResult &c = r.request->results[i];
    JsonValue choice = JsonValue::object();
    choice.set("index", JsonValue::integer(static_cast<int64_t>(i)));
    if (r.chat()) {
      JsonValue message = JsonValue::object();
      message.set("role", JsonValue::string("assistant"));
      message.set("content", JsonValue::string(texts[i]));
      choice.set("message", message);
      choice.set("logprobs", p.logprobs >= 0
                                 ? chatLogprobs(logprobs[i], *r.tokenizer)
                                 : JsonValue::null());
    } else {
      choice.set("text", JsonValue::string(texts[i]));
      int64_t offset = 0;
      choice.set("logprobs",
                 p.logprobs >= 0
                     ? completionLogprobs(logprobs[i], *r.tokenizer, offset)
                     : JsonValue::null());
    }
    choice.set("finish_reason", JsonValue::string(c.finishReason));
    // An extension: the generated token ids, exact where text is lossy.
    JsonValue ids = JsonValue::array();
    for (int32_t t : c.tokens)
      ids.push(JsonValue::integer(t));
    choice.set("tokens", ids);
    choices.push(choice);
  }
  o.set("choices", choices);
  o.set("usage", usage);
  res.set_content(writeJson(o, 0), "application/json");
}

void stream(std::shared_ptr<Reply> r, httplib::Response &res) {
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream", [r](size_t, httplib::DataSink &sink) {
        const Connection *conn = currentRequestConnection();
        size_t n = r->request->choices.size();
        const char *object =
            r->chat() ? "chat.completion.chunk" : "text_completion";
        auto send = [&](const std::string &data) {
          std::string event = "data: " + data + "\n\n";
          if (sink.write(event.data(), event.size()))
            return true;
          r->request->cancelled = true; // the client went away
          return false;
        };
        auto chunk = [&](size_t i, const JsonValue *text,
                         const std::vector<serve::TokenLogprob> *lps,
                         int64_t *offset, const std::string &finish,
                         bool role = false) {
          JsonValue o = r->envelope(object);
          JsonValue choice = JsonValue::object();
          choice.set("index", JsonValue::integer(static_cast<int64_t>(i)));
          bool withLogprobs = lps && r->request->choices[i].logprobs >= 0;
          if (r->chat()) {
            JsonValue delta = JsonValue::object();
            if (role)
              delta.set("role", JsonValue::string("assistant"));
            if (text)
              delta.set("content", *text);
            choice.set("delta", delta);
            choice.set("logprobs", withLogprobs
                                       ? chatLogprobs(*lps, *r->tokenizer)
                                       : JsonValue::null());
          } else {
            choice.set("text", text ? *text : JsonValue::string(""));
            choice.set("logprobs",
                       withLogprobs
                           ? completionLogprobs(*lps, *r->tokenizer, *offset)
                           : JsonValue::null());
          }
          choice.set("finish_reason", stringOrNull(finish));
          JsonValue choices = JsonValue::array();
          choices.push(choice);
          o.set("choices", choices);
          if (r->parsed.includeUsage)
            o.set("usage", JsonValue::null());
          return writeJson(o, 0);
        };
        if (r->chat()) {
          JsonValue empty = JsonValue::string("");
          for (size_t i = 0; i < n; ++i)
            if (!send(chunk(i, &empty, nullptr, nullptr, "", /*role=*/true)))
              return false;
        }
        std::vector<int64_t> offsets(n, 0);
        std::vector<bool> ended(n, false);
        std::vector<std::pair<size_t, StreamPiece>> pieces;
        for (;;) {
          pieces.clear();
          bool more = r->request->next(pieces, std::chrono::milliseconds(100));
          for (auto &[i, piece] : pieces) {
            JsonValue text = JsonValue::string(piece.text);
            if (!send(chunk(i, &text, &piece.logprobs, &offsets[i], "")))
              return false;
          }
          // Choices that ended get their finish_reason as soon as they end.
          std::vector<std::pair<size_t, std::string>> finished;
          {
            std::lock_guard<std::mutex> lock(r->request->mutex);
            if (r->request->error.empty())
              for (size_t i = 0; i < n; ++i)
                if (!ended[i] && r->request->results[i].done &&
                    r->request->results[i].pieces.empty()) {
                  ended[i] = true;
                  finished.push_back({i, r->request->results[i].finishReason});
                }
          }
          for (auto &[i, why] : finished)
            if (!send(chunk(i, nullptr, nullptr, nullptr, why)))
              return false;
          if (!more)
            break;
          if (conn && clientClosed(*conn)) {
            r->request->cancelled = true;
            return false;
          }
        }
        std::string error;
        {
          std::lock_guard<std::mutex> lock(r->request->mutex);
          error = r->request->error;
        }
        if (!error.empty()) {
          if (!send(errorJson(error, "server_error")))
            return false;
        } else if (r->parsed.includeUsage) {
          JsonValue o = r->envelope(object);
          o.set("choices", JsonValue::array());
          o.set("usage", r->usage());
          if (!send(writeJson(o, 0)))
            return false;
        }
        std::string done = "data: [DONE]\n\n";
        sink.write(done.data(), done.size());
        sink.done();
        return true;
      });
}

/// The directory's name, never its path.
std::string directoryName(std::string path) {
  while (path.size() > 1 && path.back() == '/')
    path.pop_back();
  size_t slash = path.rfind('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  return name.empty() || name == "." || name == ".." || name == "/" ? "colm"
                                                                    : name;
}

/// The methods each endpoint answers, for 405s.
const std::vector<std::string> *allowedMethods(const std::string &path) {
  static const std::vector<std::string> get = {"GET", "HEAD"}, post = {"POST"};
  if (path == "/health" || path == "/metrics" || path == "/v1/models" ||
      path.rfind("/v1/models/", 0) == 0)
    return &get;
  if (path == "/v1/completions" || path == "/v1/chat/completions")
    return &post;
  return nullptr;
}

} // namespace

Status runServe(const std::vector<std::string> &argv) {
  Args args("serve", "--model DIR [--host 127.0.0.1] [--port 8080]",
            "Serves the model over HTTP, compatible with OpenAI's API: POST "
            "/v1/completions and\n/v1/chat/completions (streaming with "
            "server-sent events or not), GET /v1/models, GET /metrics "
            "(Prometheus).\nA request may choose its sub-model with "
            "\"chains\" or \"chain_schedule\"; concurrent\nrequests are "
            "decoded together over one paged KV cache, long prompts in "
            "chunks\nbetween decode steps, shared prompt prefixes computed "
            "once.");
  args.option("--model", "DIR", "model directory", true)
      .option("--model-name", "NAME",
              "the model's id in the API (default: the directory's name)")
      .option("--host", "ADDR", "address to listen on (default 127.0.0.1)")
      .option("--port", "P", "port (default 8080; 0 picks a free one)")
      .option("--max-context", "N",
              "positions per sequence (default max_position_embeddings)")
      .option("--max-batch", "B",
              "sequences active at once, decoded together (default 16)")
      .option("--kv-cache-mib", "MIB",
              "memory of the paged KV cache shared by every sequence; a "
              "request waits for blocks, a sequence that outgrows it is "
              "preempted and resumed later (default: --max-batch sequences "
              "at --max-context)")
      .option("--kv-cache-blocks", "N",
              "the KV cache in blocks of 16 positions instead of MiB")
      .option("--step-tokens", "N",
              "work per scheduler step in full-model tokens: the decode "
              "steps, then prefill chunks (default: prefill chunks that take "
              "about half a decode step's time, so running streams slow "
              "down less than 2x while a long prompt is prefilled)")
      .option("--speculative-max-batch", "N",
              "requests that ask for \"speculative\" speculate while at "
              "most N sequences decode (default 2)")
      .flag("--no-prefix-cache",
            "compute every prompt in full (no sharing of cached prefixes)")
      .option("--threads", "N",
              "HTTP worker threads; each waiting client holds one (default "
              "4 x --max-batch + 8)")
      .option("--max-idle-connections", "N",
              "idle keep-alive connections kept open at most; the oldest "
              "are closed first (default 256)")
      .option("--idle-timeout", "S",
              "seconds a connection may stay idle, and may take to send a "
              "request's head (default 5)")
      .option("--backend", "NAME", kBackendHelp)
      .option("--precision", "P", kPrecisionHelp);
  COLM_ASSIGN_OR_RETURN(bool helped, args.parseOrPrintHelp(argv));
  if (helped)
    return Status::ok();
  COLM_ASSIGN_OR_RETURN(Backend backend, backendFlags(args));
  COLM_ASSIGN_OR_RETURN(Model model, loadModel(args.get("--model")));
  COLM_ASSIGN_OR_RETURN(Tokenizer tokenizer,
                        loadTokenizer(args.get("--model")));
  COLM_ASSIGN_OR_RETURN(int64_t port, args.getInt("--port", 8080, 0, 65535));
  COLM_ASSIGN_OR_RETURN(int64_t maxContext,
                        args.getInt("--max-context",
                                    model.config.maxPositionEmbeddings, 2,
                                    model.config.maxPositionEmbeddings));
  COLM_ASSIGN_OR_RETURN(int64_t maxBatch,
                        args.getInt("--max-batch", 16, 1, 4096));
  COLM_ASSIGN_OR_RETURN(int64_t threads,
                        args.getInt("--threads", 4 * maxBatch + 8, 1, 65536));
  SchedulerOptions schedule;
  schedule.maxContext = maxContext;
  schedule.maxBatch = maxBatch;
  int64_t blockBytes = model.config.numLayers * 2 * model.config.kvWidth() *
                       KvPool::kBlockSize * int64_t(sizeof(float));
  int64_t defaultBlocks =
      maxBatch * ((maxContext + KvPool::kBlockSize - 1) / KvPool::kBlockSize);
  int64_t defaultMib =
      std::max<int64_t>(1, (defaultBlocks * blockBytes + (1 << 20) - 1) >> 20);
  COLM_ASSIGN_OR_RETURN(int64_t kvMib,
                        args.getInt("--kv-cache-mib", defaultMib, 1, 1 << 20));
  schedule.kvCacheBlocks = args.isSet("--kv-cache-mib")
                               ? KvPool::blocksFor(model.config, kvMib << 20)
                               : defaultBlocks;
  if (args.isSet("--kv-cache-mib") && args.isSet("--kv-cache-blocks"))
    return Status::error("give --kv-cache-mib or --kv-cache-blocks, not both");
  COLM_ASSIGN_OR_RETURN(
      schedule.kvCacheBlocks,
      args.getInt("--kv-cache-blocks", schedule.kvCacheBlocks, 1, 1 << 30));
  // One sequence always fits the pool: a smaller pool bounds the context.
  int64_t poolPositions = schedule.kvCacheBlocks * KvPool::kBlockSize;
  if (poolPositions < maxContext) {
    std::fprintf(stderr,
                 "colm serve: the KV cache holds %lld positions: requests "
                 "may use that many (not --max-context %lld)\n",
                 (long long)poolPositions, (long long)maxContext);
    maxContext = poolPositions;
    schedule.maxContext = maxContext;
  }
  if (args.has("--step-tokens")) {
    COLM_ASSIGN_OR_RETURN(schedule.stepTokens,
                          args.getInt("--step-tokens", 0,
                                      maxBatch + Generator::kFewRows + 2,
                                      1 << 20));
  }
  schedule.prefixCaching = !args.isSet("--no-prefix-cache");
  COLM_ASSIGN_OR_RETURN(schedule.speculativeMaxBatch,
                        args.getInt("--speculative-max-batch", 2, 0, 4096));
  COLM_ASSIGN_OR_RETURN(int64_t maxIdle,
                        args.getInt("--max-idle-connections", 256, 1, 65536));
  COLM_ASSIGN_OR_RETURN(int64_t idleTimeout,
                        args.getInt("--idle-timeout", 5, 1, 3600));
  std::string host = args.get("--host", "127.0.0.1");
  if (host.empty())
    return Status::error("--host is empty (use 127.0.0.1 or 0.0.0.0)");
  std::string modelName =
      args.get("--model-name", directoryName(args.get("--model")));
  if (modelName.empty())
    return Status::error("--model-name is empty");

  // Bind first: a port in use fails before the model is compiled.
  HttpOptions options;
  options.threads = static_cast<size_t>(threads);
  options.maxIdle = static_cast<size_t>(maxIdle);
  options.idleTimeoutSec = static_cast<int>(idleTimeout);
  HttpServer server(options);
  COLM_ASSIGN_OR_RETURN(int bound, server.bindTo(host, static_cast<int>(port)));

  mlir::MLIRContext context(mlir::MLIRContext::Threading::DISABLED);
  dsl::loadDialects(context);
  COLM_ASSIGN_OR_RETURN(auto generator,
                        Generator::create(context, model, backend));
  // Every program compiled and its memory taken now: requests up to the
  // context allocate only their caches.
  COLM_TRY(generator->reserve(maxContext, maxContext, maxBatch));
  COLM_ASSIGN_OR_RETURN(auto made,
                        Scheduler::create(*generator, tokenizer, schedule));
  Scheduler &scheduler = *made;
  std::atomic<int64_t> ids{0};
  int64_t started = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  const uint64_t seedBase =
      (static_cast<uint64_t>(std::random_device{}()) << 32) ^
      std::random_device{}();

  server.set_payload_max_length(1 << 20);
  // Before the body is read: wrong methods, and POSTs without a body (which
  // httplib would wait for until the read timeout).
  server.set_pre_routing_handler(
      [](const httplib::Request &req, httplib::Response &res) {
        using R = httplib::Server::HandlerResponse;
        const std::vector<std::string> *allowed = allowedMethods(req.path);
        bool bodyAnnounced = req.has_header("Content-Length") ||
                             req.has_header("Transfer-Encoding");
        if (allowed) {
          std::string methods;
          for (const std::string &m : *allowed)
            methods += (methods.empty() ? "" : ", ") + m;
          if (std::find(allowed->begin(), allowed->end(), req.method) ==
              allowed->end()) {
            res.set_header("Allow", methods);
            fail(res, 405,
                 req.method + " is not allowed on " + req.path + " (use " +
                     methods + ")",
                 "", "method_not_allowed");
            if (bodyAnnounced) {
              closeAfterThisResponse(); // its body is not read
              res.set_header("Connection", "close");
            }
            return R::Handled;
          }
        }
        if (req.method == "POST" && !bodyAnnounced) {
          fail(res, 400,
               "the request has no body: send a JSON object with a "
               "Content-Length");
          // Whatever the client sends next is no request of its own.
          closeAfterThisResponse();
          res.set_header("Connection", "close");
          return R::Handled;
        }
        return R::Unhandled;
      });
  server.Get("/health", [](const httplib::Request &, httplib::Response &res) {
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
  server.Get("/metrics", [&](const httplib::Request &, httplib::Response &res) {
    res.set_content(scheduler.metricsText(),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  auto modelJson = [&] {
    JsonValue m = JsonValue::object();
    m.set("id", JsonValue::string(modelName));
    m.set("object", JsonValue::string("model"));
    m.set("created", JsonValue::integer(started));
    m.set("owned_by", JsonValue::string("colm"));
    m.set("chains", JsonValue::integer(model.config.numChains()));
    return m;
  };
  auto noSuchModel = [&](httplib::Response &res, const std::string &name) {
    fail(res, 404,
         "The model '" + name + "' does not exist (this server serves '" +
             modelName + "')",
         "model", "model_not_found");
  };
  server.Get(
      "/v1/models", [&](const httplib::Request &, httplib::Response &res) {
        JsonValue list = JsonValue::array();
        list.push(modelJson());
        // The aliases of each sub-model.
        for (int k = 1; k <= model.config.numChains(); ++k) {
          JsonValue m = modelJson();
          m.set("id", JsonValue::string(modelName + "@k" + std::to_string(k)));
          m.set("chains", JsonValue::integer(k));
          list.push(m);
        }
        JsonValue o = JsonValue::object();
        o.set("object", JsonValue::string("list"));
        o.set("data", list);
        res.set_content(writeJson(o, 0), "application/json");
      });
  server.Get(R"(/v1/models/(.+))",
             [&](const httplib::Request &req, httplib::Response &res) {
               std::string name = req.matches[1];
               for (int k = 1; k <= model.config.numChains(); ++k)
                 if (name == modelName + "@k" + std::to_string(k)) {
                   JsonValue m = modelJson();
                   m.set("id", JsonValue::string(name));
                   m.set("chains", JsonValue::integer(k));
                   res.set_content(writeJson(m, 0), "application/json");
                   return;
                 }
               if (name != modelName) {
                 noSuchModel(res, name);
                 return;
               }
               res.set_content(writeJson(modelJson(), 0), "application/json");
             });
  auto complete = [&](serve::Api api, const httplib::Request &req,
                      httplib::Response &res) {
    bool chat = api == serve::Api::Chat;
    int64_t number = ++ids;
    serve::ServeLimits limits;
    limits.config = &model.config;
    limits.tokenizer = &tokenizer;
    limits.maxContext = maxContext;
    limits.defaultSeed = seedBase + static_cast<uint64_t>(number) * 1000003u;
    serve::RequestError error;
    if (req.body.empty()) {
      fail(res, 400, "the request body is empty: send a JSON object");
      return;
    }
    auto parsed = chat
                      ? serve::parseChatRequest(req.body, limits, &error)
                      : serve::parseCompletionRequest(req.body, limits, &error);
    if (!parsed) {
      fail(res, 400, error.message, error.param);
      return;
    }
    // NAME@kN: the N-chain sub-model, for clients that send no extra
    // fields.
    std::string alias = parsed->model;
    if (size_t at = alias.rfind("@k");
        at != std::string::npos && alias.substr(0, at) == modelName) {
      std::string digits = alias.substr(at + 2);
      int64_t k = 0;
      bool number = !digits.empty() && digits.size() < 4 &&
                    digits.find_first_not_of("0123456789") == std::string::npos;
      if (number)
        k = std::stoll(digits);
      if (!number || k < 1 || k > model.config.numChains()) {
        noSuchModel(res, parsed->model);
        return;
      }
      for (auto &choice : parsed->choices) {
        choice.schedule = {{0, unsigned(k)}};
        choice.autoChains = false;
      }
      parsed->chains = unsigned(k);
    } else if (!parsed->model.empty() && parsed->model != modelName) {
      noSuchModel(res, parsed->model);
      return;
    }
    auto reply = std::make_shared<Reply>();
    reply->id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(number);
    reply->model = modelName;
    reply->tokenizer = &tokenizer;
    reply->created = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    if (!parsed->ignored.empty()) {
      std::string list;
      for (const std::string &f : parsed->ignored)
        list += (list.empty() ? "" : ", ") + f;
      std::fprintf(stderr, "%s: ignoring unsupported fields: %s\n",
                   reply->id.c_str(), list.c_str());
    }
    reply->request = std::make_shared<CompletionRequest>(parsed->choices);
    reply->request->id = reply->id;
    reply->parsed = parsed.take();
    scheduler.submit(reply->request);
    if (reply->parsed.stream)
      stream(reply, res);
    else
      answer(*reply, res);
  };
  server.Post("/v1/completions",
              [&](const httplib::Request &req, httplib::Response &res) {
                complete(serve::Api::Completions, req, res);
              });
  server.Post("/v1/chat/completions",
              [&](const httplib::Request &req, httplib::Response &res) {
                complete(serve::Api::Chat, req, res);
              });
  server.set_error_handler([](const httplib::Request &req,
                              httplib::Response &res) {
    if (!res.body.empty())
      return;
    if (res.status == 400 || res.status == 413 || res.status == 414) {
      // A body that was not read, or a request that did not parse: the
      // rest of the connection cannot be trusted.
      closeAfterThisResponse();
      res.set_header("Connection", "close");
    }
    std::string message =
        res.status == 404   ? "no such endpoint: " + req.method + " " + req.path
        : res.status == 413 ? "the request body is larger than 1 MiB"
        : res.status == 400 ? "malformed HTTP request"
                            : "HTTP error " + std::to_string(res.status);
    res.set_content(errorJson(message, "invalid_request_error"),
                    "application/json");
  });

  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  // On a signal: end every generation first (their handlers answer), then
  // stop accepting and join the workers.
  std::atomic<bool> listening{true};
  std::thread watcher([&] {
    bool stopped = false;
    while (listening) {
      // A signal that came before listen_after_bind() started is not lost:
      // the server is stopped once it runs (httplib's stop() does nothing
      // before, and must not be called twice).
      if (signalsSeen > 0 && !stopped) {
        scheduler.stop();
        if (server.is_running()) {
          server.stop();
          stopped = true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  std::printf("colm serve: %s (%d chains %s, %s backend, %.1f MiB of "
              "program memory, %.1f MiB of KV cache) listening on "
              "http://%s:%d\n",
              modelName.c_str(), model.config.numChains(),
              formatChains(model.config.chains).c_str(), backendName(backend),
              double(generator->reservedBytes()) / (1 << 20),
              double(scheduler.kvCacheBytes()) / (1 << 20), host.c_str(),
              bound);
  std::fflush(stdout);
  server.listen_after_bind();
  listening = false;
  watcher.join();
  scheduler.stop();
  server.finish();
  std::printf("colm serve: stopped\n");
  return Status::ok();
}

} // namespace colm::cli
