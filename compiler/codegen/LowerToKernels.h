//===- LowerToKernels.h - A chain-dialect function as kernels ---*- C++ -*-===//
//
// Lowers one function of the chain dialect (a forward pass, or a training or
// evaluation step from chain-autodiff) to a KernelProgram for a batch of
// `sequences` sequences of `sequenceLength` tokens packed row after row:
// every per-token tensor has sequences x sequenceLength rows, so each GEMM
// multiplies the whole batch at once, while attention and RoPE positions
// stay within a sequence. The LM head with its cross-entropy (and their
// gradients) becomes one fused kernel in row chunks, never holding the
// batch's logits. Buffers get a liveness plan in one arena.
//
// Inputs are named "arg0", "arg1", ... (i32 [rows] for token ids); RoPE
// without explicit positions reads the input "positions" (i32 [rows], row r
// of a sequence at r), which the caller fills. Outputs take the names of the
// function's `chain.output` result attributes ("result<i>" without one);
// scalars (losses) are f64.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_LOWERTOKERNELS_H
#define COLM_COMPILER_CODEGEN_LOWERTOKERNELS_H

#include "compiler/codegen/KernelProgram.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "runtime/Status.h"

#include <functional>

namespace colm::codegen {

/// fp32 everywhere, or bf16 mixed precision: the linears' GEMMs (forward,
/// input and weight gradients) read bf16-rounded inputs and accumulate in
/// fp32; everything else (attention, norms, the LM head and loss, the
/// optimizer and its fp32 master weights) stays fp32.
enum class Precision { Fp32, Bf16 };

struct LoweringOptions {
  int64_t sequences = 1;
  Precision precision = Precision::Fp32;
  int64_t sequenceLength = 1;
  /// The knobs of each GEMM (the target's tuned or default ones); unset:
  /// the spec's defaults.
  std::function<GemmKnobs(const ChainGemmSpec &)> gemmKnobs;
  /// Rows of the LM head's logits held at once per thread.
  int64_t crossEntropyChunkRows = 32;
  /// Sizes chosen at run time, with their maxima (the arena is planned for
  /// those): e.g. {"tokens", 1024}, {"past", 1024} for a decoding step. Only
  /// with one sequence.
  std::vector<std::pair<std::string, int64_t>> dynamicSizes;
  /// Per argument, the dynamic size its rows are: a variable, or a sum of
  /// them joined by '+' ("" or absent: the batch's sequences x
  /// sequenceLength rows).
  std::vector<std::string> argumentSizes;
  /// A batch of decoding sequences (continuous batching): sequence s has one
  /// new token (row s) and the cached rows named by the size variable
  /// decodePast[s]. An argument of cached rows (its size "past0+past1+...")
  /// becomes one input per sequence, "arg<i>.s<s>" of decodePast[s] rows, so
  /// each sequence's cache is bound in place; each chain.append packs every
  /// sequence's cached rows and then its new row, sequence after sequence,
  /// and each chain.attention attends within a sequence. Needs one sequence
  /// of decodePast.size() tokens.
  std::vector<std::string> decodePast;
  /// bf16 only, for programs whose weights stay fixed while they are bound
  /// (generation): a parameter that only bf16 linears read, as their B
  /// stored [N, K], gets element type bf16 (bound as bf16 bits, half the
  /// bytes per decoded token) and those GEMMs read it so, with the same
  /// bits as reading the fp32 weights.
  bool bf16Weights = false;
  /// A paged key/value cache (generation over a KvPool), when > 0: each
  /// argument of cached rows (size "past", or a decoding batch's
  /// "past0+past1+...") is instead its layer's pool, [cache_rows,
  /// kvCacheWidth] floats ("arg<i>", or "arg<i>.s<s>" per sequence of a
  /// batch), read in place through the block table, the i32 input "blocks"
  /// ("blocks.s<s>") of kvBlockSize positions per block. chain.append of
  /// such an argument and new rows is not materialized: the attention that
  /// reads it is a paged attention (AttentionPass::Paged). Needs the dynamic
  /// sizes "cache_rows" and "cache_blocks" ("cache_rows<s>",
  /// "cache_blocks<s>" per sequence of a batch).
  int64_t kvBlockSize = 0;
  int64_t kvCacheWidth = 0;
};

/// An op the lowering does not support yet is an error naming it and its
/// location in the graph.
Result<KernelProgram> lowerToKernels(mlir::func::FuncOp func,
                                     const LoweringOptions &options);

} // namespace colm::codegen

#endif // COLM_COMPILER_CODEGEN_LOWERTOKERNELS_H
