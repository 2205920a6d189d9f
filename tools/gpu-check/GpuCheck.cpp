//===- GpuCheck.cpp - Compiled programs on a GPU, runtime only ------------===//
//
// colm-gpu-check DIR: runs every case that colm-gpu-prepare wrote under
// DIR/cases with the CUDA executor (the driver API; no compiler, no MLIR:
// it builds with the runtime alone, on a GPU machine without LLVM). A case
// is a compiled program (program.json, kernels/<name>.cubin, geometry.so)
// and case.json:
//   check  inputs and parameters from data/<buffer>.bin, outputs compared
//          with expect/<output>.bin (what the emulated CUDA kernels or the
//          reference gave) within `tolerance` of each output's largest
//          entry;
//   bench  data/<buffer>.bin where given, the other buffers random (floats
//          normal(0, 0.02), others zero); `repeat` timed runs after a
//          warm-up, the median, and FLOP/s and tokens/s from case.json's
//          `flops` and `tokens`; with `--profile` the slowest launches.
// Prints a line per case and writes every number to --json FILE.
// colm-gpu-check --nccl: the NCCL gradient exchange of --backend cuda
// --distributed (runtime/dist/GpuExchange) as one rank on this GPU with the
// real libnccl: packing, the pre-multiplied sum, unpacking.
//
//===----------------------------------------------------------------------===//
#include "runtime/File.h"
#include "runtime/Json.h"
#include "runtime/Model.h"
#include "runtime/Optimizer.h"
#include "runtime/Program.h"
#include "runtime/cuda/CudaExecutor.h"
#include "runtime/dist/GpuExchange.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

using namespace colm;

namespace {

struct Options {
  std::string dir, json, only;
  bool profile = false;
};

double number(const JsonValue &c, const char *key, double otherwise) {
  const JsonValue *v = c.find(key);
  return v && v->isNumber() ? v->asDouble() : otherwise;
}

uint16_t bf16Bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

Result<JsonValue> runCase(const std::string &dir, const Options &opt) {
  COLM_ASSIGN_OR_RETURN(std::string text, readFile(dir + "/case.json"));
  COLM_ASSIGN_OR_RETURN(JsonValue c, parseJson(text, dir + "/case.json"));
  std::string name = c.find("name") ? c.find("name")->asString() : dir;
  bool bench = c.find("mode") && c.find("mode")->asString() == "bench";
  COLM_ASSIGN_OR_RETURN(auto e,
                        CudaExecutor::load(dir, cuda::defaultDeviceOrdinal()));
  const Program &program = e->program();
  if (const JsonValue *sizes = c.find("sizes"); sizes && sizes->isObject()) {
    std::map<std::string, int64_t> given;
    for (const std::string &k : sizes->keys())
      given[k] = sizes->find(k)->asInt();
    COLM_TRY(e->setSizes(given));
  }
  // Inputs and parameters.
  std::vector<std::vector<uint8_t>> memory;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (const ProgramBuffer &b : program.buffers) {
    if (b.produced() || b.isView())
      continue;
    COLM_ASSIGN_OR_RETURN(auto shape, e->shapeOf(b.name));
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    int64_t bytes = n * elementBytes(b.type);
    std::string file = dir + "/data/" + b.name + ".bin";
    std::vector<uint8_t> data(size_t(bytes), 0);
    if (std::filesystem::exists(file)) {
      COLM_ASSIGN_OR_RETURN(std::string raw, readFile(file));
      if (int64_t(raw.size()) != bytes)
        return Status::error(file + " has " + std::to_string(raw.size()) +
                             " bytes; buffer '" + b.name + "' needs " +
                             std::to_string(bytes));
      std::memcpy(data.data(), raw.data(), raw.size());
    } else if (!bench) {
      return Status::error(name + ": no " + file);
    } else if (b.type == ElementType::F32) {
      for (int64_t i = 0; i < n; ++i) {
        float v = normal(rng);
        std::memcpy(&data[size_t(i * 4)], &v, 4);
      }
    } else if (b.type == ElementType::BF16) {
      for (int64_t i = 0; i < n; ++i) {
        uint16_t v = bf16Bits(normal(rng));
        std::memcpy(&data[size_t(i * 2)], &v, 2);
      }
    }
    memory.push_back(std::move(data));
    COLM_TRY(e->bind(b.name, memory.back().data(), bytes));
  }
  JsonValue result = JsonValue::object();
  result.set("case", JsonValue::string(name));
  result.set("device", JsonValue::string(e->device().describe()));
  if (!bench) {
    COLM_TRY(e->run());
    double tolerance = number(c, "tolerance", 1e-4), worstAll = 0;
    const JsonValue *outs = c.find("outputs");
    if (!outs || !outs->isArray())
      return Status::error(name + ": case.json lists no outputs");
    for (const JsonValue &o : outs->elements()) {
      const std::string &out = o.asString();
      COLM_ASSIGN_OR_RETURN(std::string want,
                            readFile(dir + "/expect/" + out + ".bin"));
      COLM_ASSIGN_OR_RETURN(const void *got, e->output(out));
      int b = program.findBuffer(out);
      if (b < 0)
        return Status::error(name + ": no output '" + out + "'");
      ElementType type = program.buffers[size_t(b)].type;
      if (type != ElementType::F32 && type != ElementType::F64)
        return Status::error(name + ": output '" + out +
                             "' is neither f32 nor f64");
      size_t width = size_t(elementBytes(type)), n = want.size() / width;
      auto at = [&](const void *p, size_t i) {
        if (type == ElementType::F64)
          return static_cast<const double *>(p)[i];
        return double(static_cast<const float *>(p)[i]);
      };
      double diff = 0, scale = 0;
      for (size_t i = 0; i < n; ++i) {
        double d = std::fabs(at(got, i) - at(want.data(), i));
        diff = std::isnan(d) ? INFINITY : std::max(diff, d);
        scale = std::max(scale, std::fabs(at(want.data(), i)));
      }
      double rel = scale > 0 ? diff / scale : diff;
      worstAll = std::max(worstAll, rel);
      std::printf("  %s %s: %.2e of its largest entry (tolerance %.0e)\n",
                  name.c_str(), out.c_str(), rel, tolerance);
    }
    bool ok = worstAll <= tolerance;
    std::printf("%s: %s\n", ok ? "PASS" : "FAIL", name.c_str());
    result.set("passed", JsonValue::boolean(ok));
    result.set("worst_relative_error", JsonValue::number(worstAll));
    return result;
  }
  int repeat = int(number(c, "repeat", 10));
  COLM_TRY(e->run()); // warm-up (and module loading)
  std::vector<double> times;
  for (int r = 0; r < repeat; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    COLM_TRY(e->run());
    times.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count());
  }
  std::sort(times.begin(), times.end());
  double median = times[times.size() / 2];
  double flops = number(c, "flops", 0), tokens = number(c, "tokens", 0);
  std::printf("BENCH: %s: %.3f ms median of %d", name.c_str(), median * 1e3,
              repeat);
  if (flops > 0)
    std::printf(", %.1f TFLOP/s", flops / median / 1e12);
  if (tokens > 0)
    std::printf(", %.0f tokens/s", tokens / median);
  std::printf("\n");
  result.set("median_seconds", JsonValue::number(median));
  result.set("flops", JsonValue::number(flops));
  result.set("tokens", JsonValue::number(tokens));
  if (opt.profile) {
    e->setProfiling(true);
    COLM_TRY(e->run());
    std::map<std::string, std::pair<double, double>> byKernel;
    for (const LaunchProfile &p : e->profile()) {
      byKernel[p.kernel].first += p.seconds;
      byKernel[p.kernel].second += p.flops;
    }
    std::vector<std::pair<double, std::string>> order;
    for (auto &[k, v] : byKernel)
      order.push_back({v.first, k});
    std::sort(order.rbegin(), order.rend());
    // Every kernel in the JSON (the tile comparison needs them all), the
    // slowest 12 on the screen.
    JsonValue kernels = JsonValue::array();
    for (size_t i = 0; i < order.size(); ++i) {
      auto &[secs, kernel] = order[i];
      double f = byKernel[kernel].second;
      if (i < 12)
        std::printf("  %-60s %8.3f ms %7.1f TFLOP/s\n", kernel.c_str(),
                    secs * 1e3, secs > 0 ? f / secs / 1e12 : 0.0);
      JsonValue k = JsonValue::object();
      k.set("kernel", JsonValue::string(kernel));
      k.set("seconds", JsonValue::number(secs));
      k.set("flops", JsonValue::number(f));
      kernels.push(std::move(k));
    }
    result.set("profile", std::move(kernels));
  }
  return result;
}

/// One rank's GpuExchange on device $COLM_CUDA_DEVICE with NCCL: the
/// trainable entries halved, every other entry's bits kept.
Status ncclCheck() {
  COLM_ASSIGN_OR_RETURN(const cuda::Driver *driver, cuda::Driver::get());
  const cuda::DriverApi &f = driver->api();
  int ordinal = cuda::defaultDeviceOrdinal();
  cuda::CUdevice dev = 0;
  COLM_TRY(driver->check(f.cuDeviceGet(&dev, ordinal), "cuDeviceGet"));
  cuda::CUcontext context = nullptr;
  COLM_TRY(driver->check(f.cuDevicePrimaryCtxRetain(&context, dev),
                         "cuDevicePrimaryCtxRetain"));
  COLM_TRY(driver->check(f.cuCtxSetCurrent(context), "cuCtxSetCurrent"));
  ModelConfig mc;
  mc.vocabSize = 64;
  mc.hiddenSize = 64;
  mc.intermediateSize = 128;
  mc.numLayers = 2;
  mc.numHeads = 4;
  mc.numKvHeads = 2;
  mc.chains = {1, 1, 2};
  mc.kvSharing = true;
  int frozen = 1;
  std::vector<dist::FlatParam> layout;
  std::vector<float> host;
  std::vector<uint8_t> trainable;
  for (const ParamSpec &spec : modelParams(mc)) {
    layout.push_back({spec.name, spec.shape, int64_t(host.size())});
    for (uint8_t m : trainableMask(mc, spec, frozen)) {
      trainable.push_back(m);
      host.push_back(float(host.size() % 101) - 50.0f);
    }
  }
  cuda::CUdeviceptr grads = 0;
  COLM_TRY(driver->check(f.cuMemAlloc(&grads, host.size() * 4), "cuMemAlloc"));
  COLM_TRY(driver->check(f.cuMemcpyHtoD(grads, host.data(), host.size() * 4),
                         "cuMemcpyHtoD"));
  auto comm = std::make_shared<dist::SoloCommunicator>();
  comm->setTimeout(60);
  COLM_ASSIGN_OR_RETURN(
      auto x, dist::GpuExchange::create(comm, context, mc, frozen, layout));
  cuda::CUdeviceptr slice = 0;
  COLM_TRY(driver->check(f.cuMemAlloc(&slice, size_t(x->sliceEntries()) * 4),
                         "cuMemAlloc"));
  auto t0 = std::chrono::steady_clock::now();
  COLM_TRY(x->reduceScatter(grads, 0.5, slice, "the check"));
  COLM_TRY(x->allGather(slice, grads, "the check"));
  double ms =
      1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
                .count();
  std::vector<float> back(host.size());
  COLM_TRY(driver->check(f.cuMemcpyDtoH(back.data(), grads, back.size() * 4),
                         "cuMemcpyDtoH"));
  int64_t wrong = 0;
  for (size_t i = 0; i < host.size(); ++i)
    wrong += back[i] != (trainable[i] ? host[i] * 0.5f : host[i]);
  std::printf("%s: %s, %lld of %zu entries trainable, reduce-scatter and "
              "all-gather %.2f ms: %lld wrong\n",
              wrong ? "FAIL" : "PASS", x->name().c_str(),
              (long long)x->trainableEntries(), host.size(), ms,
              (long long)wrong);
  f.cuMemFree(grads);
  f.cuMemFree(slice);
  x.reset();
  f.cuDevicePrimaryCtxRelease(dev);
  return wrong ? Status::error("the NCCL exchange changed the wrong entries")
               : Status::ok();
}

} // namespace

int main(int argc, char **argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json" && i + 1 < argc)
      opt.json = argv[++i];
    else if (a == "--only" && i + 1 < argc)
      opt.only = argv[++i];
    else if (a == "--profile")
      opt.profile = true;
    else if (a == "--nccl") {
      Status s = ncclCheck();
      if (!s)
        std::printf("FAIL: nccl: %s\n", s.message().c_str());
      return s ? 0 : 1;
    } else if (a == "--help" || a == "-h") {
      std::printf("usage: colm-gpu-check DIR [--only PREFIX] [--profile] "
                  "[--json FILE]\n       colm-gpu-check --nccl\n\nRuns the "
                  "cases colm-gpu-prepare wrote in "
                  "DIR/cases (those whose name starts with PREFIX) on CUDA "
                  "device $COLM_CUDA_DEVICE (default 0).\n");
      return 0;
    } else if (opt.dir.empty() && a[0] != '-')
      opt.dir = a;
    else {
      std::fprintf(stderr, "colm-gpu-check: unknown argument '%s'\n",
                   a.c_str());
      return 2;
    }
  }
  if (opt.dir.empty()) {
    std::fprintf(stderr, "usage: colm-gpu-check DIR [--only CASE] "
                         "[--profile] [--json FILE]\n");
    return 2;
  }
  std::vector<std::string> cases;
  std::error_code ec;
  for (const auto &entry :
       std::filesystem::directory_iterator(opt.dir + "/cases", ec))
    if (entry.is_directory())
      cases.push_back(entry.path().string());
  if (ec || cases.empty()) {
    std::fprintf(stderr, "colm-gpu-check: no cases under %s/cases\n",
                 opt.dir.c_str());
    return 2;
  }
  std::sort(cases.begin(), cases.end());
  JsonValue all = JsonValue::array();
  int failed = 0;
  for (const std::string &dir : cases) {
    if (!opt.only.empty() &&
        std::filesystem::path(dir).filename().string().rfind(opt.only, 0) != 0)
      continue;
    auto r = runCase(dir, opt);
    if (!r) {
      std::printf("FAIL: %s: %s\n", dir.c_str(), r.status().message().c_str());
      ++failed;
      JsonValue f = JsonValue::object();
      f.set("case", JsonValue::string(dir));
      f.set("error", JsonValue::string(r.status().message()));
      all.push(std::move(f));
      continue;
    }
    if (const JsonValue *p = r->find("passed"); p && !p->asBool())
      ++failed;
    all.push(r.take());
  }
  if (!opt.json.empty())
    if (Status s = writeFileAtomic(opt.json, writeJson(all)); !s) {
      std::fprintf(stderr, "colm-gpu-check: %s\n", s.message().c_str());
      return 1;
    }
  std::printf("colm-gpu-check: %d failed\n", failed);
  return failed ? 1 : 0;
}
