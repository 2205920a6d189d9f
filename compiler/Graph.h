//===- Graph.h - the C++ DSL for chain-dialect model graphs -----*- C++ -*-===//
//
// A Graph builds one chain-dialect function. Values carry their chain layout
// in their types, so callers write the model, not the chain bookkeeping:
//
//   Graph g(ctx, "forward", {2, 2, 4});
//   Value x = g.embed("model.embed_tokens.weight", vocab, D, g.inputTokens());
//   x = x + layer.attention(...);
//
// Every op gets a readable value name and the C++ source location of the
// call that made it (printed with --mlir-print-debuginfo).
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_GRAPH_H
#define COLM_COMPILER_GRAPH_H

#include "dialect/ChainDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <source_location>
#include <string>
#include <vector>

namespace colm::dsl {

using SourceLoc = std::source_location;

class Graph;

/// A value of the graph: an SSA value and the graph that builds on it.
class Value {
public:
  Value() = default;
  Value(mlir::Value value, Graph *graph) : value(value), graph(graph) {}

  mlir::Value raw() const { return value; }
  mlir::RankedTensorType type() const {
    return mlir::cast<mlir::RankedTensorType>(value.getType());
  }
  /// Size of the last dimension.
  int64_t width() const { return type().getShape().back(); }
  /// The chain layout, or null for an unchained value.
  chain::LayoutAttr layout() const { return chain::getLayout(type()); }

  /// Residual add.
  Value add(const Value &other, const std::string &name = "x",
            SourceLoc loc = SourceLoc::current()) const;
  Value operator+(const Value &other) const { return add(other); }

private:
  mlir::Value value;
  Graph *graph = nullptr;
};

/// Builds one function `@<name>` in a fresh module.
class Graph {
public:
  /// `chains` are the ratios C of every chained dimension of the model.
  Graph(mlir::MLIRContext &context, const std::string &name,
        std::vector<int64_t> chains);

  mlir::MLIRContext *context() { return builder.getContext(); }
  chain::LayoutAttr layout() const { return chainLayout; }

  //===--- Types ---------------------------------------------------------===//
  /// `[?, width]` activations split into the model's chains.
  mlir::RankedTensorType chained(int64_t width) const;
  /// `[?, width]` activations without chains.
  mlir::RankedTensorType plain(int64_t width) const;

  //===--- Inputs and parameters -----------------------------------------===//
  /// Token ids `[T]`.
  Value inputTokens(const std::string &name = "tokens");
  /// An argument of the given type.
  Value input(mlir::Type type, const std::string &name);
  /// Plain `[?, width]` float inputs (features), belonging to no chain.
  Value inputFeatures(int64_t width, const std::string &name = "features");
  /// A parameter `[out, in]` split into chain blocks (a chain linear).
  Value chainWeight(const std::string &name, int64_t out, int64_t in,
                    SourceLoc loc = SourceLoc::current());
  /// A parameter whose last dimension is chained (gains, tables).
  Value chainedParam(const std::string &name, std::vector<int64_t> shape,
                     SourceLoc loc = SourceLoc::current());
  /// A parameter without chain structure.
  Value plainParam(const std::string &name, std::vector<int64_t> shape,
                   SourceLoc loc = SourceLoc::current());

  //===--- Steps of a layer ----------------------------------------------===//
  /// Rows of the chained `[V, D]` table `tableName` for each token.
  Value embed(const std::string &tableName, int64_t vocab, int64_t dim,
              Value tokens, const std::string &name = "x",
              SourceLoc loc = SourceLoc::current());
  /// RMSNorm per chain with gain parameter `gainName`.
  Value chainNorm(Value x, const std::string &gainName, double eps,
                  const std::string &name = "h",
                  SourceLoc loc = SourceLoc::current());
  /// Chain linear `x -> [?, out]` with block lower-triangular `weightName`.
  Value chainLinear(Value x, const std::string &weightName, int64_t out,
                    const std::string &name,
                    SourceLoc loc = SourceLoc::current());
  /// Dense linear `x -> [?, out]` (unchained result).
  Value dense(Value x, const std::string &weightName, int64_t out,
              const std::string &name, SourceLoc loc = SourceLoc::current());
  /// Dense linear from unchained inputs (raw features, which belong to no
  /// chain) to a chained `[?, out]`: every output chain may read all of x.
  Value inputLayer(Value x, const std::string &weightName, int64_t out,
                   const std::string &name,
                   SourceLoc loc = SourceLoc::current());
  /// The first k chains of x.
  Value prefix(Value x, unsigned k, const std::string &name,
               SourceLoc loc = SourceLoc::current());
  /// RoPE; rows are at positions 0..T-1, or at `positions` when given.
  Value rope(Value x, int64_t headDim, double theta, const std::string &name,
             Value positions = Value(), SourceLoc loc = SourceLoc::current());
  /// The rows of `rows` after those of `past` (a key/value cache).
  Value append(Value past, Value rows, const std::string &name,
               SourceLoc loc = SourceLoc::current());
  Value attention(Value q, Value k, Value v, int64_t headDim,
                  chain::KvMapping mapping, const std::string &name = "attn",
                  SourceLoc loc = SourceLoc::current());
  Value add(Value a, Value b, const std::string &name = "x",
            SourceLoc loc = SourceLoc::current());
  Value swiglu(Value gate, Value up, const std::string &name = "act",
               SourceLoc loc = SourceLoc::current());
  /// Logits `[?, V]` of the k-chain sub-model (k = 0: all chains).
  Value lmHead(Value x, const std::string &weightName, int64_t vocab,
               unsigned k = 0, const std::string &name = "logits",
               SourceLoc loc = SourceLoc::current());
  Value crossEntropy(Value logits, Value targets,
                     const std::string &name = "loss",
                     SourceLoc loc = SourceLoc::current());

  /// Finishes the function with these results.
  void output(const std::vector<Value> &results);

  /// The module; valid while the Graph lives unless taken.
  mlir::ModuleOp module() { return *moduleOp; }
  mlir::OwningOpRef<mlir::ModuleOp> take() { return std::move(moduleOp); }

  /// NameLoc(name, file:line:col of `loc`).
  mlir::Location location(const std::string &name, SourceLoc loc);
  mlir::Location fileLocation(SourceLoc loc);
  Value wrap(mlir::Value v) { return Value(v, this); }

private:
  mlir::OpBuilder builder;
  mlir::OwningOpRef<mlir::ModuleOp> moduleOp;
  mlir::func::FuncOp func;
  chain::LayoutAttr chainLayout;
  std::vector<mlir::Type> argTypes;
};

/// Parameter and value names of one layer: "model.layers.3." + name.
class Scope {
public:
  /// Parameters are named `<prefix>.<index>.<name>`; values
  /// `<first letter of the prefix's last part><index>.<name>` ("l3.q").
  Scope(Graph &graph, const std::string &prefix, int index)
      : graph(graph), paramPrefix(prefix + "." + std::to_string(index) + "."),
        valuePrefix(prefix.substr(prefix.rfind('.') + 1, 1) +
                    std::to_string(index) + ".") {}
  Graph &g() { return graph; }
  /// Full parameter name.
  std::string param(const std::string &name) const {
    return paramPrefix + name;
  }
  /// Layer-qualified value name.
  std::string value(const std::string &name) const {
    return valuePrefix + name;
  }

private:
  Graph &graph;
  std::string paramPrefix, valuePrefix;
};

/// Loads the dialects a chain graph uses, and the kernel dialect it lowers
/// to.
void loadDialects(mlir::MLIRContext &context);

/// Prints a module as a graph file: generic-free text with locations, so that
/// value names and source locations survive a round trip.
std::string printGraph(mlir::ModuleOp module, bool withLocations = true);

} // namespace colm::dsl

#endif // COLM_COMPILER_GRAPH_H
