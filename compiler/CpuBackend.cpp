//===- CpuBackend.cpp - Functions compiled to CPU kernels -----------------===//
#include "compiler/CpuBackend.h"

#include "compiler/codegen/KernelIR.h"

#include "compiler/codegen/ChainGemm.h"
#include "compiler/codegen/TuningCache.h"
#include "compiler/codegen/cpu/CompileProgram.h"
#include "compiler/codegen/cpu/GemmTuner.h"
#include "compiler/codegen/cuda/CompileProgram.h"
#include "compiler/codegen/cuda/GemmTuner.h"
#include "passes/Passes.h"
#include "runtime/CpuInfo.h"

#include "mlir/Pass/PassManager.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

namespace colm {
using codegen::TuningCache;

Result<Backend> parseBackend(const std::string &name) {
  if (name == "reference")
    return Backend::Reference;
  if (name == "cpu")
    return Backend::Cpu;
  if (name == "cuda-sim")
    return Backend::CudaSim;
  if (name == "cuda")
    return Backend::Cuda;
  return Status::error("unknown backend '" + name +
                       "' (choose reference, cpu, cuda-sim or cuda)");
}

const char *backendName(Backend backend) {
  switch (backend) {
  case Backend::Cpu:
    return "cpu";
  case Backend::CudaSim:
    return "cuda-sim";
  case Backend::Cuda:
    return "cuda";
  case Backend::Reference:
    break;
  }
  return "reference";
}

Result<codegen::Precision> parsePrecision(const std::string &name) {
  if (name == "fp32")
    return codegen::Precision::Fp32;
  if (name == "bf16")
    return codegen::Precision::Bf16;
  return Status::error("unknown precision '" + name +
                       "' (choose fp32 or bf16)");
}

const char *precisionName(codegen::Precision precision) {
  return precision == codegen::Precision::Bf16 ? "bf16" : "fp32";
}

namespace {
std::atomic<codegen::Precision> processPrecision{codegen::Precision::Fp32};
} // namespace

void setCpuPrecision(codegen::Precision precision) {
  processPrecision = precision;
}

codegen::Precision cpuPrecision() { return processPrecision; }

int kernelThreads() { return CpuInfo::host().threads; }

namespace {

/// One JIT and one tuning cache per process: the JIT's statistics then sum
/// over every function compiled.
struct HostCompiler {
  std::mutex mutex;
  std::optional<CpuJit> jit;
  std::optional<TuningCache> tuning;
  /// The GPU's (cuda backend), loaded on first use.
  std::optional<TuningCache> gpuTuning;
  Status status;
};

HostCompiler &hostCompiler() {
  static HostCompiler h;
  return h;
}

std::string mib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}

} // namespace

Result<codegen::KernelProgram>
lowerFunction(mlir::func::FuncOp func,
              const codegen::LoweringOptions &options) {
  // Fusion runs on a copy: the caller's function stays as it was (the
  // reference backend and later compilations read it).
  mlir::OwningOpRef<mlir::ModuleOp> fused =
      mlir::ModuleOp::create(func.getLoc());
  auto copy = func.clone();
  fused->push_back(copy);
  mlir::PassManager pm(func.getContext());
  chain::buildFusionPipeline(pm);
  if (mlir::failed(pm.run(*fused)))
    return Status::error("the fusion passes failed on @" +
                         func.getName().str());
  COLM_ASSIGN_OR_RETURN(codegen::KernelProgram lowered,
                        codegen::lowerToKernels(copy, options));
  // What runs is the program the kernel dialect holds, verified.
  return codegen::throughKernelDialect(lowered, *func.getContext());
}

Result<CompiledFunction> compileForCpu(mlir::func::FuncOp func,
                                       codegen::LoweringOptions options,
                                       Backend backend) {
  auto start = std::chrono::steady_clock::now();
  HostCompiler &host = hostCompiler();
  std::lock_guard<std::mutex> lock(host.mutex);
  if (!host.jit && host.status.isOk()) {
    auto jit = CpuJit::create();
    if (!jit)
      host.status = jit.status().withContext("the cpu backend");
    else
      host.jit.emplace(jit.take());
    host.tuning.emplace(TuningCache::forHost());
    host.tuning->load();
  }
  if (!host.status)
    return host.status;
  if (cpuPrecision() == codegen::Precision::Bf16)
    options.precision = codegen::Precision::Bf16;
  codegen::cpu::VectorIsa isa = codegen::cpu::hostVectorIsa();
  const TuningCache *gpuTuning = nullptr;
  if (backend == Backend::Cuda) {
    COLM_ASSIGN_OR_RETURN(const cuda::Driver *driver, cuda::Driver::get());
    COLM_ASSIGN_OR_RETURN(cuda::DeviceInfo device,
                          driver->device(cuda::defaultDeviceOrdinal()));
    // Loaded once per device and cache directory.
    TuningCache wanted = TuningCache::forGpu(codegen::TuningDevice::fromGpu(
        device.name, device.arch(), device.driverVersion));
    if (!host.gpuTuning || host.gpuTuning->path() != wanted.path()) {
      host.gpuTuning.emplace(std::move(wanted));
      host.gpuTuning->load();
    }
    gpuTuning = &*host.gpuTuning;
  }
  if (!options.gemmKnobs) {
    const TuningCache *tuning = &*host.tuning;
    options.gemmKnobs = [isa, tuning,
                         gpuTuning](const codegen::ChainGemmSpec &spec) {
      codegen::GemmKnobs k = codegen::cpu::chooseKnobs(spec, isa, tuning);
      // The CUDA tile `colm tune --backend cuda` measured on this GPU.
      if (gpuTuning)
        k.cuda = codegen::cuda::chooseTile(spec, gpuTuning);
      return k;
    };
  }
  CompiledFunction f;
  COLM_ASSIGN_OR_RETURN(f.kernels, lowerFunction(func, options));
  JitStats before = host.jit->stats();
  if (backend == Backend::Cuda) {
    COLM_ASSIGN_OR_RETURN(
        f.executor, codegen::cuda::compileForDevice(
                        f.kernels, *host.jit, cuda::defaultDeviceOrdinal()));
  } else {
    COLM_ASSIGN_OR_RETURN(
        auto libraries,
        backend == Backend::CudaSim
            ? codegen::cuda::compileForSimulator(f.kernels, *host.jit)
            : codegen::cpu::compileProgram(f.kernels, *host.jit));
    COLM_ASSIGN_OR_RETURN(f.executor, CpuExecutor::create(f.kernels.program,
                                                          std::move(libraries),
                                                          kernelThreads()));
  }
  JitStats after = host.jit->stats();
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "%zu kernels (%lld compiled in %.1f s), %zu launches, arena %s "
                "(%s without the plan)",
                f.kernels.specs.size(),
                static_cast<long long>(after.compiled - before.compiled),
                after.compileSeconds - before.compileSeconds,
                f.kernels.program.launches.size(),
                mib(double(f.kernels.program.arenaBytes)).c_str(),
                mib(double(f.kernels.program.unplannedBytes())).c_str());
  f.summary = buf;
  if (options.precision == codegen::Precision::Bf16)
    f.summary += CpuInfo::host().avx512bf16
                     ? "; bf16 GEMM inputs"
                     : "; bf16 GEMM inputs, rounded and multiplied in fp32 "
                       "(this CPU has no AVX512_BF16)";
  f.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return f;
}

Status bindParams(Executor &executor, const TensorMap &params,
                  BoundParams &owned) {
  owned.slices.clear();
  owned.bf16.clear();
  owned.bound.clear();
  const Program &p = executor.program();
  size_t count = 0;
  for (const ProgramBuffer &b : p.buffers)
    count += b.role == BufferRole::Param;
  // No reallocation while pointers into `owned` are handed out.
  owned.slices.reserve(count);
  owned.bf16.reserve(count);
  for (const ProgramBuffer &b : p.buffers) {
    if (b.role != BufferRole::Param)
      continue;
    auto it = params.find(b.name);
    if (it == params.end())
      return Status::error("the model has no parameter '" + b.name + "'");
    const Tensor &t = it->second;
    std::vector<int64_t> shape = b.shapeAt(p.maxSizes);
    const float *data = t.data.data();
    int64_t elements = static_cast<int64_t>(t.data.size());
    if (t.shape != shape) {
      // The leading block of each dimension (a sub-model's prefix).
      if (t.shape.size() != shape.size())
        return Status::error("parameter '" + b.name + "' is " +
                             formatShape(t.shape) + ", the program needs " +
                             formatShape(shape));
      for (size_t d = 0; d < t.shape.size(); ++d)
        if (shape[d] > t.shape[d])
          return Status::error("parameter '" + b.name + "' is " +
                               formatShape(t.shape) + ", smaller than the " +
                               formatShape(shape) + " the program needs");
      std::vector<float> &slice =
          owned.slices.emplace_back(b.elements(p.maxSizes));
      if (shape.size() == 1) {
        std::copy(t.data.begin(), t.data.begin() + shape[0], slice.begin());
      } else if (shape.size() == 2) {
        for (int64_t r = 0; r < shape[0]; ++r)
          std::copy(t.data.begin() + r * t.shape[1],
                    t.data.begin() + r * t.shape[1] + shape[1],
                    slice.begin() + r * shape[1]);
      } else {
        return Status::error("parameter '" + b.name +
                             "': only 1-D and 2-D slices are supported");
      }
      data = slice.data();
      elements = static_cast<int64_t>(slice.size());
    }
    if (b.type == ElementType::BF16) {
      std::vector<uint16_t> &bits = owned.bf16.emplace_back(elements);
      for (int64_t e = 0; e < elements; ++e)
        bits[e] = codegen::toBf16Bits(data[e]);
      COLM_TRY(executor.bind(b.name, bits.data(), elements * 2));
      owned.bound[b.name] = {bits.data(), elements * 2};
      continue;
    }
    COLM_TRY(executor.bind(b.name, data, elements * 4));
    owned.bound[b.name] = {data, elements * 4};
  }
  return Status::ok();
}

Status bindBoundParams(Executor &executor, const BoundParams &owned) {
  const Program &p = executor.program();
  for (const ProgramBuffer &b : p.buffers) {
    if (b.role != BufferRole::Param)
      continue;
    auto it = owned.bound.find(b.name);
    int64_t bytes = b.elements(p.maxSizes) * elementBytes(b.type);
    if (it == owned.bound.end() || it->second.second != bytes)
      return Status::error("internal error: parameter '" + b.name +
                           "' is not bound alike in every program");
    COLM_TRY(executor.bind(b.name, it->second.first, bytes));
  }
  return Status::ok();
}

Result<Tensor> runForwardOnCpu(mlir::ModuleOp module,
                               const std::vector<int32_t> &tokens,
                               const TensorMap &params, Backend backend) {
  auto forward = module.lookupSymbol<mlir::func::FuncOp>("forward");
  if (!forward)
    return Status::error("the module has no @forward function");
  if (tokens.empty())
    return Status::error("no tokens to run");
  codegen::LoweringOptions options;
  options.sequences = 1;
  options.sequenceLength = static_cast<int64_t>(tokens.size());
  COLM_ASSIGN_OR_RETURN(CompiledFunction f,
                        compileForCpu(forward, options, backend));
  Executor &e = *f.executor;
  int64_t bytes = static_cast<int64_t>(tokens.size()) * 4;
  std::vector<int32_t> positions = sequencePositions(1, options.sequenceLength);
  COLM_TRY(e.bind("arg0", tokens.data(), bytes));
  if (e.has("positions", BufferRole::Input))
    COLM_TRY(e.bind("positions", positions.data(), bytes));
  BoundParams slices;
  COLM_TRY(bindParams(e, params, slices));
  COLM_TRY(e.run());
  COLM_ASSIGN_OR_RETURN(const void *data, e.output("result0"));
  Tensor logits;
  COLM_ASSIGN_OR_RETURN(logits.shape, e.shapeOf("result0"));
  const float *values = static_cast<const float *>(data);
  logits.data.assign(values, values + logits.numel());
  return logits;
}

std::vector<int32_t> sequencePositions(int64_t sequences, int64_t length) {
  std::vector<int32_t> positions(static_cast<size_t>(sequences * length));
  for (int64_t s = 0; s < sequences; ++s)
    for (int64_t t = 0; t < length; ++t)
      positions[s * length + t] = static_cast<int32_t>(t);
  return positions;
}

} // namespace colm
