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
#include "compiler/codegen/cuda/GemmTuner.h"
#include "runtime/Config.h"
#include "runtime/CpuInfo.h"
#include "runtime/ThreadPool.h"
#include "runtime/cuda/CublasLt.h"
#include "tools/colm/Args.h"
#include "tools/colm/Progress.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>

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

bool isGpu(const TuningDevice &d) { return d.key.rfind("cuda|", 0) == 0; }

std::string deviceLine(const TuningDevice &d) {
  if (isGpu(d))
    return d.model + " (" + d.isa + ")";
  return d.model + " (" + d.isa + "), " + countOf(d.threads, "thread");
}

std::string describe(const TuningDevice &d, const GemmKnobs &k) {
  return isGpu(d) ? codegen::cuda::describeTile(k.cuda) : cpu::describeKnobs(k);
}

std::string gain(double defaultMs, double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", ms > 0 ? defaultMs / ms : 0.0);
  return buf;
}

Status show(const TuningCache &cache) {
  if (!cache.loaded()) {
    std::printf("no tuning stored for this device (%s)\n"
                "`colm tune --model DIR%s` would write %s\n",
                deviceLine(cache.device()).c_str(),
                isGpu(cache.device()) ? " --backend cuda" : "",
                cache.path().c_str());
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
                describe(cache.device(), k.knobs).c_str(), k.defaultMs, k.ms,
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
      "(--model DIR | --config FILE.json) [flags]\n       colm tune --show "
      "[--backend cuda]\n       colm tune --clear [--backend cuda]",
      "Measures the knob candidates of every chain GEMM a model's linears "
      "need and stores\nthe fastest in the per-device tuning cache that "
      "compilation reads; knobs never\nchange results, only speed.\n\n"
      "--backend cpu (default): the register tile and cache blocking, on "
      "this CPU with\nCOLM_THREADS threads; each candidate is warmed up, then "
      "timed --repeats times (a\nsample is at least 20 ms) in rounds over all "
      "candidates; the median counts. The\nfile is $COLM_CACHE_DIR/tuning/"
      "cpu-<hash>.json, keyed by the CPU model, ISA, feature\nwords, cache "
      "sizes and the thread count.\n\n--backend cuda: the CUDA kernel's "
      "block tile, on GPU $COLM_CUDA_DEVICE (0), timed\nwith CUDA events over "
      "copies of the operands larger than the L2 cache, at\n--precision (bf16 "
      "by default: the tensor-core path). Every candidate is first\nchecked "
      "on the GPU to give the default tile's bits. The file is\n"
      "$COLM_CACHE_DIR/tuning/cuda-<hash>.json, keyed by the GPU's name, "
      "architecture and\ndriver version; `colm ... --backend cuda` compiles "
      "with it.\n\nlm_head (chained columns over a chain prefix) is not a "
      "chain GEMM yet and is\nskipped.");
  args.option("--model", "DIR", "model directory (its config.json)")
      .option("--config", "FILE.json", "a model config.json instead")
      .option("--backend", "cpu|cuda", "the device to tune for (default cpu)")
      .option("--precision", "fp32|bf16",
              "the GEMMs' inputs (cuda only; default bf16)")
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
      .flag("--no-cublaslt",
            "cuda: leave cuBLASLt out (the dense yardstick, and the library "
            "as a candidate for dense products)")
      .flag("--show", "print what is stored for this device")
      .flag("--clear", "remove what is stored for this device");
  COLM_ASSIGN_OR_RETURN(bool done, args.parseOrPrintHelp(argv));
  if (done)
    return Status::ok();

  std::string backend = args.get("--backend", "cpu");
  if (backend != "cpu" && backend != "cuda")
    return Status::error("--backend " + backend +
                         ": colm tune measures cpu or cuda kernels (cuda-sim "
                         "runs on the emulator, whose timings mean nothing)");
  bool gpu = backend == "cuda";
  if (!gpu && args.has("--precision"))
    return Status::error("--precision is for --backend cuda (the CPU's knobs "
                         "are shared by fp32 and bf16)");
  std::string precision = args.get("--precision", "bf16");
  if (precision != "fp32" && precision != "bf16")
    return Status::error("--precision " + precision +
                         ": expected fp32 or bf16");

  // The device and its cache.
  std::optional<colm::cuda::DeviceInfo> device;
  if (gpu) {
    COLM_ASSIGN_OR_RETURN(const colm::cuda::Driver *driver,
                          colm::cuda::Driver::get());
    COLM_ASSIGN_OR_RETURN(device,
                          driver->device(colm::cuda::defaultDeviceOrdinal()));
  }
  TuningCache cache =
      gpu ? TuningCache::forGpu(TuningDevice::fromGpu(
                device->name, device->arch(), device->driverVersion))
          : TuningCache::forHost();
  bool showIt = args.isSet("--show"), clearIt = args.isSet("--clear");
  bool hasModel = args.has("--model"), hasConfig = args.has("--config");
  if (showIt || clearIt) {
    if (showIt && clearIt)
      return Status::error("--show and --clear exclude each other");
    if (hasModel || hasConfig || args.has("--tokens") ||
        args.has("--repeats") || args.has("--chain-products") ||
        args.has("--max-candidates") || args.has("--precision"))
      return Status::error(std::string(showIt ? "--show" : "--clear") +
                           " takes no other flags but --backend");
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
  if (gpu)
    for (TuneKernel &k : kernels)
      k.spec.bf16 = precision == "bf16";
  cpu::TuneOptions options;
  options.repeats = int(repeats);
  options.maxCandidates = size_t(maxCandidates);
  cpu::VectorIsa isa = cpu::hostVectorIsa();
  size_t candidates =
      gpu ? codegen::cuda::tileCandidates(kernels.at(0).spec).size()
          : cpu::gemmCandidates(isa).size();
  if (maxCandidates > 0 && size_t(maxCandidates) < candidates)
    candidates = size_t(maxCandidates);

  COLM_ASSIGN_OR_RETURN(CpuJit jit, CpuJit::create());
  ThreadPool pool(CpuInfo::host().threads);
  cache.load();
  std::printf("tuning %s of %s at %lld tokens on %s; %s%zu candidates each\n",
              countOf(int64_t(kernels.size()), "chain GEMM").c_str(),
              path.c_str(), (long long)tokens,
              gpu ? device->describe().c_str()
                  : deviceLine(cache.device()).c_str(),
              gpu ? (precision + ", ").c_str() : "", candidates);
  std::printf("lm_head skipped: its chained columns over a chain prefix are "
              "not a chain GEMM yet\n");
  std::fflush(stdout);

  struct Row {
    std::string label;
    cpu::TuneResult result;
    double usefulFlop = 0;
    double ofCublas = -1; ///< useful FLOP/s over cuBLASLt's dense rate
  };
  // The yardstick: cuBLASLt's dense GEMM on each kernel's M x N x K.
  const colm::cuda::CublasLt *cublas = nullptr;
  if (gpu && !args.isSet("--no-cublaslt")) {
    auto lt = colm::cuda::CublasLt::get();
    if (lt) {
      cublas = *lt;
      std::printf("yardstick: cuBLASLt %s, dense, the same shapes and "
                  "precision\n",
                  cublas->version().c_str());
    } else {
      std::printf("yardstick: none (%s)\n", lt.status().message().c_str());
    }
  }
  std::vector<Row> rows;
  double start = now();
  for (size_t i = 0; i < kernels.size(); ++i) {
    const TuneKernel &k = kernels[i];
    Result<cpu::TuneResult> tuned =
        gpu ? codegen::cuda::tuneChainGemm(
                  k.spec, tokens, colm::cuda::defaultDeviceOrdinal(), jit,
                  options, !args.isSet("--no-cublaslt"))
            : cpu::tuneChainGemm(k.spec, tokens, jit, pool, options);
    COLM_TRY(tuned.status().withContext(k.label()));
    cpu::TuneResult r = tuned.take();
    TunedKernel record = r.record(k.spec, k.label(), tokens);
    if (gpu)
      record.shapeKey = codegen::cuda::tileKey(k.spec);
    cache.store(record);
    // Saved after every kernel: an interrupted run keeps what it measured.
    COLM_TRY(cache.save());
    double elapsed = now() - start;
    double eta = elapsed / double(i + 1) * double(kernels.size() - i - 1);
    std::string outcome = r.best == r.defaults
                              ? "defaults kept"
                              : describe(cache.device(), r.best);
    std::printf("[%zu/%zu] %s: %.3g ms default -> %.3g ms (%s), ETA %s\n",
                i + 1, kernels.size(), k.label().c_str(), r.defaultMs, r.bestMs,
                outcome.c_str(), formatDuration(eta).c_str());
    std::fflush(stdout);
    double flop = 2.0 * k.spec.multiplyAddsPerRow() * double(tokens);
    Row row{k.label(), std::move(r), flop};
    if (cublas) {
      int64_t m = k.spec.m < 0 ? tokens : k.spec.m,
              kk = k.spec.k < 0 ? tokens : k.spec.k;
      auto dense =
          cublas->timeDenseGemm(colm::cuda::defaultDeviceOrdinal(), m, k.spec.n,
                                kk, k.spec.bf16, int(repeats));
      if (dense) {
        double denseFlop = 2.0 * double(m) * double(k.spec.n) * double(kk);
        row.ofCublas = row.result.bestMs > 0 ? (flop / row.result.bestMs) /
                                                   (denseFlop / dense->ms)
                                             : -1;
      } else {
        // Once: a library that cannot run here will not run later either.
        std::printf("yardstick: cuBLASLt failed (%s); measuring without it\n",
                    dense.status().message().c_str());
        cublas = nullptr;
      }
    }
    rows.push_back(std::move(row));
  }

  std::printf("\n%-40s %10s %10s %6s %9s %9s  %s\n", "kernel", "default ms",
              "tuned ms", "gain", "TFLOP/s", "of dense", "knobs");
  double totalDefault = 0, totalTuned = 0;
  for (const Row &row : rows) {
    const cpu::TuneResult &r = row.result;
    // Useful FLOP only: the blocks a chain GEMM skips do not count.
    double tflops =
        r.bestMs > 0 ? row.usefulFlop / (r.bestMs * 1e-3) / 1e12 : 0;
    // "of dense": useful FLOP/s as a fraction of cuBLASLt's dense rate on
    // the same M x N x K (the issue's efficiency measure); "-" without it.
    char ofDense[16] = "-";
    if (row.ofCublas >= 0)
      std::snprintf(ofDense, sizeof ofDense, "%.2f", row.ofCublas);
    std::printf("%-40s %10.3f %10.3f %6s %9.3g %9s  %s\n", row.label.c_str(),
                r.defaultMs, r.bestMs, gain(r.defaultMs, r.bestMs).c_str(),
                tflops, ofDense, describe(cache.device(), r.best).c_str());
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
