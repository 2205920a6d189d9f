//===- CompileProgram.cpp - A kernel program as CUDA ----------------------===//
#include "compiler/codegen/cuda/CompileProgram.h"

#include "compiler/codegen/cuda/RenderAttention.h"
#include "compiler/codegen/cuda/RenderChainGemm.h"
#include "compiler/codegen/cuda/RenderCrossEntropy.h"
#include "compiler/codegen/cuda/RenderMovement.h"
#include "compiler/codegen/cuda/RenderPointwise.h"

namespace colm::codegen::cuda {

namespace {
template <class... F> struct Overload : F... { using F::operator()...; };
template <class... F> Overload(F...) -> Overload<F...>;
} // namespace

std::string renderKernel(const KernelSpec &spec, CudaBuild build) {
  return std::visit(
      Overload{
          [&](const ChainGemmSpec &s) { return renderChainGemm(s, build); },
          [&](const ChainNormSpec &s) { return renderChainNorm(s, build); },
          [&](const RopeSpec &s) { return renderRope(s, build); },
          [&](const SwiGluSpec &s) { return renderSwiGlu(s, build); },
          [&](const AttentionSpec &s) { return renderAttention(s, build); },
          [&](const CrossEntropySpec &s) {
            return renderCrossEntropy(s, build);
          },
          [&](const EmbedSpec &s) { return renderEmbed(s, build); },
          [&](const ElementwiseSpec &s) { return renderElementwise(s, build); },
          [&](const CopySpec &s) { return renderCopy(s, build); },
          [&](const WeightedSumSpec &s) { return renderWeightedSum(s, build); },
      },
      spec);
}

std::string kernelSymbol(const KernelSpec &spec) {
  return "colm_" + kernelName(spec) + "_kernel";
}

Result<std::vector<std::shared_ptr<DynamicLibrary>>>
compileForSimulator(const KernelProgram &program, CpuJit &jit) {
  std::vector<KernelSource> sources;
  for (const KernelSpec &spec : program.specs)
    sources.push_back(
        {"cuda_" + kernelName(spec), renderKernel(spec, CudaBuild::HostSim)});
  return jit.compile(sources, hostSimFlags());
}

} // namespace colm::codegen::cuda
