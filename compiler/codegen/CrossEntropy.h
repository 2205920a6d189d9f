//===- CrossEntropy.h - The LM head fused with cross-entropy ----*- C++ -*-===//
//
// chain.lm_head of a k-chain sub-model (logits = X[:, :dk] W[:, :dk]^T)
// followed by chain.cross_entropy (the mean over rows of logsumexp - the
// target's logit) and both gradients, without the [T, V] logits: rows are
// taken in chunks and only a chunk's logits exist at once. Two phases of
// one description (runtime/abi/CrossEntropyAbi.h): the rows phase (row
// statistics, losses, dX) and then the vocab phase (dW, the mean loss).
// The split between threads never changes a bit: each logit is one fixed
// dot product, each dX element one FMA chain over ascending vocabulary
// rows, each dW element one FMA chain over ascending token rows.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_CROSSENTROPY_H
#define COLM_COMPILER_CODEGEN_CROSSENTROPY_H

#include "runtime/Status.h"
#include "runtime/abi/CrossEntropyAbi.h"

#include <cstdint>
#include <string>

namespace colm::codegen {

enum class CrossEntropyPhase { Rows, Vocab };

struct CrossEntropySpec {
  CrossEntropyPhase phase = CrossEntropyPhase::Rows;
  /// V, the LM head's rows.
  int64_t vocab = 0;
  /// dk: the columns of X and of W used (the k-chain prefix width).
  int64_t width = 0;
  /// dW columns [dwBegin, width) are written (the chains that train); the
  /// others, and columns from width on, are never touched.
  int64_t dwBegin = 0;
  /// Rows of X per chunk (the logits held at once: chunkRows x V floats per
  /// thread).
  int64_t chunkRows = 32;
  /// dX += and dW += instead of =.
  bool accumulate = false;
  /// False: the loss alone (evaluation); dX and dW are never touched and
  /// may be null.
  bool gradients = true;

  /// e.g. "xent_rows_v256_d64_dw0_c32_acc0".
  std::string name() const;
};

/// The two phases of one spec, in launch order.
CrossEntropySpec crossEntropyRows(CrossEntropySpec spec);
CrossEntropySpec crossEntropyVocab(CrossEntropySpec spec);

/// Checks positive sizes, 0 <= dwBegin <= width.
Status validateCrossEntropy(const CrossEntropySpec &spec);

/// The reference: plain loops in double over the whole [t, V] logits, as
/// compiler/Interpreter.cpp's lm_head and cross_entropy and
/// InterpreterGrad.cpp's gradients compute them; writes *loss, dx and dw
/// (both phases at once; workspace unused), rounding each gradient entry
/// to float once. An error for a target outside [0, V).
Status crossEntropyReference(const CrossEntropySpec &spec,
                             const ColmCrossEntropyArgs &args);

} // namespace colm::codegen

#endif // COLM_COMPILER_CODEGEN_CROSSENTROPY_H
