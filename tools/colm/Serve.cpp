//===- Serve.cpp - colm serve: an OpenAI-style completions server ---------===//
#include "tools/colm/Commands.h"

#include "compiler/Graph.h"
#include "runtime/Json.h"
#include "runtime/Model.h"
#include "tools/colm/Args.h"
#include "tools/colm/Scheduler.h"

#include "mlir/IR/MLIRContext.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace colm::cli {
namespace {

// The handler only counts; a watcher thread does the shutting down. A
// second signal exits at once.
std::atomic<int> signalsSeen{0};

void onSignal(int) {
  if (signalsSeen.fetch_add(1) > 0)
    std::_Exit(130);
}

std::string errorJson(const std::string &message, const char *type) {
  JsonValue e = JsonValue::object();
  e.set("message", JsonValue::string(message));
  e.set("type", JsonValue::string(type));
  JsonValue o = JsonValue::object();
  o.set("error", e);
  return writeJson(o, 0);
}

void fail(httplib::Response &res, int status, const std::string &message) {
  res.status = status;
  res.set_content(errorJson(message, status >= 500 ? "server_error"
                                                   : "invalid_request_error"),
                  "application/json");
}

/// The request body as a CompletionRequest; every problem is a message that
/// names the field.
struct ParsedRequest {
  std::shared_ptr<CompletionRequest> request;
  bool stream = false;
  unsigned chains = 0;
};

Result<ParsedRequest> parseRequest(const std::string &body,
                                   const ModelConfig &config,
                                   const Tokenizer &tokenizer,
                                   int64_t maxContext) {
  COLM_ASSIGN_OR_RETURN(JsonValue o, parseJson(body, "request body"));
  if (!o.isObject())
    return Status::error("the request body must be a JSON object");
  ParsedRequest p;
  p.request = std::make_shared<CompletionRequest>();
  CompletionRequest &r = *p.request;
  unsigned n = static_cast<unsigned>(config.numChains());
  r.schedule = {{0, n}};
  r.chain1Prefill = config.kvSharing;
  bool hasPrompt = false, hasChains = false, hasSchedule = false;
  auto number = [&](const JsonValue &v, const std::string &key, double lo,
                    double hi) -> Result<double> {
    if (!v.isNumber() || v.asDouble() < lo || v.asDouble() > hi)
      return Status::error("\"" + key + "\" must be a number in [" +
                           std::to_string(lo) + ", " + std::to_string(hi) +
                           "]");
    return v.asDouble();
  };
  auto integer = [&](const JsonValue &v, const std::string &key, int64_t lo,
                     int64_t hi) -> Result<int64_t> {
    if (!v.isInteger() || v.asInt() < lo || v.asInt() > hi)
      return Status::error("\"" + key + "\" must be an integer in [" +
                           std::to_string(lo) + ", " + std::to_string(hi) +
                           "]");
    return v.asInt();
  };
  double temperature = 1.0;
  for (const std::string &key : o.keys()) {
    const JsonValue &v = *o.find(key);
    if (key == "prompt") {
      hasPrompt = true;
      if (v.isString()) {
        r.prompt = tokenizer.encode(v.asString());
      } else if (v.isArray()) {
        for (const JsonValue &id : v.elements()) {
          if (!id.isInteger() || id.asInt() < 0 ||
              id.asInt() >= config.vocabSize)
            return Status::error("\"prompt\" token ids must be integers in "
                                 "[0, " +
                                 std::to_string(config.vocabSize) + ")");
          r.prompt.push_back(static_cast<int32_t>(id.asInt()));
        }
      } else {
        return Status::error("\"prompt\" must be a string or an array of "
                             "token ids");
      }
    } else if (key == "max_tokens") {
      COLM_ASSIGN_OR_RETURN(r.maxTokens, integer(v, key, 0, maxContext));
    } else if (key == "temperature") {
      COLM_ASSIGN_OR_RETURN(temperature, number(v, key, 0, 100));
    } else if (key == "top_p") {
      COLM_ASSIGN_OR_RETURN(r.sampling.topP, number(v, key, 1e-9, 1));
    } else if (key == "top_k") {
      COLM_ASSIGN_OR_RETURN(r.sampling.topK,
                            integer(v, key, 0, config.vocabSize));
    } else if (key == "repetition_penalty") {
      COLM_ASSIGN_OR_RETURN(r.sampling.repetitionPenalty,
                            number(v, key, 1e-6, 1e6));
    } else if (key == "seed") {
      COLM_ASSIGN_OR_RETURN(int64_t seed, integer(v, key, 0, INT64_MAX));
      r.sampling.seed = static_cast<uint64_t>(seed);
    } else if (key == "stop") {
      if (v.isString()) {
        r.stops.push_back(v.asString());
      } else if (v.isArray() && v.size() <= 4) {
        for (const JsonValue &s : v.elements()) {
          if (!s.isString())
            return Status::error("\"stop\" must hold strings");
          r.stops.push_back(s.asString());
        }
      } else {
        return Status::error("\"stop\" must be a string or up to 4 strings");
      }
    } else if (key == "stream") {
      if (!v.isBool())
        return Status::error("\"stream\" must be true or false");
      p.stream = v.asBool();
    } else if (key == "chains") {
      COLM_ASSIGN_OR_RETURN(int64_t k, integer(v, key, 1, n));
      r.schedule = {{0, static_cast<unsigned>(k)}};
      hasChains = true;
    } else if (key == "chain_schedule") {
      if (!v.isString())
        return Status::error("\"chain_schedule\" must be a string like "
                             "\"0:1,8:3\"");
      COLM_ASSIGN_OR_RETURN(r.schedule, parseChainSchedule(v.asString(), n));
      hasSchedule = true;
    } else if (key == "prefill_chains") {
      if (!v.isString() || (v.asString() != "1" && v.asString() != "all"))
        return Status::error("\"prefill_chains\" must be \"1\" or \"all\"");
      if (v.asString() == "1" && !config.kvSharing)
        return Status::error("\"prefill_chains\": \"1\" needs a CoLM-Air "
                             "model");
      r.chain1Prefill = v.asString() == "1";
    } else if (key == "n") {
      if (!v.isInteger() || v.asInt() != 1)
        return Status::error("\"n\" must be 1");
    } else if (key == "model" || key == "user") {
      // Accepted for compatibility; this server serves one model.
    } else {
      return Status::error("unknown field \"" + key + "\"");
    }
  }
  if (!hasPrompt)
    return Status::error("missing \"prompt\"");
  for (size_t i = 0; i < r.prompt.size(); ++i)
    if (r.prompt[i] >= config.vocabSize)
      return Status::error("\"prompt\" token " + std::to_string(r.prompt[i]) +
                           " at position " + std::to_string(i) +
                           " is outside the model's vocabulary of " +
                           std::to_string(config.vocabSize));
  if (r.prompt.empty())
    return Status::error("\"prompt\" is empty");
  if (hasChains && hasSchedule)
    return Status::error("give \"chains\" or \"chain_schedule\", not both");
  // The last generated token needs no cache position.
  int64_t total = static_cast<int64_t>(r.prompt.size()) + r.maxTokens;
  if (total - 1 > maxContext)
    return Status::error(
        "the prompt (" + std::to_string(r.prompt.size()) +
        " tokens) plus max_tokens (" + std::to_string(r.maxTokens) +
        ") exceed the context of " + std::to_string(maxContext) + " tokens");
  r.sampling.greedy = temperature == 0.0;
  r.sampling.temperature = temperature == 0.0 ? 1.0 : temperature;
  COLM_TRY(validateSamplingConfig(r.sampling));
  p.chains = r.schedule.front().second;
  return p;
}

} // namespace

Status runServe(const std::vector<std::string> &argv) {
  Args args("serve", "--model DIR [--host 127.0.0.1] [--port 8080]",
            "Serves the model over HTTP with an OpenAI-style POST "
            "/v1/completions (streaming with\nserver-sent events or not). A "
            "request may choose its sub-model with \"chains\" or\n"
            "\"chain_schedule\"; concurrent requests are decoded together.");
  args.option("--model", "DIR", "model directory", true)
      .option("--host", "ADDR", "address to listen on (default 127.0.0.1)")
      .option("--port", "P", "port (default 8080; 0 picks a free one)")
      .option("--max-context", "N",
              "positions per sequence (default max_position_embeddings)")
      .option("--max-batch", "B", "sequences decoded together (default 16)")
      .option("--threads", "N",
              "HTTP worker threads; each waiting client holds one (default "
              "4 x --max-batch + 8)");
  COLM_ASSIGN_OR_RETURN(bool helped, args.parseOrPrintHelp(argv));
  if (helped)
    return Status::ok();
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
  std::string host = args.get("--host", "127.0.0.1");
  if (host.empty())
    return Status::error("--host is empty (use 127.0.0.1 or 0.0.0.0)");

  mlir::MLIRContext context(mlir::MLIRContext::Threading::DISABLED);
  dsl::loadDialects(context);
  COLM_ASSIGN_OR_RETURN(auto generator, Generator::create(context, model));
  Scheduler scheduler(*generator, tokenizer, maxContext, maxBatch);
  std::string modelName = args.get("--model");
  std::atomic<int64_t> ids{0};

  httplib::Server server;
  server.new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<size_t>(threads));
  };
  server.set_payload_max_length(1 << 20);
  server.Get("/health", [](const httplib::Request &, httplib::Response &res) {
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
  server.Get("/v1/models",
             [&](const httplib::Request &, httplib::Response &res) {
               JsonValue m = JsonValue::object();
               m.set("id", JsonValue::string(modelName));
               m.set("object", JsonValue::string("model"));
               m.set("chains", JsonValue::integer(model.config.numChains()));
               JsonValue list = JsonValue::array();
               list.push(m);
               JsonValue o = JsonValue::object();
               o.set("object", JsonValue::string("list"));
               o.set("data", list);
               res.set_content(writeJson(o, 0), "application/json");
             });
  server.Post("/v1/completions", [&](const httplib::Request &req,
                                     httplib::Response &res) {
    auto parsed = parseRequest(req.body, model.config, tokenizer, maxContext);
    if (!parsed) {
      fail(res, 400, parsed.status().message());
      return;
    }
    std::shared_ptr<CompletionRequest> request = parsed->request;
    std::string id = "cmpl-" + std::to_string(++ids);
    request->id = id;
    int64_t created = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
    auto chunk = [=](const std::string &text, const char *finish) {
      JsonValue choice = JsonValue::object();
      choice.set("text", JsonValue::string(text));
      choice.set("index", JsonValue::integer(0));
      choice.set("finish_reason",
                 finish ? JsonValue::string(finish) : JsonValue::null());
      JsonValue choices = JsonValue::array();
      choices.push(choice);
      JsonValue o = JsonValue::object();
      o.set("id", JsonValue::string(id));
      o.set("object", JsonValue::string("text_completion"));
      o.set("created", JsonValue::integer(created));
      o.set("model", JsonValue::string(modelName));
      o.set("chains", JsonValue::integer(parsed->chains));
      o.set("choices", choices);
      return o;
    };
    scheduler.submit(request);
    if (parsed->stream) {
      res.set_chunked_content_provider(
          "text/event-stream",
          [request, chunk](size_t, httplib::DataSink &sink) {
            std::string text;
            while (request->next(text)) {
              std::string event =
                  "data: " + writeJson(chunk(text, nullptr), 0) + "\n\n";
              if (!sink.write(event.data(), event.size())) {
                request->cancelled = true; // the client went away
                return false;
              }
            }
            std::string last =
                request->error.empty()
                    ? "data: " +
                          writeJson(chunk("", request->finishReason.c_str()),
                                    0) +
                          "\n\n"
                    : "data: " + errorJson(request->error, "server_error") +
                          "\n\n";
            last += "data: [DONE]\n\n";
            sink.write(last.data(), last.size());
            sink.done();
            return true;
          });
      return;
    }
    std::string text, all;
    while (request->next(text))
      all += text;
    if (!request->error.empty()) {
      fail(res, 500, request->error);
      return;
    }
    JsonValue o = chunk(all, request->finishReason.c_str());
    // An extension: the generated token ids, exact where text is lossy.
    JsonValue ids = JsonValue::array();
    for (int32_t t : request->tokens)
      ids.push(JsonValue::integer(t));
    JsonValue choices = JsonValue::array();
    JsonValue choice = o.find("choices")->elements()[0];
    choice.set("tokens", ids);
    choices.push(choice);
    o.set("choices", choices);
    JsonValue usage = JsonValue::object();
    int64_t promptTokens = static_cast<int64_t>(request->prompt.size());
    usage.set("prompt_tokens", JsonValue::integer(promptTokens));
    usage.set("completion_tokens",
              JsonValue::integer(request->completionTokens));
    usage.set("total_tokens",
              JsonValue::integer(promptTokens + request->completionTokens));
    o.set("usage", usage);
    res.set_content(writeJson(o, 0), "application/json");
  });
  server.set_error_handler(
      [](const httplib::Request &req, httplib::Response &res) {
        if (!res.body.empty())
          return;
        std::string message =
            res.status == 404   ? "no such endpoint: " + req.path
            : res.status == 405 ? "method not allowed on " + req.path
            : res.status == 413 ? "the request body is larger than 1 MiB"
                                : "HTTP error " + std::to_string(res.status);
        res.set_content(errorJson(message, "invalid_request_error"),
                        "application/json");
      });

  int bound = port == 0 ? server.bind_to_any_port(host)
                        : (server.bind_to_port(host, static_cast<int>(port))
                               ? static_cast<int>(port)
                               : -1);
  if (bound < 0)
    return Status::error("cannot listen on " + host + ":" +
                         std::to_string(port) +
                         " (in use, or not an address of this machine)");
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  // On a signal: end every generation first (their handlers answer), then
  // stop accepting and join the workers.
  std::atomic<bool> listening{true};
  std::thread watcher([&] {
    while (listening) {
      if (signalsSeen > 0) {
        scheduler.stop();
        server.stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  std::printf("colm serve: %s (%d chains %s) listening on http://%s:%d\n",
              modelName.c_str(), model.config.numChains(),
              formatChains(model.config.chains).c_str(), host.c_str(), bound);
  std::fflush(stdout);
  server.listen_after_bind();
  listening = false;
  watcher.join();
  scheduler.stop();
  std::printf("colm serve: stopped\n");
  return Status::ok();
}

} // namespace colm::cli
