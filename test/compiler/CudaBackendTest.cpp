//===- CudaBackendTest.cpp - The cuda backend without a GPU ---------------===//
//
// What of --backend cuda can be checked where there is no GPU:
// - no driver: a clear error that names the alternatives;
// - runtime/cuda/CudaExecutor through the driver API, on a fake driver
//   (test/runtime/cuda/FakeCudaDriver.cpp: host memory with checked
//   addresses, modules that are the kernels' emulator builds): device
//   memory from the plan, parameters and inputs copied in, argument structs
//   with device addresses, launch dimensions from the geometry library,
//   outputs copied back: the logits of a CoLM and a CoLM-Air model bit for
//   bit those of the cuda-sim backend (the same kernels on the host);
// - compileForDevice: NVRTC cubins for the (fake) device's architecture
//   that the driver loads with every kernel's entry point, the chain GEMMs
//   with the tiles tuned for that GPU.
//
//===----------------------------------------------------------------------===//
#include "compiler/CpuBackend.h"
#include "compiler/Graph.h"
#include "compiler/Pipeline.h"
#include "compiler/Trainer.h"
#include "compiler/codegen/cuda/CompileProgram.h"
#include "compiler/codegen/cuda/GemmTuner.h"
#include "compiler/codegen/cuda/Nvrtc.h"
#include "runtime/Model.h"
#include "runtime/cuda/CudaExecutor.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <filesystem>

using namespace colm;

namespace {

/// Sets $COLM_CUDA_DRIVER for a scope.
struct DriverPath {
  explicit DriverPath(const std::string &path) {
    setenv("COLM_CUDA_DRIVER", path.c_str(), 1);
  }
  ~DriverPath() { unsetenv("COLM_CUDA_DRIVER"); }
};

ModelConfig smallConfig(bool air) {
  ModelConfig c;
  c.chains = air ? std::vector<int64_t>{2, 2} : std::vector<int64_t>{1, 1, 2};
  c.vocabSize = 41;
  c.numHeads = 4;
  c.numKvHeads = air ? 2 : 4;
  c.hiddenSize = 64;
  c.intermediateSize = 96;
  c.numLayers = 2;
  c.kvSharing = air;
  return c;
}

/// A small model's weights, scaled so that every dependency shows.
Model scaledModel(bool air, uint64_t seed) {
  Model model = initModel(smallConfig(air), seed);
  for (auto &[name, t] : model.params)
    for (float &v : t.data)
      v *= 20.0f;
  return model;
}

/// A CudaExecutor of `kp` whose modules are the kernels' emulator builds
/// (what the fake driver runs), on device 0.
Result<std::unique_ptr<CudaExecutor>>
simulatedDevice(const codegen::KernelProgram &kp, CpuJit &jit) {
  COLM_ASSIGN_OR_RETURN(auto libraries,
                        codegen::cuda::compileForSimulator(kp, jit));
  std::vector<std::string> images;
  for (const auto &lib : libraries)
    images.push_back("colm-sim:" + lib->path());
  COLM_ASSIGN_OR_RETURN(auto geometry, codegen::cuda::compileGeometry(kp, jit));
  return CudaExecutor::create(kp.program, images, geometry, 0);
}

/// @forward of `config`'s model lowered for `tokens` rows, compiled for
/// cuda-sim (the kernel program, and the logits the emulator gives).
struct Forward {
  CompiledFunction compiled;
  std::vector<float> logits;
};

Result<Forward> simulate(mlir::MLIRContext &context, const Model &model,
                         const std::vector<int32_t> &tokens,
                         const std::vector<int32_t> &positions) {
  COLM_ASSIGN_OR_RETURN(auto module, buildSubModel(context, model.config,
                                                   model.config.numChains()));
  auto forward = module->lookupSymbol<mlir::func::FuncOp>("forward");
  codegen::LoweringOptions options;
  options.sequences = 1;
  options.sequenceLength = int64_t(tokens.size());
  Forward out;
  COLM_ASSIGN_OR_RETURN(out.compiled,
                        compileForCpu(forward, options, Backend::CudaSim));
  Executor &e = *out.compiled.executor;
  COLM_TRY(e.bind("arg0", tokens.data(), int64_t(tokens.size()) * 4));
  if (e.has("positions", BufferRole::Input))
    COLM_TRY(e.bind("positions", positions.data(), int64_t(tokens.size()) * 4));
  BoundParams owned;
  COLM_TRY(bindParams(e, model.params, owned));
  COLM_TRY(e.run());
  COLM_ASSIGN_OR_RETURN(const void *data, e.output("result0"));
  COLM_ASSIGN_OR_RETURN(auto shape, e.shapeOf("result0"));
  out.logits.assign(static_cast<const float *>(data),
                    static_cast<const float *>(data) + shape[0] * shape[1]);
  return out;
}

} // namespace

TEST(CudaBackendTest, WithoutADriverTheErrorSaysWhatRunsInstead) {
  DriverPath path("/nonexistent/libcuda.so.1");
  auto driver = cuda::Driver::get();
  ASSERT_FALSE(driver.isOk());
  EXPECT_NE(driver.status().message().find("cannot be loaded"),
            std::string::npos)
      << driver.status().message();
  EXPECT_NE(driver.status().message().find("--backend cuda-sim"),
            std::string::npos);
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  auto module = buildSubModel(context, smallConfig(true), 2);
  ASSERT_TRUE(module.isOk());
  codegen::LoweringOptions options;
  options.sequenceLength = 4;
  auto f = compileForCpu((*module)->lookupSymbol<mlir::func::FuncOp>("forward"),
                         options, Backend::Cuda);
  ASSERT_FALSE(f.isOk());
  EXPECT_NE(f.status().message().find("NVIDIA driver"), std::string::npos)
      << f.status().message();
  EXPECT_EQ(parseBackend("cuda").isOk(), true);
}

TEST(CudaBackendTest, ExecutorOnAFakeDriverGivesTheEmulatorsLogits) {
  DriverPath path(COLM_FAKE_CUDA_DRIVER);
  auto jit = CpuJit::create();
  ASSERT_TRUE(jit.isOk()) << jit.status().message();
  for (bool air : {false, true}) {
    mlir::MLIRContext context;
    dsl::loadDialects(context);
    Model model = scaledModel(air, 3);
    std::vector<int32_t> tokens, positions;
    for (int i = 0; i < 37; ++i) {
      tokens.push_back((i * 7 + 3) % 41);
      positions.push_back(i);
    }
    auto want = simulate(context, model, tokens, positions);
    ASSERT_TRUE(want.isOk()) << want.status().message();
    auto e = simulatedDevice(want->compiled.kernels, *jit);
    ASSERT_TRUE(e.isOk()) << e.status().message();
    EXPECT_EQ((*e)->device().arch(), "sm_90");
    EXPECT_NE((*e)->device().describe().find("colm fake GPU (sm_90"),
              std::string::npos);
    // Nothing runs before every input is bound.
    EXPECT_FALSE((*e)->run().isOk());
    ASSERT_TRUE((*e)->bind("arg0", tokens.data(), 37 * 4).isOk());
    if ((*e)->has("positions", BufferRole::Input))
      ASSERT_TRUE((*e)->bind("positions", positions.data(), 37 * 4).isOk());
    BoundParams owned;
    ASSERT_TRUE(bindParams(**e, model.params, owned).isOk());
    (*e)->setProfiling(true);
    for (int run = 0; run < 2; ++run) {
      Status s = (*e)->run();
      ASSERT_TRUE(s.isOk()) << s.message();
      auto out = (*e)->output("result0");
      ASSERT_TRUE(out.isOk()) << out.status().message();
      EXPECT_EQ(std::memcmp(*out, want->logits.data(),
                            want->logits.size() * sizeof(float)),
                0)
          << (air ? "air" : "colm") << ", run " << run;
    }
    EXPECT_EQ((*e)->profile().size(),
              want->compiled.kernels.program.launches.size());
    EXPECT_EQ((*e)->profile()[0].calls, 2);
  }
}

// COLM_CUDA_GRAPHS=1: the first run captures its launches as a graph, the
// next ones replay it (new input contents, same bindings), and a rebinding
// to other memory captures again; the logits stay the emulator's.
TEST(CudaBackendTest, GraphsCaptureOnceAndReplay) {
  DriverPath path(COLM_FAKE_CUDA_DRIVER);
  setenv("COLM_CUDA_GRAPHS", "1", 1);
  auto jit = CpuJit::create();
  ASSERT_TRUE(jit.isOk()) << jit.status().message();
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  Model model = scaledModel(true, 4);
  std::vector<int32_t> positions;
  std::vector<std::vector<int32_t>> inputs(3);
  for (int i = 0; i < 21; ++i) {
    positions.push_back(i);
    for (int r = 0; r < 3; ++r)
      inputs[size_t(r)].push_back((i * (5 + 2 * r) + r) % 41);
  }
  std::vector<std::vector<float>> want;
  codegen::KernelProgram kp;
  for (const auto &tokens : inputs) {
    auto w = simulate(context, model, tokens, positions);
    ASSERT_TRUE(w.isOk()) << w.status().message();
    want.push_back(w->logits);
    kp = w->compiled.kernels;
  }
  auto e = simulatedDevice(kp, *jit);
  ASSERT_TRUE(e.isOk()) << e.status().message();
  BoundParams owned;
  ASSERT_TRUE(bindParams(**e, model.params, owned).isOk());
  if ((*e)->has("positions", BufferRole::Input))
    ASSERT_TRUE((*e)->bind("positions", positions.data(), 21 * 4).isOk());
  std::vector<int32_t> tokens = inputs[0];
  ASSERT_TRUE((*e)->bind("arg0", tokens.data(), 21 * 4).isOk());
  for (int r = 0; r < 3; ++r) {
    tokens = inputs[size_t(r)]; // the same memory, new contents
    ASSERT_TRUE((*e)->run().isOk());
    auto out = (*e)->output("result0");
    ASSERT_TRUE(out.isOk());
    EXPECT_EQ(
        std::memcmp(*out, want[size_t(r)].data(), want[size_t(r)].size() * 4),
        0)
        << "run " << r;
  }
  EXPECT_EQ((*e)->graphCaptures(), 1);
  EXPECT_EQ((*e)->graphReplays(), 2);
  // The input bound to other host memory: the same device buffer, so the
  // graph stays.
  std::vector<int32_t> copy = inputs[1];
  ASSERT_TRUE((*e)->bind("arg0", copy.data(), 21 * 4).isOk());
  ASSERT_TRUE((*e)->run().isOk());
  auto out = (*e)->output("result0");
  ASSERT_TRUE(out.isOk());
  EXPECT_EQ(std::memcmp(*out, want[1].data(), want[1].size() * 4), 0);
  EXPECT_EQ((*e)->graphReplays(), 3);
  void *fake = dlopen(COLM_FAKE_CUDA_DRIVER, RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(fake, nullptr);
  auto launches =
      reinterpret_cast<int (*)()>(dlsym(fake, "colm_fake_graph_launches"));
  ASSERT_NE(launches, nullptr);
  EXPECT_EQ(launches(), 4); // every run was a graph launch
  dlclose(fake);
  unsetenv("COLM_CUDA_GRAPHS");
}

TEST(CudaBackendTest, CompileForDeviceLoadsCubinsForTheDevicesArch) {
  if (!codegen::cuda::Nvrtc::get().isOk())
    GTEST_SKIP() << "no NVRTC: "
                 << codegen::cuda::Nvrtc::get().status().message();
  DriverPath path(COLM_FAKE_CUDA_DRIVER);
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  ModelConfig config = smallConfig(true);
  auto module = buildSubModel(context, config, 2);
  ASSERT_TRUE(module.isOk());
  codegen::LoweringOptions options;
  options.sequenceLength = 9;
  auto forward = (*module)->lookupSymbol<mlir::func::FuncOp>("forward");
  // A tile tuned for this GPU (colm tune --backend cuda) for the first
  // chain GEMM of the program: the cuda backend compiles with it.
  auto sim = compileForCpu(forward, options, Backend::CudaSim);
  ASSERT_TRUE(sim.isOk()) << sim.status().message();
  const codegen::ChainGemmSpec *first = nullptr;
  for (const codegen::KernelSpec &k : sim->kernels.specs)
    if (!first)
      first = std::get_if<codegen::ChainGemmSpec>(&k);
  ASSERT_NE(first, nullptr);
  std::string root = ::testing::TempDir() + "colm-cuda-backend-tuning";
  setenv("COLM_CACHE_DIR", root.c_str(), 1);
  {
    codegen::TuningCache cache = codegen::TuningCache::forGpu(
        codegen::TuningDevice::fromGpu("colm fake GPU", "sm_90", 13000));
    codegen::TunedKernel k;
    k.shapeKey = codegen::cuda::tileKey(*first);
    k.knobs.cuda = {128, 32, 64};
    cache.store(k);
    ASSERT_TRUE(cache.save().isOk());
  }
  auto f = compileForCpu(forward, options, Backend::Cuda);
  unsetenv("COLM_CACHE_DIR");
  ASSERT_TRUE(f.isOk()) << f.status().message();
  int tiled = 0;
  for (const codegen::KernelSpec &k : f->kernels.specs)
    if (auto *g = std::get_if<codegen::ChainGemmSpec>(&k)) {
      bool same = g->shapeKey() == first->shapeKey() && g->bf16 == first->bf16;
      codegen::CudaGemmTile want;
      if (same)
        want = {128, 32, 64};
      EXPECT_EQ(g->knobs.cuda, want) << g->name();
      tiled += same;
    }
  EXPECT_GE(tiled, 1);
  auto *e = dynamic_cast<CudaExecutor *>(f->executor.get());
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->device().arch(), "sm_90");
  Model model = initModel(config, 1);
  std::vector<int32_t> tokens(9, 1), positions;
  for (int i = 0; i < 9; ++i)
    positions.push_back(i);
  ASSERT_TRUE(e->bind("arg0", tokens.data(), 36).isOk());
  if (e->has("positions", BufferRole::Input))
    ASSERT_TRUE(e->bind("positions", positions.data(), 36).isOk());
  BoundParams owned;
  ASSERT_TRUE(bindParams(*e, model.params, owned).isOk());
  // The fake driver loads cubins but cannot run them.
  Status s = e->run();
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("operation not supported (fake driver)"),
            std::string::npos)
      << s.message();
}

TEST(CudaBackendTest, GemmsTunedToCublasLtRunThroughTheLibrary) {
  // A training step whose dense products (CoLM-Air's chain-1 key/value
  // gradients) the GPU's tuning gave to cuBLASLt: the executor calls the
  // library for them (here the tests' fake, plain column-major loops, on
  // the fake driver's memory) and the loss and gradients stay those of the
  // emulated kernels within fp32 rounding.
  DriverPath path(COLM_FAKE_CUDA_DRIVER);
  setenv("COLM_CUDA_SIM_IMAGES", "1", 1);
  setenv("COLM_CUBLASLT", COLM_FAKE_CUBLASLT, 1);
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  ModelConfig config = smallConfig(true);
  // The initial weights, not scaledModel's: with weights 20x larger the
  // step amplifies the last-bit differences of another summation order
  // (the library's) into large gradient differences.
  Model model = initModel(config, 4);
  auto sim =
      StepProgram::compile(context, config, "all", 0, true, Backend::CudaSim);
  auto gpu =
      StepProgram::compile(context, config, "all", 0, true, Backend::Cuda);
  ASSERT_TRUE(sim.isOk() && gpu.isOk());
  Batch batch;
  for (int r = 0; r < 2; ++r) {
    std::vector<int32_t> in, out;
    for (int t = 0; t < 7; ++t) {
      in.push_back((r * 5 + t * 3) % 41);
      out.push_back((r * 7 + t) % 41);
    }
    batch.inputs.push_back(in);
    batch.targets.push_back(out);
  }
  auto want = sim->run(model.params, batch);
  ASSERT_TRUE(want.isOk()) << want.status().message();
  // Every dense product of the step tuned to cuBLASLt on this "GPU".
  std::string root = ::testing::TempDir() + "colm-cuda-cublaslt-tuning";
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  setenv("COLM_CACHE_DIR", root.c_str(), 1);
  int library = 0;
  {
    codegen::TuningCache cache = codegen::TuningCache::forGpu(
        codegen::TuningDevice::fromGpu("colm fake GPU", "sm_90", 13000));
    for (const codegen::KernelSpec &k : sim->compiled()->kernels.specs)
      if (auto *g = std::get_if<codegen::ChainGemmSpec>(&k);
          g && codegen::libraryEligible(*g)) {
        codegen::TunedKernel t;
        t.shapeKey = codegen::cuda::tileKey(*g);
        t.knobs.cuda.cublas = true;
        cache.store(t);
        ++library;
      }
    ASSERT_TRUE(cache.save().isOk());
  }
  auto got = gpu->run(model.params, batch);
  unsetenv("COLM_CACHE_DIR");
  unsetenv("COLM_CUDA_SIM_IMAGES");
  ASSERT_TRUE(got.isOk()) << got.status().message();
  int onLibrary = 0;
  for (const codegen::KernelSpec &k : gpu->compiled()->kernels.specs)
    if (auto *g = std::get_if<codegen::ChainGemmSpec>(&k))
      onLibrary += g->knobs.cuda.cublas;
  EXPECT_EQ(onLibrary, library);
  EXPECT_NEAR(got->loss, want->loss, 1e-6 * std::abs(want->loss));
  for (const auto &[name, t] : want->grads) {
    double worst = 0, largest = 0;
    for (size_t i = 0; i < t.data.size(); ++i) {
      worst = std::max(
          worst, double(std::abs(got->grads.at(name).data[i] - t.data[i])));
      largest = std::max(largest, double(std::abs(t.data[i])));
    }
    EXPECT_LE(worst, 1e-5 * std::max(largest, 1e-30)) << name;
  }
}
