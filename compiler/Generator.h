//===- Generator.h - prefill, decode and chain switching --------*- C++ -*-===//
//
// Generation runs programs the compiler builds: `@step` (buildColmStep) sliced
// to each chain count, and for CoLM-Air a keys-and-values-only chain-1
// program for prefill. The runtime's KvCache holds every sequence's keys and
// values; this class decides which program fills which columns.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_GENERATOR_H
#define COLM_COMPILER_GENERATOR_H

#include "compiler/CpuBackend.h"
#include "compiler/Interpreter.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "runtime/KvCache.h"
#include "runtime/Model.h"

#include <map>
#include <memory>
#include <mutex>

namespace colm {

/// One sequence being generated: its cache and the tokens whose keys and
/// values the cache holds.
struct Sequence {
  KvCache cache;
  std::vector<int32_t> tokens;
};

/// Where time went, for --stats and benchmarks.
struct GenerationStats {
  double prefillSeconds = 0, decodeSeconds = 0, recomputeSeconds = 0;
  int64_t prefillTokens = 0, decodeTokens = 0, recomputedTokens = 0;
};

class Generator {
public:
  /// Compiles the step programs of every chain count for `model`; the cpu
  /// backend lowers each to kernels on first use.
  static Result<std::unique_ptr<Generator>>
  create(mlir::MLIRContext &context, const Model &model,
         Backend backend = Backend::Reference);
  Backend backend() const { return engine; }
  /// The cpu backend: compiles every step program now for up to `maxTokens`
  /// new and `maxPast` cached positions, with their memory allocated and
  /// touched, so that later requests within them allocate nothing (a server
  /// reserves its memory at start). Nothing on the reference backend.
  Status reserve(int64_t maxTokens, int64_t maxPast) const;
  /// The programs' arenas in bytes.
  int64_t reservedBytes() const;

  const ModelConfig &config() const { return model.config; }
  /// The cpu backend: time every kernel launch of every step program from
  /// now on (or stop), and their summed times since the last reset.
  void setProfiling(bool on) const;
  std::vector<LaunchProfile> profile() const;
  void resetProfile() const;

  /// The compiled programs, for inspection and FLOP counts.
  mlir::ModuleOp stepModule(unsigned k) const { return *steps.at(k).module; }
  mlir::ModuleOp keysOnlyModule() const { return *keysOnly.module; }
  Result<Sequence> newSequence(int64_t maxContext) const;

  /// Runs the prompt; returns the logits [V] for the next token from the
  /// k-chain sub-model. With chain1Prefill (CoLM-Air only) all but the last
  /// prompt position run the chain-1 program, which computes every key and
  /// value the cache needs; the last position runs the k-chain model.
  Result<std::vector<float>> prefill(Sequence &seq,
                                     const std::vector<int32_t> &prompt,
                                     unsigned k, bool chain1Prefill,
                                     GenerationStats *stats = nullptr) const;

  /// Appends `token` and returns the k-chain logits [V] for the next one.
  /// CoLM switching up first recomputes the missing chains' keys and values
  /// over the history; switching down reads a prefix of the cache.
  Result<std::vector<float>> decode(Sequence &seq, int32_t token, unsigned k,
                                    GenerationStats *stats = nullptr) const;

private:
  /// A step program compiled for the cpu backend, for up to `maxTokens`
  /// new and `maxPast` cached positions; one run at a time.
  struct CpuStep {
    std::mutex mutex;
    std::unique_ptr<CompiledFunction> compiled;
    BoundParams paramSlices;
    int64_t maxTokens = 0, maxPast = 0;
  };
  struct Program {
    mlir::OwningOpRef<mlir::ModuleOp> module;
    mlir::func::FuncOp func;
    std::shared_ptr<CpuStep> cpu = std::make_shared<CpuStep>();
  };
  Generator(mlir::MLIRContext &context, const Model &model, Backend backend)
      : context(context), model(model), engine(backend) {}
  Status compileCpu(const Program &program, int64_t n, int64_t past) const;
  Result<std::vector<HostTensor>> runCpu(const Program &program,
                                         const Sequence &seq,
                                         const std::vector<int32_t> &tokens,
                                         int64_t start, int64_t cols,
                                         int64_t past) const;

  /// Runs a step program over `tokens` at positions start.. with the cache's
  /// first `cols` columns; returns logits (if any) and appends nothing.
  Result<std::vector<HostTensor>> run(const Program &program,
                                      const Sequence &seq,
                                      const std::vector<int32_t> &tokens,
                                      int64_t start, int64_t cols,
                                      bool usePast) const;
  Status appendNew(Sequence &seq, const std::vector<HostTensor> &results,
                   size_t first, int64_t rows, int64_t cols) const;

  /// Every program, keys-only included.
  std::vector<const Program *> programs() const;

  mlir::MLIRContext &context;
  const Model &model;
  Backend engine;
  mutable bool profiling = false;
  mutable ParamCache paramCache;     // the weights never change here
  std::map<unsigned, Program> steps; // by chain count
  Program keysOnly;                  // CoLM-Air chain-1 prefill
};

} // namespace colm

#endif // COLM_COMPILER_GENERATOR_H
