//===- Colmc.cpp - The compiler driver on graph files ---------------------===//
//
// graph file -> chain (parsed, verified, proven causal; differentiated for
// --step train|eval) -> fused (the fusion passes' groups) -> kernels (the
// lowered kernel program with its buffer plan) -> source (every kernel
// rendered) -> binary (the artifact `colm run` loads). Each phase can be the
// last (--compile-to) and each can be dumped
// (--dump-phases-to).
//
//===----------------------------------------------------------------------===//
#include "tools/colmc/Colmc.h"

#include "compiler/CpuBackend.h"
#include "compiler/Graph.h"
#include "compiler/codegen/KernelIR.h"
#include "compiler/codegen/LowerToKernels.h"
#include "compiler/codegen/cpu/CompileProgram.h"
#include "compiler/codegen/cpu/GemmTuner.h"
#include "compiler/codegen/cuda/CompileProgram.h"
#include "compiler/codegen/cuda/Nvrtc.h"
#include "passes/Passes.h"
#include "runtime/File.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <functional>
#include <map>
#include <optional>

using namespace mlir;
namespace cl = llvm::cl;

namespace colm {

namespace {

enum class Phase { Chain, Fused, Kernels, Source, Ptx, Binary };

cl::OptionCategory category("colmc options");

cl::opt<std::string> inputFile(cl::Positional, cl::desc("<graph file .mlir>"),
                               cl::Required, cl::cat(category));
cl::opt<std::string> target("target",
                            cl::desc("code generation target: cpu (host C++, "
                                     "compiled here) or cuda (CUDA C++ "
                                     "through NVRTC; no GPU needed)"),
                            cl::init("cpu"), cl::cat(category));
cl::opt<std::string>
    cudaArch("cuda-arch",
             cl::desc("--target cuda: the GPU architecture, sm_80 (A100), "
                      "sm_90 (H100, H200), ..."),
             cl::init("sm_80"), cl::cat(category));
cl::opt<bool> noSpills("no-spills",
                       cl::desc("--target cuda: fail when a GEMM or attention "
                                "kernel spills registers (what CI checks)"),
                       cl::init(false), cl::cat(category));
cl::opt<Phase> compileTo(
    "compile-to", cl::desc("the last phase to run"), cl::init(Phase::Binary),
    cl::values(
        clEnumValN(Phase::Chain, "chain",
                   "the chain dialect, verified and proven causal (after "
                   "chain-autodiff for --step train|eval)"),
        clEnumValN(Phase::Fused, "fused",
                   "the chain dialect after the fusion passes: chain.fused "
                   "groups that one kernel computes each"),
        clEnumValN(Phase::Kernels, "kernels",
                   "the kernel program in the kernel dialect: kernels with "
                   "their specs and knobs, buffers with the plan, launches"),
        clEnumValN(Phase::Source, "source",
                   "program.json and every kernel's source in -o DIR (C++, "
                   "or CUDA C++ for --target cuda)"),
        clEnumValN(Phase::Ptx, "ptx",
                   "--target cuda: the sources and every kernel's PTX"),
        clEnumValN(Phase::Binary, "binary",
                   "the artifact in -o DIR: program.json, kernels/*.cpp and "
                   "*.so (runs with `colm run`); for --target cuda, "
                   "kernels/*.cu, *.ptx and *.cubin and geometry.so (runs "
                   "with `colm run` on a GPU)")),
    cl::cat(category));
cl::opt<std::string> output("o",
                            cl::desc("output file (chain, kernels; '-' "
                                     "is stdout) or directory (source, "
                                     "binary)"),
                            cl::value_desc("OUT"), cl::init("-"),
                            cl::cat(category));
cl::opt<std::string>
    dumpPhasesTo("dump-phases-to",
                 cl::desc("also write every phase reached into DIR"),
                 cl::value_desc("DIR"), cl::cat(category));
cl::opt<std::string> step("step",
                          cl::desc("forward (the function as it is), train "
                                   "(loss and gradients) or eval (losses)"),
                          cl::init("forward"), cl::cat(category));
cl::opt<std::string> chainLoss("chain-loss",
                               cl::desc("train/eval: full, all or w1,...,wn"),
                               cl::init("full"), cl::cat(category));
cl::opt<unsigned> freezeChains("freeze-chains",
                               cl::desc("train: chains 1..F get no gradient"),
                               cl::init(0), cl::cat(category));
cl::opt<bool> fuse("fuse",
                   cl::desc("run the fusion passes (--fuse=false: every op "
                            "its own kernel, to compare or debug)"),
                   cl::init(true), cl::cat(category));
cl::opt<std::string> precision(
    "precision",
    cl::desc("fp32, or bf16: the linears' GEMMs read bf16-rounded inputs "
             "and accumulate in fp32"),
    cl::init("fp32"), cl::cat(category));
cl::opt<int64_t> sequences("batch", cl::desc("sequences per run"), cl::init(1),
                           cl::cat(category));
cl::opt<int64_t> sequenceLength("seq", cl::desc("tokens per sequence"),
                                cl::init(128), cl::cat(category));

int fail(const std::string &message) {
  llvm::errs() << "colmc: error: " << message << "\n";
  return 1;
}

Status writeOut(const std::string &path, const std::string &text) {
  if (path == "-") {
    llvm::outs() << text;
    return Status::ok();
  }
  return writeFileAtomic(path, text);
}

std::string moduleText(ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module.print(os);
  return text;
}

std::string mib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MiB", double(bytes) / (1 << 20));
  return buf;
}

/// --target cuda from the kernel program on: sources (and the program) into
/// -o DIR, then PTX and cubins through NVRTC, with ptxas's report.
int compileCuda(const codegen::KernelProgram &kp,
                const std::string &kernelText) {
  std::vector<codegen::cuda::CudaSource> sources;
  for (const codegen::KernelSpec &k : kp.specs)
    sources.push_back(
        {codegen::kernelName(k),
         codegen::cuda::renderKernel(k, codegen::cuda::CudaBuild::Nvrtc)});
  auto writeSources = [&](const std::string &dir) -> Status {
    COLM_TRY(makeDirectories(dir + "/kernels"));
    for (const auto &src : sources)
      COLM_TRY(
          writeFileAtomic(dir + "/kernels/" + src.name + ".cu", src.source));
    COLM_TRY(writeFileAtomic(dir + "/program.mlir", kernelText));
    Program program = kp.program;
    program.target = "cuda";
    return saveProgram(program, dir);
  };
  if (!dumpPhasesTo.empty())
    if (Status s = writeSources(dumpPhasesTo + "/4-source"); !s)
      return fail(s.message());
  if (Status s = writeSources(output); !s)
    return fail(s.message());
  if (compileTo == Phase::Source)
    return 0;
  auto nvrtc = codegen::cuda::Nvrtc::get();
  if (!nvrtc)
    return fail(nvrtc.status().message());
  bool cubin = compileTo == Phase::Binary;
  auto binaries = (*nvrtc)->compileAll(sources, cudaArch, cubin);
  if (!binaries)
    return fail(binaries.status().message());
  int hits = 0, maxRegisters = 0;
  int64_t maxShared = 0;
  std::string table = "kernel registers shared_bytes stack_bytes "
                      "spill_stores spill_loads\n";
  std::vector<std::string> spilled;
  for (size_t i = 0; i < binaries->size(); ++i) {
    const codegen::cuda::CudaBinary &b = (*binaries)[i];
    hits += b.cacheHit;
    maxRegisters = std::max(maxRegisters, b.info.registers);
    maxShared = std::max(maxShared, b.info.sharedBytes);
    table += b.name + " " + std::to_string(b.info.registers) + " " +
             std::to_string(b.info.sharedBytes) + " " +
             std::to_string(b.info.stackBytes) + " " +
             std::to_string(b.info.spillStores) + " " +
             std::to_string(b.info.spillLoads) + "\n";
    std::string kind = codegen::kernelKind(kp.specs[i]);
    if (b.info.spills() && (kind == "gemm" || kind == "attention"))
      spilled.push_back(b.name + " (" + std::to_string(b.info.spillStores) +
                        " bytes spill stores)");
    std::string stem = output + "/kernels/" + b.name;
    if (Status s = writeFileAtomic(stem + ".ptx", b.ptx); !s)
      return fail(s.message());
    if (cubin)
      if (Status s = writeFileAtomic(stem + ".cubin", b.cubin); !s)
        return fail(s.message());
  }
  if (Status s = writeFileAtomic(output + "/ptxas.txt", table); !s)
    return fail(s.message());
  llvm::errs() << "colmc: " << binaries->size() << " CUDA kernels for "
               << cudaArch << " with NVRTC " << (*nvrtc)->version() << " ("
               << hits << " cached): up to " << maxRegisters
               << " registers and " << (maxShared + 1023) / 1024
               << " KiB shared memory a block; "
               << (spilled.empty() ? std::string("no GEMM or attention "
                                                 "kernel spills")
                                   : std::to_string(spilled.size()) +
                                         " GEMM/attention kernels spill")
               << " (" << output << "/ptxas.txt)\n";
  if (noSpills && !spilled.empty()) {
    std::string list;
    for (const std::string &k : spilled)
      list += "\n  " + k;
    return fail("register spills (--no-spills):" + list);
  }
  if (cubin) {
    // The launch dimensions, evaluated on the host before each launch.
    auto jit = CpuJit::create();
    if (!jit)
      return fail(jit.status().message());
    auto geometry = codegen::cuda::compileGeometry(kp, *jit);
    if (!geometry)
      return fail(geometry.status().message());
    auto so = readFile((*geometry)->path());
    if (!so)
      return fail(so.status().message());
    if (Status s = writeFileAtomic(output + "/geometry.so", *so); !s)
      return fail(s.message());
    llvm::errs() << "colmc: wrote " << output
                 << " (run it on a GPU with: colm run --artifact " << output
                 << " --model DIR --tokens ...)\n";
    return 0;
  }
  llvm::errs() << "colmc: wrote " << output << "\n";
  return 0;
}

using FinishPhase = std::function<std::optional<int>(Phase, const std::string &,
                                                     const std::string &)>;

/// The graph phases: chain (verified, proven causal, differentiated), fused,
/// then the lowering to kernels into `out`. The exit code when colmc is done
/// before the kernels (an error, --compile-to chain or fused).
std::optional<int> lowerGraph(ModuleOp module, MLIRContext &context,
                              codegen::Precision precision,
                              codegen::cpu::VectorIsa isa,
                              const FinishPhase &finishPhase,
                              std::optional<codegen::KernelProgram> &out) {
  PassManager pm(&context);
  if (failed(applyPassManagerCLOptions(pm)))
    return 1;
  pm.addNestedPass<func::FuncOp>(chain::createVerifyCausality());
  std::string function = "forward";
  if (step != "forward") {
    chain::AutodiffOptions options;
    options.chainLoss = chainLoss;
    options.freezeChains = freezeChains;
    options.lossOnly = step == "eval";
    pm.addPass(chain::createAutodiff(options));
    function = step == "train" ? "train_step" : "eval_step";
  }
  if (failed(pm.run(module)))
    return 1;
  if (auto code = finishPhase(Phase::Chain, "1-chain.mlir", moduleText(module)))
    return code;

  PassManager fusion(&context);
  if (failed(applyPassManagerCLOptions(fusion)))
    return 1;
  if (fuse)
    chain::buildFusionPipeline(fusion);
  if (failed(fusion.run(module)))
    return 1;
  if (auto code = finishPhase(Phase::Fused, "2-fused.mlir", moduleText(module)))
    return code;

  auto func = module.lookupSymbol<func::FuncOp>(function);
  if (!func)
    return fail(inputFile + " has no @" + function + " function");
  codegen::LoweringOptions options;
  options.sequences = sequences;
  options.sequenceLength = sequenceLength;
  options.precision = precision;
  codegen::TuningCache tuning = codegen::TuningCache::forHost();
  tuning.load();
  options.gemmKnobs = [&](const codegen::ChainGemmSpec &spec) {
    return codegen::cpu::chooseKnobs(spec, isa, &tuning);
  };
  auto lowered = codegen::lowerToKernels(func, options);
  if (!lowered)
    return fail(lowered.status().message());
  // Verified as the kernel dialect (the plan included) and read back.
  auto verified = codegen::throughKernelDialect(*lowered, context);
  if (!verified)
    return fail(verified.status().message());
  out = std::move(*verified);
  return std::nullopt;
}

} // namespace

int colmcMain(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerAsmPrinterCLOptions();
  // LLVM's own options (every backend's) stay usable but out of --help.
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "colmc: compiles a chain-dialect graph file (as `colm graph` writes "
      "it)\nto the kernel program and the artifact that `colm run` loads.\n"
      "\n  colmc model.mlir --step train --batch 8 --seq 256 -o model.colm\n"
      "  colmc model.mlir --compile-to kernels -o k.mlir   (the kernel "
      "program)\n"
      "  colmc k.mlir -o model.colm   (a kernel program, edited or not, "
      "compiled on)\n"
      "  colmc model.mlir --target cuda --cuda-arch sm_90 --compile-to ptx "
      "-o DIR\n");
  if (target != "cpu" && target != "cuda")
    return fail("--target " + target + ": choose cpu or cuda");
  bool cuda = target == "cuda";
  if (cuda)
    if (Status s = codegen::cuda::validateCudaArch(cudaArch); !s)
      return fail(s.message());
  if (!cuda && (cudaArch.getNumOccurrences() || noSpills.getNumOccurrences()))
    return fail("--cuda-arch and --no-spills are for --target cuda");
  if (!cuda && compileTo == Phase::Ptx)
    return fail("--compile-to ptx is for --target cuda");
  if (step != "forward" && step != "train" && step != "eval")
    return fail("--step " + step + ": choose forward, train or eval");
  if (sequences < 1 || sequenceLength < 1)
    return fail("--batch and --seq must be positive");
  auto chosenPrecision = parsePrecision(precision);
  if (!chosenPrecision)
    return fail("--precision: " + chosenPrecision.status().message());
  if (compileTo >= Phase::Source && output == "-")
    return fail("-o DIR is needed for --compile-to source and binary");

  MLIRContext context;
  dsl::loadDialects(context);
  context.getOrLoadDialect<kernel::KernelDialect>();
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  std::string errorMessage;
  auto file = openInputFile(inputFile, &errorMessage);
  if (!file)
    return fail(errorMessage);
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1; // the diagnostic handler has printed where

  if (!dumpPhasesTo.empty())
    if (Status s = makeDirectories(dumpPhasesTo); !s)
      return fail(s.message());
  // Dumps a phase (--dump-phases-to) and, when it is the last one, writes it
  // out: the exit code then, nothing otherwise.
  auto finishPhase = [&](Phase phase, const std::string &file,
                         const std::string &text) -> std::optional<int> {
    if (!dumpPhasesTo.empty())
      if (Status s = writeFileAtomic(dumpPhasesTo + "/" + file, text); !s)
        return fail(s.message());
    if (compileTo != phase)
      return std::nullopt;
    Status s = writeOut(output, text);
    return s ? 0 : fail(s.message());
  };

  codegen::cpu::VectorIsa isa = codegen::cpu::hostVectorIsa();
  std::optional<codegen::KernelProgram> program;
  if (kernel::ProgramOp given = codegen::findKernelProgram(*module)) {
    // A kernel program (as --compile-to kernels writes it): its sizes,
    // step and precision are fixed; compile it on.
    if (compileTo < Phase::Kernels)
      return fail(inputFile + " is a kernel program: it compiles to "
                              "kernels, source or binary");
    for (cl::Option *o : std::initializer_list<cl::Option *>{
             &step, &chainLoss, &freezeChains, &fuse, &precision, &sequences,
             &sequenceLength})
      if (o->getNumOccurrences())
        return fail("--" + o->ArgStr.str() + ": " + inputFile +
                    " is a kernel program, which fixes it");
    auto imported = codegen::importKernelProgram(given);
    if (!imported)
      return 1; // the diagnostic handler has printed where
    program = std::move(*imported);
  } else {
    if (auto code = lowerGraph(*module, context, *chosenPrecision, isa,
                               finishPhase, program))
      return *code;
  }
  codegen::KernelProgram &kp = *program;
  std::map<std::string, int> kinds;
  for (const codegen::KernelSpec &k : kp.specs)
    ++kinds[codegen::kernelKind(k)];
  std::string kindList;
  for (auto &[k, n] : kinds)
    kindList += (kindList.empty() ? "" : ", ") + std::to_string(n) + " " + k;
  auto sizeOf = [&](const char *name) {
    auto it = kp.program.sizes.find(name);
    return it == kp.program.sizes.end() ? int64_t(0) : it->second;
  };
  llvm::errs() << "colmc: @" << kp.program.function << " for "
               << sizeOf("sequences") << " x " << sizeOf("sequence_length")
               << " tokens: " << kp.specs.size() << " kernels (" << kindList
               << "), " << kp.program.launches.size()
               << " launches; peak activation "
               << "memory " << mib(kp.program.arenaBytes) << " ("
               << mib(kp.program.unplannedBytes()) << " without the plan)\n";
  auto kernelModule = codegen::exportKernelProgram(kp, context);
  if (!kernelModule)
    return fail(kernelModule.status().message());
  std::string kernelText = moduleText(**kernelModule);
  if (auto code = finishPhase(Phase::Kernels, "3-kernels.mlir", kernelText))
    return *code;

  if (cuda)
    return compileCuda(kp, kernelText);

  auto writeSources = [&](const std::string &dir) -> Status {
    COLM_TRY(makeDirectories(dir + "/kernels"));
    for (const codegen::KernelSpec &k : kp.specs) {
      KernelSource src = codegen::cpu::renderKernel(k, isa);
      COLM_TRY(
          writeFileAtomic(dir + "/kernels/" + src.name + ".cpp", src.source));
    }
    // The program as the kernel dialect too, to read (colmc compiles it
    // on); the runtime loads program.json.
    COLM_TRY(writeFileAtomic(dir + "/program.mlir", kernelText));
    return saveProgram(kp.program, dir);
  };
  if (!dumpPhasesTo.empty())
    if (Status s = writeSources(dumpPhasesTo + "/4-source"); !s)
      return fail(s.message());
  if (compileTo == Phase::Source) {
    Status s = writeSources(output);
    return s ? 0 : fail(s.message());
  }

  auto jit = CpuJit::create();
  if (!jit)
    return fail(jit.status().message());
  auto libraries = codegen::cpu::compileProgram(kp, *jit);
  if (!libraries)
    return fail(libraries.status().message());
  llvm::errs() << "colmc: " << jit->stats().summary() << "\n";
  if (Status s = codegen::cpu::writeArtifact(kp, *libraries, output); !s)
    return fail(s.message());
  if (Status s = writeFileAtomic(output + "/program.mlir", kernelText); !s)
    return fail(s.message());
  llvm::errs() << "colmc: wrote " << output
               << " (run it with: colm run --artifact " << output
               << " --model DIR --tokens ...)\n";
  return 0;
}

} // namespace colm
