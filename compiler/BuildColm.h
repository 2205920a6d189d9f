//===- BuildColm.h - the standard CoLM / CoLM-Air graph ---------*- C++ -*-===//
#ifndef COLM_COMPILER_BUILDCOLM_H
#define COLM_COMPILER_BUILDCOLM_H

#include "compiler/Graph.h"
#include "runtime/Config.h"
#include "runtime/Status.h"

namespace colm {

/// Builds `@forward(tokens: [T]) -> logits [T, V]` of spec/colm.md section 3
/// for the full model (CoLM, or CoLM-Air when config.kvSharing). Fails with
/// the config's validation message for an invalid configuration.
Result<mlir::OwningOpRef<mlir::ModuleOp>> buildColm(mlir::MLIRContext &context,
                                                    const ModelConfig &config);

/// Decoding with a key/value cache: the positions of the new rows, the
/// cached keys and values of one layer, and (set by colmAttention) the new
/// rows' keys and values.
struct KvStep {
  dsl::Value positions, kPast, vPast;
  dsl::Value kNew, vNew;
};

/// The attention block of one layer on the normalised input `a`; with
/// `cache`, attention also reads the cached positions.
dsl::Value colmAttention(dsl::Scope &s, dsl::Value a, const ModelConfig &config,
                         KvStep *cache = nullptr);
/// Builds `@step(tokens [T], positions [T], k_past_0, v_past_0, ...) ->
/// (logits [T, V], k_new_0, v_new_0, ...)`: the forward pass over new tokens
/// that attends to cached keys and values. It serves prefill (an empty cache)
/// and decode (one token). Without logits it returns only the new keys and
/// values (the CoLM-Air chain-1 prefill, sliced to one chain).
Result<mlir::OwningOpRef<mlir::ModuleOp>>
buildColmStep(mlir::MLIRContext &context, const ModelConfig &config,
              bool withLogits);

/// The SwiGLU feed-forward block of one layer on the normalised input `b`.
dsl::Value colmFeedForward(dsl::Scope &s, dsl::Value b,
                           const ModelConfig &config);

} // namespace colm

#endif // COLM_COMPILER_BUILDCOLM_H
