//===- GemmTuner.cpp - Measure the CUDA chain GEMM's tiles on a GPU -------===//

#include "compiler/codegen/cuda/GemmTuner.h"

#include "compiler/codegen/cpu/RenderChainGemm.h"
#include "compiler/codegen/cuda/CompileProgram.h"
#include "compiler/codegen/cuda/Nvrtc.h"
#include "compiler/codegen/cuda/RenderChainGemm.h"
#include "runtime/cuda/CublasLt.h"
#include "runtime/cuda/EventTimer.h"

#include "runtime/Median.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

namespace colm::codegen::cuda {
namespace {

using colm::cuda::CUdeviceptr;
using colm::cuda::Driver;

double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// What one tuning run holds on the device, released in any case.
struct DeviceState {
  const Driver *driver = nullptr;
  colm::cuda::CUdevice dev = 0;
  colm::cuda::CUcontext context = nullptr;
  std::vector<CUdeviceptr> memory;
  std::vector<colm::cuda::CUmodule> modules;
  ~DeviceState() {
    if (!context)
      return;
    const colm::cuda::DriverApi &f = driver->api();
    f.cuCtxSetCurrent(context);
    for (colm::cuda::CUmodule m : modules)
      f.cuModuleUnload(m);
    for (CUdeviceptr p : memory)
      f.cuMemFree(p);
    f.cuDevicePrimaryCtxRelease(dev);
  }
  Result<CUdeviceptr> alloc(size_t bytes) {
    CUdeviceptr p = 0;
    COLM_TRY(driver->check(
        driver->api().cuMemAlloc(&p, std::max<size_t>(bytes, 256)),
        "cuMemAlloc"));
    memory.push_back(p);
    return p;
  }
};

/// The translated address of host pointer `p` inside [base, ...) at `dev`.
template <class T> T *moved(T *p, const float *base, CUdeviceptr dev) {
  auto offset =
      reinterpret_cast<const char *>(p) - reinterpret_cast<const char *>(base);
  return reinterpret_cast<T *>(dev + CUdeviceptr(offset));
}

} // namespace

std::vector<CudaGemmTile> tileCandidates(const ChainGemmSpec &spec) {
  std::vector<CudaGemmTile> out = {CudaGemmTile{}};
  for (int bm : {64, 128})
    for (int bn : {32, 64, 128})
      for (int bk : {32, 64}) {
        CudaGemmTile t{bm, bn, bk};
        if (t == CudaGemmTile{})
          continue;
        ChainGemmSpec s = spec;
        s.knobs.cuda = t;
        if (validateChainGemm(s).isOk() && checkTile(s).isOk())
          out.push_back(t);
      }
  return out;
}

std::string describeTile(const CudaGemmTile &t) {
  if (t.cublas)
    return "cuBLASLt";
  return std::to_string(t.bm) + "x" + std::to_string(t.bn) + ", k step " +
         std::to_string(t.bk);
}

Result<cpu::TuneResult>
tuneChainGemm(const ChainGemmSpec &spec, int64_t dynamicSize, int ordinal,
              CpuJit &jit, const cpu::TuneOptions &options, bool tryCublas) {
  if (dynamicSize < 1)
    return Status::error("tuning " + spec.name() +
                         ": the dynamic size must be positive");
  if (options.repeats < 1)
    return Status::error("tuning " + spec.name() +
                         ": at least one repeat is needed");
  std::vector<CudaGemmTile> tiles;
  if (options.candidates.empty())
    tiles = tileCandidates(spec);
  else
    for (const GemmKnobs &k : options.candidates)
      tiles.push_back(k.cuda);
  // The default tile first: the reference of the bit check and of the gain.
  auto it = std::find(tiles.begin(), tiles.end(), CudaGemmTile{});
  if (it != tiles.end())
    tiles.erase(it);
  tiles.insert(tiles.begin(), CudaGemmTile{});
  if (options.maxCandidates > 0 && tiles.size() > options.maxCandidates)
    tiles.resize(options.maxCandidates);

  std::vector<ChainGemmSpec> specs;
  std::vector<DeviceKernel> kernelsToBuild;
  for (const CudaGemmTile &t : tiles) {
    ChainGemmSpec s = spec;
    s.knobs.cuda = t;
    COLM_TRY(validateChainGemm(s));
    COLM_TRY(checkTile(s));
    specs.push_back(std::move(s));
  }
  for (const ChainGemmSpec &s : specs)
    kernelsToBuild.push_back(
        {s.name(), [&s](CudaBuild b) { return renderChainGemm(s, b); }, ""});

  COLM_ASSIGN_OR_RETURN(const Driver *driver, Driver::get());
  COLM_ASSIGN_OR_RETURN(colm::cuda::DeviceInfo info, driver->device(ordinal));
  const colm::cuda::DriverApi &f = driver->api();
  cpu::TuneResult result;
  result.defaults = spec.knobs;
  result.defaults.cuda = CudaGemmTile{};
  double t0 = now();
  COLM_ASSIGN_OR_RETURN(DeviceModules built,
                        buildModules(kernelsToBuild, jit, info, "tune"));
  const std::vector<std::string> &modules = built.images;
  std::shared_ptr<DynamicLibrary> geometryLibrary = built.geometry;
  result.compileSeconds = now() - t0;
  t0 = now();

  DeviceState state;
  state.driver = driver;
  COLM_TRY(driver->check(f.cuDeviceGet(&state.dev, ordinal), "cuDeviceGet"));
  colm::cuda::CUcontext context = nullptr;
  COLM_TRY(driver->check(f.cuDevicePrimaryCtxRetain(&context, state.dev),
                         "cuDevicePrimaryCtxRetain"));
  state.context = context;
  COLM_TRY(driver->check(f.cuCtxSetCurrent(context), "cuCtxSetCurrent"));
  COLM_ASSIGN_OR_RETURN(std::unique_ptr<colm::cuda::EventTimer> timer,
                        colm::cuda::EventTimer::create(*driver));

  std::vector<colm::cuda::CUfunction> fns;
  std::vector<CudaGeometryFn> geometry;
  size_t kernels = specs.size();
  // cuBLASLt as one more candidate where it can run the GEMM (a dense
  // product without prologue or epilogue) and the library works here.
  std::unique_ptr<colm::cuda::LtSession> cublas;
  if (tryCublas && libraryEligible(spec))
    if (auto lt = colm::cuda::CublasLt::get(); lt)
      if (auto session = colm::cuda::LtSession::create(**lt, *driver);
          session) {
        cublas = session.take();
        ChainGemmSpec s = spec;
        s.knobs.cuda = CudaGemmTile{};
        s.knobs.cuda.cublas = true;
        specs.push_back(std::move(s));
      }
  for (size_t i = 0; i < kernels; ++i) {
    colm::cuda::CUmodule m = nullptr;
    COLM_TRY(driver->check(f.cuModuleLoadData(&m, modules[i].data()),
                           ("loading " + specs[i].name()).c_str()));
    state.modules.push_back(m);
    std::string symbol = cpu::chainGemmSymbol(specs[i]);
    colm::cuda::CUfunction fn = nullptr;
    COLM_TRY(driver->check(
        f.cuModuleGetFunction(&fn, m, (symbol + "_kernel").c_str()),
        ("cuModuleGetFunction " + symbol + "_kernel").c_str()));
    fns.push_back(fn);
    COLM_ASSIGN_OR_RETURN(
        CudaGeometryFn g,
        geometryLibrary->function<void(const void *, unsigned *, unsigned *)>(
            symbol + "_geometry"));
    geometry.push_back(g);
  }

  // Host operands, as the CPU tuner makes them: A, B and C of every
  // product side by side, random; c0 is what every check starts from.
  int64_t M = spec.m < 0 ? dynamicSize : spec.m,
          K = spec.k < 0 ? dynamicSize : spec.k, N = spec.n;
  std::mt19937 rng(12345);
  std::normal_distribution<float> normal;
  std::vector<float> a(size_t(M * K)), b(size_t(K * N)), c0(size_t(M * N));
  for (std::vector<float> *v : {&a, &b, &c0})
    for (float &x : *v)
      x = normal(rng);
  ColmGemmArgs host{a.data(),
                    b.data(),
                    c0.data(),
                    M,
                    N,
                    K,
                    spec.aTransposed ? M : K,
                    spec.bTransposed ? K : N,
                    N};
  setContiguousGroups(spec, host);

  int64_t sets = colm::cuda::copiesBeyondL2(
      info, int64_t(a.size() + b.size() + c0.size()) * 4, 64);
  std::vector<ColmGemmArgs> args;
  std::vector<CUdeviceptr> cAt;
  for (int64_t i = 0; i < sets; ++i) {
    COLM_ASSIGN_OR_RETURN(CUdeviceptr da, state.alloc(a.size() * 4));
    COLM_ASSIGN_OR_RETURN(CUdeviceptr db, state.alloc(b.size() * 4));
    COLM_ASSIGN_OR_RETURN(CUdeviceptr dc, state.alloc(c0.size() * 4));
    COLM_TRY(driver->check(f.cuMemcpyHtoD(da, a.data(), a.size() * 4),
                           "cuMemcpyHtoD"));
    COLM_TRY(driver->check(f.cuMemcpyHtoD(db, b.data(), b.size() * 4),
                           "cuMemcpyHtoD"));
    COLM_TRY(driver->check(f.cuMemcpyHtoD(dc, c0.data(), c0.size() * 4),
                           "cuMemcpyHtoD"));
    ColmGemmArgs d = host;
    d.a = reinterpret_cast<const float *>(da);
    d.b = reinterpret_cast<const float *>(db);
    d.c = reinterpret_cast<float *>(dc);
    for (size_t g = 1; g < spec.groupColumns.size(); ++g) {
      d.gb[g - 1] = moved(host.gb[g - 1], b.data(), db);
      d.gc[g - 1] = moved(host.gc[g - 1], c0.data(), dc);
    }
    args.push_back(d);
    cAt.push_back(dc);
  }

  std::vector<std::array<unsigned, 6>> dims(specs.size());
  for (size_t i = 0; i < kernels; ++i)
    geometry[i](&args[0], &dims[i][0], &dims[i][3]);
  int64_t next = 0; // the operand copy of the next launch
  auto launch = [&](size_t i) -> Status {
    ColmGemmArgs *p = &args[size_t(next)];
    next = (next + 1) % sets;
    if (i >= kernels)
      return cublas->run(libraryGemm(spec), *p, nullptr);
    void *params[] = {p};
    const auto &d = dims[i];
    return driver->check(f.cuLaunchKernel(fns[i], d[0], d[1], d[2], d[3], d[4],
                                          d[5], 0, nullptr, params, nullptr),
                         ("launching " + specs[i].name()).c_str());
  };
  // `n` launches of candidate i between two events: ms per launch.
  auto timed = [&](size_t i, int64_t n) -> Result<double> {
    return timer->msPerCall(n, [&] { return launch(i); });
  };

  // Tiles never change the numbers: a candidate that disagrees with the
  // default in one bit is a renderer bug.
  std::vector<float> reference, got(c0.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    COLM_TRY(driver->check(f.cuMemcpyHtoD(cAt[0], c0.data(), c0.size() * 4),
                           "cuMemcpyHtoD"));
    next = 0;
    COLM_TRY(launch(i));
    COLM_TRY(driver->check(f.cuCtxSynchronize(), specs[i].name().c_str()));
    COLM_TRY(driver->check(f.cuMemcpyDtoH(got.data(), cAt[0], got.size() * 4),
                           "cuMemcpyDtoH"));
    if (i == 0) {
      reference = got;
      continue;
    }
    if (i >= kernels) {
      // cuBLASLt sums in its own order: within rounding of the kernel's
      // (bf16 inputs: the library may round to bf16 or TF32).
      double worst = 0, largest = 0;
      for (size_t e = 0; e < got.size(); ++e) {
        worst = std::max(worst, double(std::abs(got[e] - reference[e])));
        largest = std::max(largest, double(std::abs(reference[e])));
      }
      double tolerance = spec.bf16 ? 2e-2 : 1e-5 * double(K + 8);
      if (!(worst <= tolerance * std::max(largest, 1.0)))
        return Status::error(
            "internal error: cuBLASLt's result for " + spec.name() +
            " differs from the kernel's by " + std::to_string(worst) +
            " (largest entry " + std::to_string(largest) +
            "): the row-major to column-major mapping is wrong");
      continue;
    }
    if (std::memcmp(got.data(), reference.data(), got.size() * 4) != 0) {
      size_t at = 0;
      while (std::memcmp(&got[at], &reference[at], 4) == 0)
        ++at;
      return Status::error("internal error: CUDA chain GEMM " +
                           specs[i].name() + " differs from " +
                           specs[0].name() + " at element " +
                           std::to_string(at) + " (" + std::to_string(got[at]) +
                           " vs " + std::to_string(reference[at]) +
                           "): every tile must give the same bits");
    }
  }

  // Warm-up in doubling batches, which also sizes each candidate's samples.
  std::vector<int64_t> launches(specs.size(), 1);
  for (size_t i = 0; i < specs.size(); ++i) {
    double start = now(), perLaunch = 0;
    int64_t n = 1;
    for (;;) {
      COLM_ASSIGN_OR_RETURN(perLaunch, timed(i, n));
      if (now() - start >= options.warmupSeconds || n >= (1 << 20))
        break;
      n *= 2;
    }
    perLaunch = std::max(perLaunch, 1e-6);
    launches[i] = std::clamp<int64_t>(
        int64_t(std::ceil(options.minSampleSeconds * 1e3 / perLaunch)), 1,
        1 << 20);
  }
  result.timings.resize(specs.size());
  for (size_t i = 0; i < specs.size(); ++i)
    result.timings[i].knobs = specs[i].knobs;
  for (int r = 0; r < options.repeats; ++r)
    for (size_t i = 0; i < specs.size(); ++i) {
      COLM_ASSIGN_OR_RETURN(double ms, timed(i, launches[i]));
      result.timings[i].samples.push_back(ms);
    }
  size_t best = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    result.timings[i].ms = median(result.timings[i].samples);
    if (result.timings[i].ms < result.timings[best].ms)
      best = i;
  }
  result.best = specs[best].knobs;
  if (best >= kernels) {
    // cuBLASLt won: the fastest tile is kept beside it, for the fused
    // forms of this shape (an epilogue or prologue), which the library
    // cannot run.
    size_t tile = 0;
    for (size_t i = 0; i < kernels; ++i)
      if (result.timings[i].ms < result.timings[tile].ms)
        tile = i;
    result.best.cuda = specs[tile].knobs.cuda;
    result.best.cuda.cublas = true;
  }
  result.bestMs = result.timings[best].ms;
  result.defaultMs = result.timings[0].ms;
  result.measureSeconds = now() - t0;
  return result;
}

colm::cuda::LtGemm libraryGemm(const ChainGemmSpec &spec) {
  colm::cuda::LtGemm g;
  g.aTransposed = spec.aTransposed;
  g.bTransposed = spec.bTransposed;
  g.bf16 = spec.bf16;
  g.accumulate = spec.accumulate;
  return g;
}

std::string tileKey(const ChainGemmSpec &spec) {
  return spec.shapeKey() + (spec.bf16 ? " bf16" : "");
}

CudaGemmTile chooseTile(const ChainGemmSpec &spec, const TuningCache *cache,
                        bool *tuned) {
  if (tuned)
    *tuned = false;
  if (cache)
    if (std::optional<GemmKnobs> k = cache->lookup(tileKey(spec))) {
      // cuBLASLt's verdict holds for the plain product; its fused forms
      // take the fastest tile stored beside it.
      if (k->cuda.cublas && !libraryEligible(spec))
        k->cuda.cublas = false;
      ChainGemmSpec s = spec;
      s.knobs.cuda = k->cuda;
      Status st = validateChainGemm(s);
      if (st)
        st = checkTile(s);
      if (st) {
        if (tuned)
          *tuned = true;
        return k->cuda;
      }
      std::fprintf(stderr,
                   "colm: warning: the tuned CUDA tile in %s does not suit %s "
                   "(%s); using the default\n",
                   cache->path().c_str(), spec.name().c_str(),
                   st.message().c_str());
    }
  return CudaGemmTile{};
}

} // namespace colm::codegen::cuda
