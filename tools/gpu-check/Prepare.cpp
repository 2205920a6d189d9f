//===- Prepare.cpp - The GPU check's cases, made without a GPU ------------===//
//
// colm-gpu-prepare OUT [--arch sm_90] [--bench] [--sim]: compiles programs
// here (where the compiler and its LLVM are) into self-contained cases that
// colm-gpu-check runs on a GPU machine with the runtime alone:
//   check cases  small CoLM and CoLM-Air models, forward and a training
//                step, fp32 and bf16: inputs, the parameters as bound and
//                the outputs the emulated CUDA kernels give (cuda-sim);
//   bench cases  (--bench) spec/bench.md's bench-gpu: a bf16 training step
//                of 8 x 2048 tokens, CoLM-Air prefill of 32K tokens on
//                chain 1 and on all chains, and a CoLM-Air decode step over
//                a 2047-token cache per chain count; parameters and caches
//                random on the GPU; and the training step again with other
//                CUDA GEMM tiles, whose profiles compare the tiles.
// Each case: program.json, kernels/<name>.cubin (NVRTC for --arch), the
// geometry library, data/, expect/, case.json. --sim writes, instead of
// cubins, the kernels' emulator builds ("colm-sim:PATH"), which only the
// tests' fake driver loads: the check's plumbing runs in CI that way.
//
//===----------------------------------------------------------------------===//
#include "compiler/BuildColm.h"
#include "compiler/CpuBackend.h"
#include "compiler/Graph.h"
#include "compiler/Pipeline.h"
#include "compiler/Trainer.h"
#include "compiler/codegen/cuda/CompileProgram.h"
#include "compiler/codegen/cuda/Nvrtc.h"
#include "compiler/codegen/cuda/RenderChainGemm.h"
#include "runtime/File.h"
#include "runtime/Json.h"
#include "runtime/Model.h"
#include "runtime/Random.h"

#include <cstdio>
#include <cstring>
#include <filesystem>

using namespace colm;

namespace {

struct Options {
  std::string out, arch = "sm_90";
  bool bench = false, sim = false;
};

/// Writes one case: the program and its kernels, `data` (buffer: bytes),
/// the executor's current `outputs` as the expectation.
Status writeCase(const Options &opt, CpuJit &jit, const std::string &name,
                 const codegen::KernelProgram &kp,
                 const std::map<std::string, std::string> &data,
                 Executor *expected, JsonValue caseJson) {
  std::string dir = opt.out + "/cases/" + name;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  COLM_TRY(makeDirectories(dir + "/kernels"));
  COLM_TRY(makeDirectories(dir + "/data"));
  Program program = kp.program;
  program.target = "cuda";
  COLM_TRY(saveProgram(program, dir));
  if (opt.sim) {
    COLM_ASSIGN_OR_RETURN(auto libs,
                          codegen::cuda::compileForSimulator(kp, jit));
    for (size_t i = 0; i < libs.size(); ++i)
      COLM_TRY(writeFileAtomic(
          dir + "/kernels/" + kp.program.kernels[i].name + ".cubin",
          "colm-sim:" + libs[i]->path() + std::string(1, '\0')));
  } else {
    COLM_ASSIGN_OR_RETURN(const codegen::cuda::Nvrtc *nvrtc,
                          codegen::cuda::Nvrtc::get());
    std::vector<codegen::cuda::CudaSource> sources;
    for (const codegen::KernelSpec &k : kp.specs)
      sources.push_back(
          {codegen::kernelName(k),
           codegen::cuda::renderKernel(k, codegen::cuda::CudaBuild::Nvrtc)});
    COLM_ASSIGN_OR_RETURN(auto bins,
                          nvrtc->compileAll(sources, opt.arch, true));
    for (const auto &b : bins)
      COLM_TRY(writeFileAtomic(dir + "/kernels/" + b.name + ".cubin", b.cubin));
  }
  COLM_ASSIGN_OR_RETURN(auto geometry, codegen::cuda::compileGeometry(kp, jit));
  COLM_ASSIGN_OR_RETURN(std::string so, readFile(geometry->path()));
  COLM_TRY(writeFileAtomic(dir + "/geometry.so", so));
  for (const auto &[buffer, bytes] : data)
    COLM_TRY(writeFileAtomic(dir + "/data/" + buffer + ".bin", bytes));
  JsonValue outputs = JsonValue::array();
  if (expected) {
    COLM_TRY(makeDirectories(dir + "/expect"));
    for (const ProgramBuffer &b : kp.program.buffers)
      if (b.role == BufferRole::Output) {
        COLM_ASSIGN_OR_RETURN(const void *p, expected->output(b.name));
        COLM_ASSIGN_OR_RETURN(auto shape, expected->shapeOf(b.name));
        int64_t n = 1;
        for (int64_t d : shape)
          n *= d;
        COLM_TRY(
            writeFileAtomic(dir + "/expect/" + b.name + ".bin",
                            std::string(static_cast<const char *>(p),
                                        size_t(n * elementBytes(b.type)))));
        outputs.push(JsonValue::string(b.name));
      }
  }
  caseJson.set("name", JsonValue::string(name));
  caseJson.set("outputs", std::move(outputs));
  std::printf("colm-gpu-prepare: %s: %zu kernels, %zu launches, arena %.1f "
              "MiB\n",
              name.c_str(), kp.specs.size(), kp.program.launches.size(),
              double(kp.program.arenaBytes) / (1 << 20));
  return writeFileAtomic(dir + "/case.json", writeJson(caseJson));
}

std::string bytesOf(const void *p, int64_t n) {
  return std::string(static_cast<const char *>(p), size_t(n));
}

ModelConfig small(bool air) {
  ModelConfig c;
  c.chains = air ? std::vector<int64_t>{2, 2} : std::vector<int64_t>{1, 1, 2};
  c.vocabSize = 97;
  c.numHeads = 4;
  c.numKvHeads = air ? 2 : 4;
  c.hiddenSize = 128;
  c.intermediateSize = 192;
  c.numLayers = 2;
  c.kvSharing = air;
  return c;
}

std::vector<int32_t> tokensFor(int64_t n, int64_t vocab, uint64_t seed) {
  Random rng(seed);
  std::vector<int32_t> t;
  for (int64_t i = 0; i < n; ++i)
    t.push_back(int32_t(rng.next() % uint64_t(vocab)));
  return t;
}

/// Every Param as bound, and the inputs.
std::map<std::string, std::string>
dataOf(const BoundParams &owned,
       const std::vector<std::pair<std::string, std::vector<int32_t>>> &in) {
  std::map<std::string, std::string> data;
  for (const auto &[name, mem] : owned.bound)
    data[name] = bytesOf(mem.first, mem.second);
  for (const auto &[name, v] : in)
    data[name] = bytesOf(v.data(), int64_t(v.size()) * 4);
  return data;
}

Status checkCases(const Options &opt, CpuJit &jit) {
  for (bool air : {false, true})
    for (codegen::Precision precision :
         {codegen::Precision::Fp32, codegen::Precision::Bf16}) {
      setCpuPrecision(precision);
      bool bf16 = precision == codegen::Precision::Bf16;
      std::string tag =
          std::string(air ? "air" : "colm") + "-" + (bf16 ? "bf16" : "fp32");
      JsonValue c = JsonValue::object();
      c.set("mode", JsonValue::string("check"));
      c.set("tolerance", JsonValue::number(bf16 ? 2e-3 : 1e-4));
      mlir::MLIRContext context;
      dsl::loadDialects(context);
      ModelConfig config = small(air);
      Model model = initModel(config, 5);
      for (auto &[n, t] : model.params)
        for (float &v : t.data)
          v *= 10.0f;
      // Forward, 37 tokens.
      {
        COLM_ASSIGN_OR_RETURN(
            auto module, buildSubModel(context, config, config.numChains()));
        auto forward = module->lookupSymbol<mlir::func::FuncOp>("forward");
        codegen::LoweringOptions options;
        options.sequenceLength = 37;
        COLM_ASSIGN_OR_RETURN(
            CompiledFunction f,
            compileForCpu(forward, options, Backend::CudaSim));
        std::vector<int32_t> tokens = tokensFor(37, config.vocabSize, 1),
                             positions = sequencePositions(1, 37);
        Executor &e = *f.executor;
        COLM_TRY(e.bind("arg0", tokens.data(), 37 * 4));
        std::vector<std::pair<std::string, std::vector<int32_t>>> in = {
            {"arg0", tokens}};
        if (e.has("positions", BufferRole::Input)) {
          COLM_TRY(e.bind("positions", positions.data(), 37 * 4));
          in.push_back({"positions", positions});
        }
        BoundParams owned;
        COLM_TRY(bindParams(e, model.params, owned));
        COLM_TRY(e.run());
        COLM_TRY(writeCase(opt, jit, "forward-" + tag, f.kernels,
                           dataOf(owned, in), &e, c));
      }
      // A training step, 2 x 16 tokens, every sub-model's loss.
      {
        COLM_ASSIGN_OR_RETURN(StepProgram step,
                              StepProgram::compile(context, config, "all",
                                                   air ? 1 : 0, true,
                                                   Backend::CudaSim));
        Batch batch;
        for (int r = 0; r < 2; ++r) {
          batch.inputs.push_back(tokensFor(16, config.vocabSize, 10 + r));
          batch.targets.push_back(tokensFor(16, config.vocabSize, 20 + r));
        }
        COLM_TRY(step.run(model.params, batch).status());
        const CompiledFunction *f = step.compiled();
        Executor &e = *f->executor;
        std::vector<int32_t> tokens, targets,
            positions = sequencePositions(2, 16);
        for (int r = 0; r < 2; ++r) {
          tokens.insert(tokens.end(), batch.inputs[r].begin(),
                        batch.inputs[r].end());
          targets.insert(targets.end(), batch.targets[r].begin(),
                         batch.targets[r].end());
        }
        COLM_TRY(e.bind("arg0", tokens.data(), 32 * 4));
        COLM_TRY(e.bind("arg1", targets.data(), 32 * 4));
        std::vector<std::pair<std::string, std::vector<int32_t>>> in = {
            {"arg0", tokens}, {"arg1", targets}};
        if (e.has("positions", BufferRole::Input)) {
          COLM_TRY(e.bind("positions", positions.data(), 32 * 4));
          in.push_back({"positions", positions});
        }
        BoundParams owned;
        COLM_TRY(bindParams(e, model.params, owned));
        COLM_TRY(e.run());
        COLM_TRY(writeCase(opt, jit, "train-" + tag, f->kernels,
                           dataOf(owned, in), &e, c));
      }
    }
  setCpuPrecision(codegen::Precision::Fp32);
  return Status::ok();
}

double flopsOf(const codegen::KernelProgram &kp) {
  double f = 0;
  for (const ProgramLaunch &l : kp.program.launches)
    f += l.flops;
  return f;
}

/// Lowers `func` for the bench shapes without running anything.
Result<codegen::KernelProgram> lowerOnly(mlir::func::FuncOp func,
                                         codegen::LoweringOptions options) {
  // compileForCpu on cuda-sim would build every kernel for the emulator; the
  // bench needs the program only.
  options.precision = codegen::Precision::Bf16;
  return lowerFunction(func, options);
}

Status benchCases(const Options &opt, CpuJit &jit) {
  setCpuPrecision(codegen::Precision::Bf16);
  for (bool air : {false, true}) {
    ModelConfig config;
    COLM_ASSIGN_OR_RETURN(
        config, loadConfig(std::string(COLM_SOURCE_DIR) + "/examples/configs/" +
                           (air ? "bench-gpu-air.json" : "bench-gpu.json")));
    mlir::MLIRContext context;
    dsl::loadDialects(context);
    if (!air) {
      // The training step, 8 x 2048 tokens.
      COLM_ASSIGN_OR_RETURN(StepProgram step,
                            StepProgram::compile(context, config, "full", 0,
                                                 true, Backend::Reference));
      codegen::LoweringOptions options;
      options.sequences = 8;
      options.sequenceLength = 2048;
      COLM_ASSIGN_OR_RETURN(auto kp, lowerOnly(step.function(), options));
      std::vector<int32_t> tokens = tokensFor(16384, config.vocabSize, 1),
                           targets = tokensFor(16384, config.vocabSize, 2),
                           positions = sequencePositions(8, 2048);
      std::map<std::string, std::string> data = {
          {"arg0", bytesOf(tokens.data(), 16384 * 4)},
          {"arg1", bytesOf(targets.data(), 16384 * 4)},
          {"positions", bytesOf(positions.data(), 16384 * 4)}};
      JsonValue c = JsonValue::object();
      c.set("mode", JsonValue::string("bench"));
      c.set("repeat", JsonValue::integer(5));
      c.set("flops", JsonValue::number(flopsOf(kp)));
      c.set("tokens", JsonValue::number(16384));
      COLM_TRY(
          writeCase(opt, jit, "bench-train-bf16-8x2048", kp, data, nullptr, c));
      // The same step with other CUDA GEMM tiles (every chain GEMM that can
      // take the tile): the per-kernel profiles say which tile wins where,
      // the tuning `colm tune --backend cuda` does where the full build is.
      for (codegen::CudaGemmTile tile : {codegen::CudaGemmTile{128, 64, 32},
                                         codegen::CudaGemmTile{64, 128, 32},
                                         codegen::CudaGemmTile{128, 64, 64},
                                         codegen::CudaGemmTile{64, 32, 32}}) {
        codegen::LoweringOptions tiled = options;
        tiled.gemmKnobs = [tile](const codegen::ChainGemmSpec &spec) {
          codegen::ChainGemmSpec s = spec;
          s.knobs = codegen::GemmKnobs{};
          s.knobs.cuda = tile;
          return codegen::cuda::checkTile(s).isOk() ? s.knobs
                                                    : codegen::GemmKnobs{};
        };
        COLM_ASSIGN_OR_RETURN(auto variant, lowerOnly(step.function(), tiled));
        std::string name = "bench-train-tile-" + std::to_string(tile.bm) + "x" +
                           std::to_string(tile.bn) + "x" +
                           std::to_string(tile.bk);
        JsonValue t = c;
        t.set("repeat", JsonValue::integer(2));
        t.set("tile", JsonValue::string(std::to_string(tile.bm) + "x" +
                                        std::to_string(tile.bn) + "x" +
                                        std::to_string(tile.bk)));
        COLM_TRY(writeCase(opt, jit, name, variant, data, nullptr, t));
      }
      continue;
    }
    // CoLM-Air prefill of 32K tokens: chain 1 against all chains; and a
    // decode step (one token over a 2047-token cache) per chain count.
    for (int64_t k : {int64_t(1), int64_t(config.numChains())}) {
      COLM_ASSIGN_OR_RETURN(auto module, buildSubModel(context, config, k));
      auto forward = module->lookupSymbol<mlir::func::FuncOp>("forward");
      codegen::LoweringOptions options;
      options.sequenceLength = 32768;
      COLM_ASSIGN_OR_RETURN(auto kp, lowerOnly(forward, options));
      std::vector<int32_t> tokens = tokensFor(32768, config.vocabSize, 3),
                           positions = sequencePositions(1, 32768);
      std::map<std::string, std::string> data = {
          {"arg0", bytesOf(tokens.data(), 32768 * 4)},
          {"positions", bytesOf(positions.data(), 32768 * 4)}};
      JsonValue c = JsonValue::object();
      c.set("mode", JsonValue::string("bench"));
      c.set("repeat", JsonValue::integer(5));
      c.set("flops", JsonValue::number(flopsOf(kp)));
      c.set("tokens", JsonValue::number(32768));
      COLM_TRY(writeCase(opt, jit,
                         "bench-air-prefill-32k-chains" + std::to_string(k), kp,
                         data, nullptr, c));
    }
    for (unsigned k = 1; k <= unsigned(config.numChains()); ++k) {
      COLM_ASSIGN_OR_RETURN(auto module, buildColmStep(context, config, true));
      COLM_TRY(sliceAndVerify(*module, config, k));
      auto step = module->lookupSymbol<mlir::func::FuncOp>("step");
      codegen::LoweringOptions options;
      options.dynamicSizes = {{"tokens", 16}, {"past", 2048}};
      options.bf16Weights = true;
      options.argumentSizes = {"tokens", "tokens"};
      for (int64_t i = 2; i < step.getNumArguments(); ++i)
        options.argumentSizes.push_back("past");
      COLM_ASSIGN_OR_RETURN(auto kp, lowerOnly(step, options));
      int32_t token = 7, position = 2047;
      std::map<std::string, std::string> data = {
          {"arg0", bytesOf(&token, 4)}, {"arg1", bytesOf(&position, 4)}};
      JsonValue c = JsonValue::object();
      c.set("mode", JsonValue::string("bench"));
      c.set("repeat", JsonValue::integer(50));
      JsonValue sizes = JsonValue::object();
      sizes.set("tokens", JsonValue::integer(1));
      sizes.set("past", JsonValue::integer(2047));
      c.set("sizes", std::move(sizes));
      c.set("tokens", JsonValue::number(1));
      COLM_TRY(writeCase(opt, jit,
                         "bench-air-decode-2k-chains" + std::to_string(k), kp,
                         data, nullptr, c));
    }
  }
  setCpuPrecision(codegen::Precision::Fp32);
  return Status::ok();
}

} // namespace

int main(int argc, char **argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--arch" && i + 1 < argc)
      opt.arch = argv[++i];
    else if (a == "--bench")
      opt.bench = true;
    else if (a == "--sim")
      opt.sim = true;
    else if (a == "--help" || a == "-h") {
      std::printf("usage: colm-gpu-prepare OUT [--arch sm_90] [--bench] "
                  "[--sim]\n\nWrites the cases colm-gpu-check runs on a GPU "
                  "(see tools/gpu-check.sh).\n");
      return 0;
    } else if (opt.out.empty() && a[0] != '-')
      opt.out = a;
    else {
      std::fprintf(stderr, "colm-gpu-prepare: unknown argument '%s'\n",
                   a.c_str());
      return 2;
    }
  }
  if (opt.out.empty()) {
    std::fprintf(stderr, "usage: colm-gpu-prepare OUT [--arch sm_90] "
                         "[--bench] [--sim]\n");
    return 2;
  }
  if (!opt.sim)
    if (Status s = codegen::cuda::validateCudaArch(opt.arch); !s) {
      std::fprintf(stderr, "colm-gpu-prepare: %s\n", s.message().c_str());
      return 2;
    }
  auto jit = CpuJit::create();
  if (!jit) {
    std::fprintf(stderr, "colm-gpu-prepare: %s\n",
                 jit.status().message().c_str());
    return 1;
  }
  Status s = checkCases(opt, *jit);
  if (s && opt.bench)
    s = benchCases(opt, *jit);
  if (!s) {
    std::fprintf(stderr, "colm-gpu-prepare: %s\n", s.message().c_str());
    return 1;
  }
  return 0;
}
