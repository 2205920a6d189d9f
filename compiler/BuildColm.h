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

/// The attention block of one layer on the normalised input `a`.
dsl::Value colmAttention(dsl::Scope &s, dsl::Value a,
                         const ModelConfig &config);
/// The SwiGLU feed-forward block of one layer on the normalised input `b`.
dsl::Value colmFeedForward(dsl::Scope &s, dsl::Value b,
                           const ModelConfig &config);

} // namespace colm

#endif // COLM_COMPILER_BUILDCOLM_H
