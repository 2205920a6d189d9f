//===- Tune.cpp - colm tune: measure kernel knobs on this device -*- C++
//-*-===//
//
// Enumerates the chain GEMMs a model's linears need (forward, input and
// weight gradient), measures the knob candidates of each on this CPU with
// its thread count, and stores the winners in the per-device tuning cache
// that compilation reads (compiler/codegen/TuningCache.h).
//
//===----------------------------------------------------------------------===//
#include "tools/colm/Commands.h"

#include "compiler/codegen/ChainGemm.h"
#include "compiler/codegen/TuningCache.h"
#include "compiler/codegen/cpu/CpuJit.h"
#include "compiler/codegen/cpu/GemmTuner.h"
#include "compiler/codegen/cpu/RenderChainGemm.h"
#include "runtime/Config.h"
#include "runtime/CpuInfo.h"
#include "runtime/ThreadPool.h"
#include "tools/colm/Args.h"
#include "tools/colm/Progress.h"

#include <chrono>
#include <cstdio>
#include <filesystem>

namespace colm::cli {
namespace {

using namespace colm::codegen;

double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// One chain GEMM to tune, with the linears that share it.
struct TuneKernel {
  std::string names; ///< "gate_proj/up_proj"
  std::string product;
  int64_t out = 0, in = 0;
  ChainGemmSpec spec;
  std::string label() const {
    return names + " " + product + " " + std::to_string(out) + "x" +
           std::to_string(in);
  }
};

struct Linear {
  const char *name;
  int64_t out, in;
  bool chained;      ///< false: a dense linear (CoLM-Air's k/v on chain 1)
  const char *input; ///< what it reads: linears of one input are grouped
};

/// The chain linears of one layer (every layer has the same shapes), as
/// runtime/Config.h and spec/colm.md define them.
std::vector<Linear> layerLinears(const ModelConfig &c) {
  int64_t d = c.hiddenSize, f = c.intermediateSize, q = c.qWidth(),
          kv = c.kvWidth();
  std::vector<Linear> out = {{"q_proj", q, d, true, "x"}};
  if (c.kvSharing) {
    // CoLM-Air: keys and values come from chain 1 alone, densely.
    int64_t d1 = c.prefixWidth(d, 1);
    out.push_back({"k_proj", kv, d1, false, "x1"});
    out.push_back({"v_proj", kv, d1, false, "x1"});
  } else {
    out.push_back({"k_proj", kv, d, true, "x"});
    out.push_back({"v_proj", kv, d, true, "x"});
  }
  out.push_back({"o_proj", d, q, true, "attn"});
  out.push_back({"gate_proj", f, d, true, "h"});
  out.push_back({"up_proj", f, d, true, "h"});
  out.push_back({"down_proj", d, f, true, "mlp"});
  return out;
}

Result<std::vector<std::string>> parseProducts(const std::string &text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(
        pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (item != "forward" && item != "input_grad" && item != "weight_grad")
      return Status::error("--chain-products: '" + item +
                           "' is not one of forward, input_grad, weight_grad");
    bool seen = false;
    for (const std::string &o : out)
      seen = seen || o == item;
    if (!seen)
      out.push_back(item);
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  return out;
}

/// The distinct chain GEMMs of `config` (identical specs once, with every
/// linear that uses them named). Forward products of one input are one
/// grouped GEMM, as chain-group-gemms makes them (q+k+v, or CoLM-Air's
/// k+v; gate+up).
std::vector<TuneKernel> modelKernels(const ModelConfig &config,
                                     const std::vector<std::string> &products) {
  std::vector<TuneKernel> out;
  auto add = [&](const std::string &name, const std::string &p, int64_t o,
                 int64_t i, const ChainGemmSpec &spec) {
    for (TuneKernel &k : out)
      if (k.spec.shapeKey() == spec.shapeKey()) {
        k.names += "/" + name;
        return;
      }
    out.push_back({name, p, o, i, spec});
  };
  std::vector<Linear> linears = layerLinears(config);
  for (const std::string &p : products) {
    if (p != "forward") {
      for (const Linear &l : linears) {
        std::vector<int64_t> chains =
            l.chained ? config.chains : std::vector<int64_t>{1};
        add(l.name, p, l.out, l.in,
            p == "input_grad" ? chainLinearInputGrad(chains, l.in, l.out)
                              : chainLinearWeightGrad(chains, l.in, l.out));
      }
      continue;
    }
    // Linears of one input follow one another in layerLinears.
    for (size_t i = 0; i < linears.size();) {
      size_t j = i + 1;
      while (j < linears.size() &&
             std::string(linears[j].input) == linears[i].input)
        ++j;
      std::vector<ChainGemmSpec> parts;
      std::string name;
      int64_t outs = 0;
      for (size_t k = i; k < j; ++k) {
        std::vector<int64_t> chains =
            linears[k].chained ? config.chains : std::vector<int64_t>{1};
        parts.push_back(
            chainLinearForward(chains, linears[k].in, linears[k].out));
        name += (name.empty() ? "" : "+") + std::string(linears[k].name);
        outs += linears[k].out;
      }
      add(name, p, outs, linears[i].in,
          parts.size() > 1 ? groupGemms(parts) : parts[0]);
      i = j;
    }
  }
  return out;
}

std::string deviceLine(const TuningDevice &d) {
  return d.model + " (" + d.isa + "), " + countOf(d.threads, "thread");
}

std::string gain(double defaultMs, double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", ms > 0 ? defaultMs / ms : 0.0);
  return buf;
}

Status show(const TuningCache &cache) {
  if (!cache.loaded()) {
    std::printf("no tuning stored for this device (%s)\n"
                "`colm tune --model DIR` would write %s\n",
                deviceLine(cache.device()).c_str(), cache.path().c_str());
    return Status::ok();
  }
  std::printf("tuning cache %s\n", cache.path().c_str());
  std::printf("device       %s\n", deviceLine(cache.device()).c_str());
  std::printf("written by   colm %s\n", cache.storedVersion().c_str());
  std::printf("%zu kernels\n\n", cache.kernels().size());
  std::printf("%-40s %-22s %10s %10s %6s  %-7s %s\n", "kernel", "knobs",
              "default ms", "tuned ms", "gain", "tokens", "date");
  for (const TunedKernel &k : cache.kernels())
    std::printf("%-40s %-22s %10.3f %10.3f %6s  %-7lld %s\n",
                k.label.empty() ? "(unnamed)" : k.label.c_str(),
                cpu::describeKnobs(k.knobs).c_str(), k.defaultMs, k.ms,
                gain(k.defaultMs, k.ms).c_str(), (long long)k.dynamicSize,
                k.date.c_str());
  std::printf("\nshape keys:\n");
  for (const TunedKernel &k : cache.kernels())
    std::printf("  %s\n", k.shapeKey.c_str());
  return Status::ok();
}

} // namespace

Status runTune(const std::vector<std::string> &argv) {
  Args args(
      "tune",
      "(--model DIR | --config FILE.json) [flags]\n       colm tune --show\n"
      "       colm tune --clear",
      "Measures the knob candidates (register tile, cache blocking) of every "
      "chain GEMM a\nmodel's linears need, on this CPU with COLM_THREADS "
      "threads, and stores the fastest\nin the per-device tuning cache, "
      "$COLM_CACHE_DIR/tuning/cpu-<device hash>.json. Compiled\nkernels use "
      "the stored knobs for the shapes they cover and the defaults "
      "otherwise;\nknobs never change results, only speed. Each candidate "
      "is warmed up, then timed\n--repeats times (a sample is at least 20 "
      "ms) in rounds over all candidates; the\nmedian counts. The device key "
      "is the CPU model, ISA, feature words, cache sizes\nand the thread "
      "count: another machine or COLM_THREADS has its own file. lm_head\n"
      "(chained columns over a chain prefix) is not a chain GEMM yet and is "
      "skipped.");
  args.option("--model", "DIR", "model directory (its config.json)")
      .option("--config", "FILE.json", "a model config.json instead")
      .option("--tokens", "N",
              "rows of the dynamic dimension to measure at (default 2048, a "
              "training batch of 8 x 256)")
      .option("--repeats", "R",
              "timed samples per candidate; the median counts (default 5)")
      .listOption("--chain-products", "LIST",
                  "products to tune: forward,input_grad,weight_grad "
                  "(default all three)")
      .option("--max-candidates", "N",
              "measure at most N candidates per kernel, the defaults "
              "included (default: all)")
      .flag("--show", "print what is stored for this device")
      .flag("--clear", "remove what is stored for this device");
  COLM_ASSIGN_OR_RETURN(bool done, args.parseOrPrintHelp(argv));
  if (done)
    return Status::ok();

  TuningCache cache = TuningCache::forHost();
  bool showIt = args.isSet("--show"), clearIt = args.isSet("--clear");
  bool hasModel = args.has("--model"), hasConfig = args.has("--config");
  if (showIt || clearIt) {
    if (showIt && clearIt)
      return Status::error("--show and --clear exclude each other");
    if (hasModel || hasConfig || args.has("--tokens") ||
        args.has("--repeats") || args.has("--chain-products") ||
        args.has("--max-candidates"))
      return Status::error(std::string(showIt ? "--show" : "--clear") +
                           " takes no other flags");
    if (showIt) {
      cache.load();
      return show(cache);
    }
    COLM_ASSIGN_OR_RETURN(bool removed, cache.clear());
    if (removed)
      std::printf("removed %s\n", cache.path().c_str());
    else
      std::printf("nothing stored for this device (%s)\n",
                  cache.path().c_str());
    return Status::ok();
  }
  if (hasModel == hasConfig)
    return Status::error("give one of --model DIR and --config FILE.json (or "
                         "--show, --clear; see colm tune --help)");

  std::string path = hasModel ? args.get("--model") : args.get("--config");
  if (hasModel) {
    if (!std::filesystem::is_directory(path))
      return Status::error("--model " + path +
                           " is not a directory (use --config for a file)");
    path += "/config.json";
  }
  COLM_ASSIGN_OR_RETURN(ModelConfig config, loadConfig(path));
  COLM_TRY(validateConfig(config).withContext(path));
  COLM_ASSIGN_OR_RETURN(int64_t tokens,
                        args.getInt("--tokens", 2048, 1, 1 << 20));
  COLM_ASSIGN_OR_RETURN(int64_t repeats, args.getInt("--repeats", 5, 1, 1000));
  COLM_ASSIGN_OR_RETURN(int64_t maxCandidates,
                        args.getInt("--max-candidates", 0, 0, 1000));
  COLM_ASSIGN_OR_RETURN(
      std::vector<std::string> products,
      parseProducts(
          args.get("--chain-products", "forward,input_grad,weight_grad")));

  std::vector<TuneKernel> kernels = modelKernels(config, products);
  cpu::TuneOptions options;
  options.repeats = int(repeats);
  options.maxCandidates = size_t(maxCandidates);
  cpu::VectorIsa isa = cpu::hostVectorIsa();
  size_t candidates = cpu::gemmCandidates(isa).size();
  if (maxCandidates > 0 && size_t(maxCandidates) < candidates)
    candidates = size_t(maxCandidates);

  COLM_ASSIGN_OR_RETURN(CpuJit jit, CpuJit::create());
  ThreadPool pool(CpuInfo::host().threads);
  cache.load();
  std::printf("tuning %s of %s at %lld tokens on %s; %zu candidates each\n",
              countOf(int64_t(kernels.size()), "chain GEMM").c_str(),
              path.c_str(), (long long)tokens,
              deviceLine(cache.device()).c_str(), candidates);
  std::printf("lm_head skipped: its chained columns over a chain prefix are "
              "not a chain GEMM yet\n");
  std::fflush(stdout);

  struct Row {
    std::string label;
    cpu::TuneResult result;
  };
  std::vector<Row> rows;
  double start = now();
  for (size_t i = 0; i < kernels.size(); ++i) {
    const TuneKernel &k = kernels[i];
    COLM_ASSIGN_OR_RETURN(
        cpu::TuneResult r,
        cpu::tuneChainGemm(k.spec, tokens, jit, pool, options));
    cache.store(r.record(k.spec, k.label(), tokens));
    // Saved after every kernel: an interrupted run keeps what it measured.
    COLM_TRY(cache.save());
    double elapsed = now() - start;
    double eta = elapsed / double(i + 1) * double(kernels.size() - i - 1);
    std::string outcome =
        r.best == r.defaults ? "defaults kept" : cpu::describeKnobs(r.best);
    std::printf("[%zu/%zu] %s: %.3g ms default -> %.3g ms (%s), ETA %s\n",
                i + 1, kernels.size(), k.label().c_str(), r.defaultMs, r.bestMs,
                outcome.c_str(), formatDuration(eta).c_str());
    std::fflush(stdout);
    rows.push_back({k.label(), std::move(r)});
  }

  std::printf("\n%-40s %10s %10s %6s  %s\n", "kernel", "default ms", "tuned ms",
              "gain", "knobs");
  double totalDefault = 0, totalTuned = 0;
  for (const Row &row : rows) {
    const cpu::TuneResult &r = row.result;
    std::printf("%-40s %10.3f %10.3f %6s  %s\n", row.label.c_str(), r.defaultMs,
                r.bestMs, gain(r.defaultMs, r.bestMs).c_str(),
                cpu::describeKnobs(r.best).c_str());
    totalDefault += r.defaultMs;
    totalTuned += r.bestMs;
  }
  std::printf("%-40s %10.3f %10.3f %6s\n", "sum (each kernel once)",
              totalDefault, totalTuned, gain(totalDefault, totalTuned).c_str());
  std::printf("\nstored %s in %s (%s; took %s)\n",
              countOf(int64_t(rows.size()), "kernel").c_str(),
              cache.path().c_str(), jit.stats().summary().c_str(),
              formatDuration(now() - start).c_str());
  return Status::ok();
}

} // namespace colm::cli
