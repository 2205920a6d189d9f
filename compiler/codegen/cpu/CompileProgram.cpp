//===- CompileProgram.cpp - A kernel program as host C++ binaries ---------===//
#include "compiler/codegen/cpu/CompileProgram.h"

#include "compiler/codegen/cpu/RenderAttention.h"
#include "compiler/codegen/cpu/RenderCrossEntropy.h"
#include "compiler/codegen/cpu/RenderMovement.h"
#include "compiler/codegen/cpu/RenderPointwise.h"
#include "runtime/File.h"

namespace colm::codegen::cpu {

namespace {

template <class... F> struct Overload : F... { using F::operator()...; };
template <class... F> Overload(F...) -> Overload<F...>;

} // namespace

KernelSource renderKernel(const KernelSpec &spec, const VectorIsa &isa) {
  std::string source = std::visit(
      Overload{
          [&](const ChainGemmSpec &s) { return renderChainGemm(s, isa); },
          [](const ChainNormSpec &s) { return renderChainNorm(s); },
          [](const RopeSpec &s) { return renderRope(s); },
          [](const SwiGluSpec &s) { return renderSwiGlu(s); },
          [&](const AttentionSpec &s) { return renderAttention(s, isa); },
          [&](const CrossEntropySpec &s) { return renderCrossEntropy(s, isa); },
          [](const EmbedSpec &s) { return renderEmbed(s); },
          [](const ElementwiseSpec &s) { return renderElementwise(s); },
          [](const CopySpec &s) { return renderCopy(s); },
          [](const WeightedSumSpec &s) { return renderWeightedSum(s); },
      },
      spec);
  return {kernelName(spec), std::move(source)};
}

Result<std::vector<std::shared_ptr<DynamicLibrary>>>
compileProgram(const KernelProgram &program, CpuJit &jit) {
  VectorIsa isa = hostVectorIsa();
  std::vector<KernelSource> sources;
  for (const KernelSpec &spec : program.specs)
    sources.push_back(renderKernel(spec, isa));
  return jit.compile(sources);
}

Status
writeArtifact(const KernelProgram &program,
              const std::vector<std::shared_ptr<DynamicLibrary>> &libraries,
              const std::string &dir) {
  if (libraries.size() != program.specs.size())
    return Status::error("writeArtifact: one library per kernel is needed");
  std::string kernels = dir + "/kernels";
  if (Status s = makeDirectories(kernels); !s)
    return s;
  VectorIsa isa = hostVectorIsa();
  for (size_t i = 0; i < program.specs.size(); ++i) {
    KernelSource k = renderKernel(program.specs[i], isa);
    if (Status s = writeFileAtomic(kernels + "/" + k.name + ".cpp", k.source);
        !s)
      return s;
    COLM_ASSIGN_OR_RETURN(std::string binary, readFile(libraries[i]->path()));
    if (Status s = writeFileAtomic(kernels + "/" + k.name + ".so", binary); !s)
      return s;
  }
  return saveProgram(program.program, dir);
}

} // namespace colm::codegen::cpu
