//===- CpuBackendTest.cpp - Training steps on the cpu backend -------------===//
//
// The cpu backend (the step lowered to kernels, compiled, run by the
// runtime's executor on the whole batch at once) against the reference
// interpreter (row by row): loss, sub-model losses and every gradient, for
// CoLM and CoLM-Air, grouped and tiled KV, frozen chains and multi-chain
// losses. The cuda-sim backend (the CUDA kernels on the host SIMT
// emulator, the same executor) passes the same checks on fewer layouts.
//
//===----------------------------------------------------------------------===//
#include "compiler/CpuBackend.h"
#include "compiler/Graph.h"
#include "compiler/Pipeline.h"
#include "compiler/Trainer.h"
#include "runtime/Model.h"
#include "runtime/Random.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace colm;

namespace {

struct Case {
  std::vector<int64_t> chains;
  int64_t kvHeads;
  bool kvSharing;
  std::string chainLoss;
  unsigned freeze;
};

std::string caseName(const ::testing::TestParamInfo<Case> &info) {
  const Case &c = info.param;
  std::string s = "chains";
  for (int64_t r : c.chains)
    s += "_" + std::to_string(r);
  s += c.kvSharing ? "_air" : "_colm";
  s += "_kv" + std::to_string(c.kvHeads);
  s += "_loss_" + c.chainLoss;
  s += "_freeze" + std::to_string(c.freeze);
  for (char &ch : s)
    if (!isalnum(static_cast<unsigned char>(ch)))
      ch = '_';
  return s;
}

void PrintTo(const Case &c, std::ostream *os) {
  *os << caseName(::testing::TestParamInfo<Case>(c, 0));
}

ModelConfig makeConfig(const Case &c) {
  ModelConfig config;
  config.chains = c.chains;
  int64_t s = 0;
  for (int64_t r : c.chains)
    s += r;
  config.vocabSize = 37;
  config.numHeads = s;
  config.numKvHeads = c.kvHeads;
  config.hiddenSize = 16 * s;
  config.intermediateSize = 24 * s;
  config.numLayers = 2;
  config.kvSharing = c.kvSharing;
  return config;
}

/// Initial weights scaled by 3, so that every dependency shows in the
/// results.
Model scaledModel(const ModelConfig &config, uint64_t seed) {
  Model model = initModel(config, seed);
  for (auto &[name, t] : model.params)
    for (float &v : t.data)
      v *= 3.0f;
  return model;
}

/// `rows` sequences of `length` random inputs and targets.
Batch randomBatch(const ModelConfig &config, int rows, int length,
                  uint64_t seed) {
  Batch batch;
  Random rng(seed);
  for (int r = 0; r < rows; ++r) {
    std::vector<int32_t> in, tg;
    for (int t = 0; t < length; ++t) {
      in.push_back(static_cast<int32_t>(rng.next() % config.vocabSize));
      tg.push_back(static_cast<int32_t>(rng.next() % config.vocabSize));
    }
    batch.inputs.push_back(in);
    batch.targets.push_back(tg);
  }
  return batch;
}

/// max |a - b| / max |b| over a tensor (0 when both are all zero).
double relError(const std::vector<float> &a, const std::vector<float> &b) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

class CpuBackendStep : public ::testing::TestWithParam<Case> {};
/// The same checks through the CUDA kernels on the host SIMT emulator.
class CudaSimBackendStep : public ::testing::TestWithParam<Case> {};

/// A training step on `backend` against the interpreter: the loss, every
/// sub-model's loss and every gradient.
void expectTheReferenceStep(const Case &c, Backend backend) {
  ModelConfig config = makeConfig(c);
  ASSERT_TRUE(validateConfig(config).isOk())
      << validateConfig(config).message();
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  Model model = scaledModel(config, 11);
  auto reference = StepProgram::compile(context, config, c.chainLoss, c.freeze,
                                        true, Backend::Reference);
  ASSERT_TRUE(reference.isOk()) << reference.status().message();
  auto cpu = StepProgram::compile(context, config, c.chainLoss, c.freeze, true,
                                  backend);
  ASSERT_TRUE(cpu.isOk()) << cpu.status().message();

  // Two sequences, longer than one attention tile, so that keys of one
  // sequence must not leak into the other.
  Batch batch = randomBatch(config, 2, 40, 5);
  auto want = reference->run(model.params, batch);
  ASSERT_TRUE(want.isOk()) << want.status().message();
  auto got = cpu->run(model.params, batch);
  ASSERT_TRUE(got.isOk()) << got.status().message();
  ASSERT_NE(cpu->compiled(), nullptr);

  EXPECT_NEAR(got->loss, want->loss, 1e-4 * std::abs(want->loss));
  ASSERT_EQ(got->subModelLoss.size(), want->subModelLoss.size());
  for (auto &[k, loss] : want->subModelLoss)
    EXPECT_NEAR(got->subModelLoss[k], loss, 1e-4 * std::abs(loss)) << k;
  ASSERT_EQ(got->grads.size(), want->grads.size());
  for (auto &[name, g] : want->grads) {
    ASSERT_TRUE(got->grads.count(name)) << name;
    const Tensor &t = got->grads.at(name);
    ASSERT_EQ(t.shape, g.shape) << name;
    EXPECT_LT(relError(t.data, g.data), 1e-4) << name;
  }
  // A second run on the same executor gives the same bits.
  auto again = cpu->run(model.params, batch);
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(again->loss, got->loss);
  for (auto &[name, g] : got->grads)
    EXPECT_EQ(again->grads.at(name).data, g.data) << name;
}

TEST_P(CpuBackendStep, MatchesTheReferenceInterpreter) {
  expectTheReferenceStep(GetParam(), Backend::Cpu);
}
TEST_P(CudaSimBackendStep, MatchesTheReferenceInterpreter) {
  expectTheReferenceStep(GetParam(), Backend::CudaSim);
}

// The evaluation step: every sub-model's loss, with no gradient computed.
TEST_P(CpuBackendStep, EvaluationLossesMatch) {
  const Case &c = GetParam();
  ModelConfig config = makeConfig(c);
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  Model model = scaledModel(config, 13);
  Batch batch = randomBatch(config, 3, 21, 6);
  auto reference = StepProgram::compile(context, config, "all", 0, false,
                                        Backend::Reference);
  auto cpu =
      StepProgram::compile(context, config, "all", 0, false, Backend::Cpu);
  ASSERT_TRUE(reference.isOk() && cpu.isOk());
  auto want = reference->run(model.params, batch);
  auto got = cpu->run(model.params, batch);
  ASSERT_TRUE(want.isOk()) << want.status().message();
  ASSERT_TRUE(got.isOk()) << got.status().message();
  EXPECT_TRUE(got->grads.empty());
  ASSERT_EQ(got->subModelLoss.size(), size_t(config.numChains()));
  for (auto &[k, loss] : want->subModelLoss)
    EXPECT_NEAR(got->subModelLoss[k], loss, 1e-5 * std::abs(loss)) << k;
  for (const codegen::KernelSpec &k : cpu->compiled()->kernels.specs)
    if (auto *x = std::get_if<codegen::CrossEntropySpec>(&k))
      EXPECT_FALSE(x->gradients) << x->name();
}

// The logits of every k-chain sub-model (its parameters are slices of the
// full model's, bound by copy).
void expectTheReferenceLogits(const Case &c, Backend backend) {
  ModelConfig config = makeConfig(c);
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  Model model = scaledModel(config, 12);
  std::vector<int32_t> tokens = randomBatch(config, 1, 45, 9).inputs[0];
  for (unsigned k = 1; k <= unsigned(config.numChains()); ++k) {
    auto module = buildSubModel(context, config, k);
    ASSERT_TRUE(module.isOk()) << module.status().message();
    auto want = runForward(**module, tokens, model.params);
    ASSERT_TRUE(want.isOk()) << want.status().message();
    auto got = runForwardOnCpu(**module, tokens, model.params, backend);
    ASSERT_TRUE(got.isOk()) << got.status().message();
    ASSERT_EQ(got->shape, want->shape);
    EXPECT_LT(relError(got->data, want->toFloat()), 1e-4) << "k = " << k;
  }
}

TEST_P(CpuBackendStep, ForwardLogitsOfEverySubModelMatch) {
  expectTheReferenceLogits(GetParam(), Backend::Cpu);
}
TEST_P(CudaSimBackendStep, ForwardLogitsOfEverySubModelMatch) {
  expectTheReferenceLogits(GetParam(), Backend::CudaSim);
}

// bf16 mixed precision (--precision bf16): the linears read bf16-rounded
// inputs. The stated tolerance against the fp32 interpreter: losses within
// 1%, every gradient within 5% of its largest entry (bf16 keeps 8
// significant bits); and the rounding really happens (not the fp32 bits).
void expectABf16Step(Backend backend) {
  Case c{{2, 2}, 2, true, "all", 0};
  ModelConfig config = makeConfig(c);
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  Model model = scaledModel(config, 11);
  Batch batch = randomBatch(config, 2, 40, 5);
  auto reference = StepProgram::compile(context, config, c.chainLoss, c.freeze,
                                        true, Backend::Reference);
  ASSERT_TRUE(reference.isOk()) << reference.status().message();
  auto want = reference->run(model.params, batch);
  ASSERT_TRUE(want.isOk()) << want.status().message();
  auto fp32 = StepProgram::compile(context, config, c.chainLoss, c.freeze, true,
                                   backend);
  ASSERT_TRUE(fp32.isOk());
  auto exact = fp32->run(model.params, batch);
  ASSERT_TRUE(exact.isOk());

  setCpuPrecision(codegen::Precision::Bf16);
  auto cpu = StepProgram::compile(context, config, c.chainLoss, c.freeze, true,
                                  backend);
  ASSERT_TRUE(cpu.isOk()) << cpu.status().message();
  auto got = cpu->run(model.params, batch);
  setCpuPrecision(codegen::Precision::Fp32);
  ASSERT_TRUE(got.isOk()) << got.status().message();
  ASSERT_NE(cpu->compiled(), nullptr);
  EXPECT_NE(cpu->compiled()->summary.find("bf16"), std::string::npos);

  EXPECT_NEAR(got->loss, want->loss, 1e-2 * std::abs(want->loss));
  for (auto &[k, loss] : want->subModelLoss)
    EXPECT_NEAR(got->subModelLoss[k], loss, 1e-2 * std::abs(loss)) << k;
  double largest = 0, worst = 0;
  for (auto &[name, g] : want->grads) {
    ASSERT_TRUE(got->grads.count(name)) << name;
    double e = relError(got->grads.at(name).data, g.data);
    EXPECT_LT(e, 5e-2) << name;
    worst = std::max(worst, e);
    largest = std::max(largest, relError(got->grads.at(name).data,
                                         exact->grads.at(name).data));
  }
  EXPECT_GT(largest, 1e-5) << "bf16 gave the fp32 step's gradients";
  std::printf("bf16 on %s against the reference: loss %.2e, gradients %.2e "
              "(relative)\n",
              backendName(backend),
              std::abs(got->loss - want->loss) / std::abs(want->loss), worst);
  EXPECT_NE(got->loss, exact->loss);
}

TEST(CpuBackendBf16, StepIsWithinBf16ToleranceOfTheReference) {
  expectABf16Step(Backend::Cpu);
}
// The tensor-core GEMMs (mma.sync on the emulator) in a whole step.
TEST(CudaSimBackendBf16, StepIsWithinBf16ToleranceOfTheReference) {
  expectABf16Step(Backend::CudaSim);
}

// Weights bound as bf16 (LoweringOptions::bf16Weights, what the generator
// asks for): exactly the logits of the bf16 program on the fp32 weights, for
// a decode-sized step (few-rows GEMMs) and a prefill-sized one (packed
// GEMMs), full model and a sub-model (sliced weights); the linears' weights
// are bf16 buffers, the embedding and the LM head stay fp32.
TEST(CpuBackendBf16, WeightsBoundAsBf16GiveTheSameLogits) {
  Case c{{2, 2, 4}, 2, true, "full", 0};
  ModelConfig config = makeConfig(c);
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  Model model = scaledModel(config, 13);
  for (unsigned k : {0u, 2u}) {
    auto module = buildSubModel(context, config, k);
    ASSERT_TRUE(module.isOk()) << module.status().message();
    auto forward = (**module).lookupSymbol<mlir::func::FuncOp>("forward");
    ASSERT_TRUE(forward);
    for (int64_t tokens : {int64_t(3), int64_t(37)}) {
      std::vector<int32_t> ids(tokens);
      for (int64_t t = 0; t < tokens; ++t)
        ids[t] = static_cast<int32_t>((t * 7 + 3) % config.vocabSize);
      std::vector<int32_t> positions = sequencePositions(1, tokens);
      std::vector<std::vector<float>> logits;
      for (bool bf16Weights : {false, true}) {
        codegen::LoweringOptions options;
        options.sequenceLength = tokens;
        options.precision = codegen::Precision::Bf16;
        options.bf16Weights = bf16Weights;
        auto f = compileForCpu(forward, options);
        ASSERT_TRUE(f.isOk()) << f.status().message();
        Executor &e = *f->executor;
        int bf16Buffers = 0;
        for (const ProgramBuffer &b : e.program().buffers) {
          bool bits = b.type == ElementType::BF16;
          bf16Buffers += bits;
          if (bits)
            EXPECT_EQ(b.role, BufferRole::Param) << b.name;
          if (b.role == BufferRole::Param &&
              (b.name.find("embed") != std::string::npos ||
               b.name.find("lm_head") != std::string::npos ||
               b.name.find("norm") != std::string::npos))
            EXPECT_FALSE(bits) << b.name;
        }
        if (bf16Weights)
          EXPECT_EQ(bf16Buffers, 7 * config.numLayers)
              << "q k v o gate up down";
        else
          EXPECT_EQ(bf16Buffers, 0);
        ASSERT_TRUE(e.bind("arg0", ids.data(), tokens * 4).isOk());
        if (e.has("positions", BufferRole::Input))
          ASSERT_TRUE(e.bind("positions", positions.data(), tokens * 4).isOk());
        BoundParams owned;
        Status bound = bindParams(e, model.params, owned);
        ASSERT_TRUE(bound.isOk()) << bound.message();
        ASSERT_TRUE(e.run().isOk());
        auto out = e.output("result0");
        ASSERT_TRUE(out.isOk());
        auto shape = e.shapeOf("result0");
        ASSERT_TRUE(shape.isOk());
        const float *v = static_cast<const float *>(*out);
        logits.emplace_back(v, v + (*shape)[0] * (*shape)[1]);
      }
      EXPECT_EQ(logits[0], logits[1])
          << tokens << " tokens, " << k << " chains";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, CpuBackendStep,
                         ::testing::Values(Case{{2, 2}, 2, true, "full", 0},
                                           Case{{2, 2, 4}, 2, true, "all", 1},
                                           Case{{2, 2}, 4, false, "full", 0},
                                           Case{{2, 6}, 4, false, "all", 1},
                                           Case{{4}, 2, false, "full", 0}),
                         caseName);
// Fewer layouts on the emulator (slower): CoLM-Air with frozen chains and
// every sub-model's loss, CoLM with grouped KV heads.
INSTANTIATE_TEST_SUITE_P(Layouts, CudaSimBackendStep,
                         ::testing::Values(Case{{2, 2, 4}, 2, true, "all", 1},
                                           Case{{2, 6}, 4, false, "all", 1}),
                         caseName);

} // namespace
