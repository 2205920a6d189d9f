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

/// Which cached positions a decode step attends to: all of them (recent =
/// 0, the model), or the first `sink` and the last `recent`, in whole
/// blocks of the paged cache: StreamingLLM's attention sink and window, an
/// approximation for speculative drafts (the verify run decides every
/// token, so the output does not change).
struct AttentionWindow {
  int64_t sink = 0, recent = 0;
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
  /// reserves its memory at start), and the decoding batches of up to
  /// `maxBatch` sequences (kMaxDecodeBatch at most) of up to `maxPast` each.
  /// Nothing on the reference backend.
  Status reserve(int64_t maxTokens, int64_t maxPast,
                 int64_t maxBatch = 1) const;
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
  /// A sequence whose cache draws blocks from `pool` (a server's).
  Result<Sequence> newSequence(std::shared_ptr<KvPool> pool,
                               int64_t maxContext) const;
  /// The chain-1 program's cost per prompt token over the full model's
  /// (multiplied weights), what chain-1 prefill saves; 1 without CoLM-Air.
  double chain1PrefillCost() const;

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
  /// With `window`, attends only to those cached positions.
  Result<std::vector<float>> decode(Sequence &seq, int32_t token, unsigned k,
                                    GenerationStats *stats = nullptr,
                                    const AttentionWindow &window = {}) const;

  /// Appends `tokens` in one run of the k-chain sub-model and returns the
  /// logits [V] after each (row i predicts the token after tokens[i]):
  /// what decode() of the tokens one by one returns, bit for bit on the cpu
  /// backend (GeneratorTest), so a speculative draft can be verified in one
  /// pass.
  Result<std::vector<std::vector<float>>>
  extend(Sequence &seq, const std::vector<int32_t> &tokens, unsigned k,
         GenerationStats *stats = nullptr) const;
  /// Forgets the tokens from position `length` on and their cache rows (a
  /// rejected draft).
  void truncate(Sequence &seq, int64_t length) const;

  /// decode() for several sequences at once, sequence i appending tokens[i]
  /// and decoding with chains[i]; returns each one's logits. On the cpu
  /// backend the sequences that share a chain count (and need no switch up)
  /// run as one decoding batch: every GEMM multiplies all their rows at once
  /// and reads the weights once, attention stays within each sequence. The
  /// logits are those of decode() on each sequence alone, up to the last
  /// bits of the GEMMs' row blocking. A failure is reported per sequence.
  std::vector<Result<std::vector<float>>>
  decodeBatch(const std::vector<Sequence *> &seqs,
              const std::vector<int32_t> &tokens,
              const std::vector<unsigned> &chains,
              GenerationStats *stats = nullptr) const;
  /// The most sequences one decoding batch holds (more run as several).
  static constexpr int64_t kMaxDecodeBatch = 16;
  /// Runs of up to this many rows take the GEMMs' few-rows path (each
  /// output a dot product), longer runs the packed tiles: a row's bits
  /// depend on which side of it its run falls, and on nothing else (the
  /// paged attention reads every run alike). So a prompt cut into chunks
  /// has the whole prompt's bits when every chunk is longer than this (or
  /// the prompt is not): nextPrefillChunk() cuts so.
  static constexpr int64_t kFewRows = 16;
  /// The tokens of the next prefill chunk with `remaining` prompt tokens
  /// left to run and room for `budget` (>= 1): at most the budget, and
  /// never leaving or making a chunk of kFewRows or fewer out of a longer
  /// prompt (a short prompt runs whole, whatever the budget). With chain-1
  /// prefill the last chunk runs one row fewer in the chain-1 program, so
  /// chunks have one row more.
  static int64_t nextPrefillChunk(int64_t remaining, int64_t budget,
                                  int64_t promptLength, bool chain1Prefill);
  /// Prefill of a part of a prompt that is not its end (chunked prefill):
  /// fills the cache for `tokens` with the program prefill() would use
  /// for them (the chain-1 program with chain1Prefill), computing no
  /// logits where it can.
  Status prefillPart(Sequence &seq, const std::vector<int32_t> &tokens,
                     unsigned k, bool chain1Prefill,
                     GenerationStats *stats = nullptr) const;

private:
  /// Errors naming a chain count outside 1..numChains, and `tokens` more
  /// positions than `seq`'s context holds.
  Status checkChains(unsigned k) const;
  Status checkRoom(const Sequence &seq, int64_t tokens) const;
  /// CoLM switching up to k chains: the wider keys and values of the whole
  /// history first (nothing for CoLM-Air or a narrower k).
  Status widenHistory(Sequence &seq, unsigned k, GenerationStats *stats) const;
  /// Appends `tokens` with the k-chain program (its keys and values into the
  /// cache) and returns the logits [T, V] after each.
  Result<HostTensor> append(Sequence &seq, const std::vector<int32_t> &tokens,
                            unsigned k,
                            const AttentionWindow &window = {}) const;
  /// A step program compiled for the cpu backend, for up to `maxTokens`
  /// new and `maxPast` cached positions; one run at a time.
  struct CpuStep {
    std::mutex mutex;
    std::unique_ptr<CompiledFunction> compiled;
    int64_t maxTokens = 0, maxPast = 0;
  };
  struct Program {
    mlir::OwningOpRef<mlir::ModuleOp> module;
    mlir::func::FuncOp func;
    std::shared_ptr<CpuStep> cpu = std::make_shared<CpuStep>();
    /// Decoding batches of 2, 4, 8, 16 sequences, by batch size (maxTokens
    /// is the batch size, maxPast each sequence's cached rows), and the
    /// weights (sub-model slices, bf16 copies) that every plan of this
    /// program binds, made once; both under batchesMutex.
    mutable std::map<int64_t, std::shared_ptr<CpuStep>> batches;
    std::shared_ptr<std::mutex> batchesMutex = std::make_shared<std::mutex>();
    std::shared_ptr<BoundParams> params = std::make_shared<BoundParams>();
  };
  Generator(mlir::MLIRContext &context, const Model &model, Backend backend)
      : context(context), model(model), engine(backend) {}
  Status compileCpu(const Program &program, int64_t n, int64_t past) const;
  /// Binds the program's shared weights to `cpu`'s fresh plan (making them
  /// on first use); on failure the plan is dropped.
  Status bindShared(const Program &program, CpuStep &cpu) const;
  /// The decoding batch of `n` sequences (made empty on first use).
  std::shared_ptr<CpuStep> batchSlot(const Program &program, int64_t n) const;
  /// Plans (or plans again, for longer caches) a decoding batch of `n`
  /// sequences of up to `past` cached rows each; the caller holds its mutex.
  Status compileBatch(const Program &program, CpuStep &cpu, int64_t n,
                      int64_t past) const;
  /// One decoding batch on the cpu backend: same chain count, no switch up,
  /// room in every cache.
  Status decodeCpuBatch(const Program &program,
                        const std::vector<Sequence *> &seqs,
                        const std::vector<int32_t> &tokens, int64_t cols,
                        std::vector<std::vector<float>> &logits) const;
  Result<std::vector<HostTensor>>
  runCpu(const Program &program, const Sequence &seq,
         const std::vector<int32_t> &tokens, int64_t start, int64_t cols,
         int64_t past, const AttentionWindow &window) const;

  /// Runs a step program over `tokens` at positions start.. with the cache's
  /// first `cols` columns; returns logits (if any) and appends nothing.
  Result<std::vector<HostTensor>> run(const Program &program,
                                      const Sequence &seq,
                                      const std::vector<int32_t> &tokens,
                                      int64_t start, int64_t cols, bool usePast,
                                      const AttentionWindow &window = {}) const;
  Status appendNew(Sequence &seq, const std::vector<HostTensor> &results,
                   size_t first, int64_t rows, int64_t cols) const;

  /// Every program, keys-only included.
  std::vector<const Program *> programs() const;
  /// Every compiled (or to be compiled) cpu step, decoding batches included.
  std::vector<std::shared_ptr<CpuStep>> cpuSteps() const;

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
