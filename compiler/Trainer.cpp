//===- Trainer.cpp - compiled training and evaluation steps -----*- C++ -*-===//
#include "compiler/Trainer.h"

#include "compiler/BuildColm.h"
#include "compiler/CudaOptimizer.h"
#include "compiler/Pipeline.h"
#include "mlir/Pass/PassManager.h"

#include "passes/Passes.h"
#include "runtime/Parallel.h"

using namespace mlir;

namespace colm {

Result<StepProgram> StepProgram::compile(MLIRContext &context,
                                         const ModelConfig &config,
                                         const std::string &chainLoss,
                                         unsigned freezeChains,
                                         bool withGradients, Backend backend) {
  auto built = buildColm(context, config);
  if (!built)
    return built.status();
  StepProgram program;
  program.engine = backend;
  program.moduleOp = built.take();
  DiagnosticCapture capture(context);
  PassManager pm(&context);
  pm.addNestedPass<func::FuncOp>(chain::createVerifyCausality());
  chain::AutodiffOptions options;
  options.chainLoss = chainLoss;
  options.freezeChains = freezeChains;
  options.lossOnly = !withGradients;
  pm.addPass(chain::createAutodiff(options));
  if (failed(pm.run(*program.moduleOp)))
    return capture.status("compiling the training step failed");
  program.step = program.moduleOp->lookupSymbol<func::FuncOp>(
      withGradients ? "train_step" : "eval_step");
  for (unsigned i = 0; i < program.step.getNumResults(); ++i)
    program.outputNames.push_back(
        program.step.getResultAttrOfType<StringAttr>(i, "chain.output").str());
  return program;
}

Result<StepOutputs> StepProgram::run(const TensorMap &params,
                                     const Batch &batch) const {
  if (isCompiled(engine))
    return runCpu(params, batch);
  StepOutputs out;
  size_t rows = batch.inputs.size();
  if (rows == 0)
    return Status::error("empty batch");
  std::map<std::string, std::vector<double>> gradSums;
  std::map<std::string, std::vector<int64_t>> gradShapes;
  DiagnosticCapture capture(*step.getContext());
  // Rows are independent: run them on all cores, then sum in row order so
  // the result does not depend on the thread count.
  std::vector<FailureOr<std::vector<HostTensor>>> perRow(rows, failure());
  parallelFor(rows, [&](size_t r) {
    perRow[r] = interpret(step,
                          {HostTensor::tokens(batch.inputs[r]),
                           HostTensor::tokens(batch.targets[r])},
                          params);
  });
  for (size_t r = 0; r < rows; ++r) {
    FailureOr<std::vector<HostTensor>> &results = perRow[r];
    if (failed(results))
      return capture.status("the training step failed");
    for (auto [name, value] : llvm::zip(outputNames, *results)) {
      if (name == "loss") {
        out.loss += value.data[0] / rows;
      } else if (name.rfind("ce.", 0) == 0) {
        out.subModelLoss[std::stoi(name.substr(3))] += value.data[0] / rows;
      } else {
        std::vector<double> &sum = gradSums[name.substr(5)];
        if (sum.empty()) {
          sum.assign(value.data.size(), 0.0);
          gradShapes[name.substr(5)] = value.shape;
        }
        for (size_t i = 0; i < sum.size(); ++i)
          sum[i] += value.data[i];
      }
    }
  }
  for (auto &[name, sum] : gradSums) {
    Tensor t;
    t.shape = gradShapes[name];
    t.data.reserve(sum.size());
    for (double v : sum)
      t.data.push_back(static_cast<float>(v / rows));
    out.grads[name] = std::move(t);
  }
  return out;
}

Result<const CompiledFunction *> StepProgram::prepare(int64_t sequences,
                                                      int64_t length) const {
  if (!isCompiled(engine))
    return static_cast<const CompiledFunction *>(nullptr);
  std::shared_ptr<CompiledFunction> &compiled = cpu[{sequences, length}];
  if (!compiled) {
    codegen::LoweringOptions options;
    options.sequences = sequences;
    options.sequenceLength = length;
    auto f = compileForCpu(step, options, engine);
    if (!f) {
      cpu.erase({sequences, length});
      return f.status();
    }
    compiled = std::make_shared<CompiledFunction>(f.take());
  }
  last = compiled;
  return last.get();
}

Result<StepOutputs> StepProgram::runCpu(const TensorMap &params,
                                        const Batch &batch) const {
  int64_t sequences = static_cast<int64_t>(batch.inputs.size());
  if (sequences == 0)
    return Status::error("empty batch");
  int64_t length = static_cast<int64_t>(batch.inputs[0].size());
  for (size_t r = 0; r < batch.inputs.size(); ++r)
    if (static_cast<int64_t>(batch.inputs[r].size()) != length ||
        batch.targets[r].size() != batch.inputs[r].size())
      return Status::error("the cpu backend needs every row of a batch to "
                           "have the same number of tokens and targets");
  if (length == 0)
    return Status::error("empty batch rows");
  COLM_ASSIGN_OR_RETURN(const CompiledFunction *compiled,
                        prepare(sequences, length));
  Executor &e = *compiled->executor;
  std::vector<int32_t> tokens, targets;
  for (size_t r = 0; r < batch.inputs.size(); ++r) {
    tokens.insert(tokens.end(), batch.inputs[r].begin(), batch.inputs[r].end());
    targets.insert(targets.end(), batch.targets[r].begin(),
                   batch.targets[r].end());
  }
  std::vector<int32_t> positions = sequencePositions(sequences, length);
  int64_t bytes = static_cast<int64_t>(tokens.size()) * 4;
  if (Status s = e.bind("arg0", tokens.data(), bytes); !s)
    return s;
  if (Status s = e.bind("arg1", targets.data(), bytes); !s)
    return s;
  if (e.has("positions", BufferRole::Input))
    if (Status s = e.bind("positions", positions.data(), bytes); !s)
      return s;
  if (resident) {
    auto *gpu = dynamic_cast<CudaExecutor *>(&e);
    if (!gpu)
      return Status::error("internal error: parameters on the GPU need the "
                           "cuda backend");
    if (Status s = resident->bind(*gpu); !s)
      return s;
  } else if (Status s = bindParams(e, params, paramSlices); !s) {
    return s;
  }
  if (launchHook)
    e.setLaunchHook([&](size_t i) { launchHook(e, i); });
  Status ran = e.run();
  e.setLaunchHook(nullptr);
  if (!ran)
    return ran;
  StepOutputs out;
  const Program &p = e.program();
  for (const std::string &name : outputNames) {
    COLM_ASSIGN_OR_RETURN(const void *data, e.output(name));
    if (name == "loss" || name.rfind("ce.", 0) == 0) {
      double v = *static_cast<const double *>(data);
      if (name == "loss")
        out.loss = v;
      else
        out.subModelLoss[std::stoi(name.substr(3))] = v;
      continue;
    }
    if (resident)
      continue; // the gradients stay on the GPU
    Tensor t;
    COLM_ASSIGN_OR_RETURN(t.shape, e.shapeOf(name));
    const float *f = static_cast<const float *>(data);
    t.data.assign(f, f + t.numel());
    out.grads[name.substr(5)] = std::move(t);
  }
  return out;
}

} // namespace colm
