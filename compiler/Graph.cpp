//===- Graph.cpp - the C++ DSL ----------------------------------*- C++ -*-===//
#include "compiler/Graph.h"
#include "dialect/KernelDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/AsmState.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace colm::dsl {

void loadDialects(MLIRContext &context) {
  context.loadDialect<chain::ChainDialect, kernel::KernelDialect,
                      func::FuncDialect, arith::ArithDialect>();
}

std::string printGraph(ModuleOp module, bool withLocations) {
  std::string text;
  llvm::raw_string_ostream os(text);
  OpPrintingFlags flags;
  if (withLocations)
    flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false);
  module->print(os, flags);
  os << "\n"; // as colm-opt prints, so the two agree byte for byte
  return text;
}

Value Value::add(const Value &other, const std::string &name,
                 SourceLoc loc) const {
  return graph->add(*this, other, name, loc);
}

Graph::Graph(MLIRContext &context, const std::string &name,
             std::vector<int64_t> chains)
    : builder(&context) {
  loadDialects(context);
  chainLayout = chain::LayoutAttr::get(&context, chains);
  moduleOp = ModuleOp::create(builder.getUnknownLoc());
  builder.setInsertionPointToEnd(moduleOp->getBody());
  func = builder.create<func::FuncOp>(builder.getUnknownLoc(), name,
                                      builder.getFunctionType({}, {}));
  builder.setInsertionPointToStart(func.addEntryBlock());
}

Location Graph::fileLocation(SourceLoc loc) {
  return FileLineColLoc::get(context(), loc.file_name(), loc.line(),
                             loc.column());
}

Location Graph::location(const std::string &name, SourceLoc loc) {
  return NameLoc::get(builder.getStringAttr(name), fileLocation(loc));
}

RankedTensorType Graph::chained(int64_t width) const {
  return RankedTensorType::get({ShapedType::kDynamic, width},
                               Float32Type::get(chainLayout.getContext()),
                               chainLayout);
}

RankedTensorType Graph::plain(int64_t width) const {
  return RankedTensorType::get({ShapedType::kDynamic, width},
                               Float32Type::get(chainLayout.getContext()));
}

Value Graph::inputTokens(const std::string &name) {
  Type type =
      RankedTensorType::get({ShapedType::kDynamic}, builder.getI32Type());
  argTypes.push_back(type);
  return wrap(func.getBody().front().addArgument(
      type, NameLoc::get(builder.getStringAttr(name))));
}

Value Graph::input(Type type, const std::string &name) {
  argTypes.push_back(type);
  return wrap(func.getBody().front().addArgument(
      type, NameLoc::get(builder.getStringAttr(name))));
}

Value Graph::append(Value past, Value rows, const std::string &name,
                    SourceLoc loc) {
  return wrap(builder.create<chain::AppendOp>(location(name, loc), past.type(),
                                              past.raw(), rows.raw()));
}

Value Graph::inputFeatures(int64_t width, const std::string &name) {
  Type type = plain(width);
  argTypes.push_back(type);
  return wrap(func.getBody().front().addArgument(
      type, NameLoc::get(builder.getStringAttr(name))));
}

Value Graph::chainWeight(const std::string &name, int64_t out, int64_t in,
                         SourceLoc loc) {
  auto type = RankedTensorType::get(
      {out, in}, builder.getF32Type(),
      chain::BlocksAttr::get(context(), chainLayout.getRatios()));
  return wrap(builder.create<chain::ParamOp>(fileLocation(loc), type,
                                             builder.getStringAttr(name)));
}

Value Graph::chainedParam(const std::string &name, std::vector<int64_t> shape,
                          SourceLoc loc) {
  auto type = RankedTensorType::get(shape, builder.getF32Type(), chainLayout);
  return wrap(builder.create<chain::ParamOp>(fileLocation(loc), type,
                                             builder.getStringAttr(name)));
}

Value Graph::plainParam(const std::string &name, std::vector<int64_t> shape,
                        SourceLoc loc) {
  auto type = RankedTensorType::get(shape, builder.getF32Type());
  return wrap(builder.create<chain::ParamOp>(fileLocation(loc), type,
                                             builder.getStringAttr(name)));
}

Value Graph::embed(const std::string &tableName, int64_t vocab, int64_t dim,
                   Value tokens, const std::string &name, SourceLoc loc) {
  Value table = chainedParam(tableName, {vocab, dim}, loc);
  return wrap(builder.create<chain::EmbedOp>(location(name, loc), chained(dim),
                                             table.raw(), tokens.raw()));
}

Value Graph::chainNorm(Value x, const std::string &gainName, double eps,
                       const std::string &name, SourceLoc loc) {
  Value gain = chainedParam(gainName, {x.width()}, loc);
  return wrap(builder.create<chain::NormOp>(
      location(name, loc), x.type(), x.raw(), gain.raw(),
      builder.getF64FloatAttr(eps), chain::LayoutAttr()));
}

Value Graph::chainLinear(Value x, const std::string &weightName, int64_t out,
                         const std::string &name, SourceLoc loc) {
  Value w = chainWeight(weightName, out, x.width(), loc);
  return wrap(builder.create<chain::LinearOp>(location(name, loc), chained(out),
                                              x.raw(), w.raw()));
}

Value Graph::dense(Value x, const std::string &weightName, int64_t out,
                   const std::string &name, SourceLoc loc) {
  Value w = plainParam(weightName, {out, x.width()}, loc);
  return wrap(builder.create<chain::DenseOp>(location(name, loc), plain(out),
                                             x.raw(), w.raw()));
}

Value Graph::inputLayer(Value x, const std::string &weightName, int64_t out,
                        const std::string &name, SourceLoc loc) {
  Value w = plainParam(weightName, {out, x.width()}, loc);
  return wrap(builder.create<chain::DenseOp>(location(name, loc), chained(out),
                                             x.raw(), w.raw()));
}

Value Graph::prefix(Value x, unsigned k, const std::string &name,
                    SourceLoc loc) {
  chain::LayoutAttr layout = x.layout();
  auto type = RankedTensorType::get(
      {x.type().getShape()[0], layout.prefixWidth(x.width(), k)},
      x.type().getElementType(), layout.prefix(k));
  return wrap(
      builder.create<chain::PrefixOp>(location(name, loc), type, x.raw(), k));
}

Value Graph::rope(Value x, int64_t headDim, double theta,
                  const std::string &name, Value positions, SourceLoc loc) {
  return wrap(builder.create<chain::RopeOp>(
      location(name, loc), x.type(), x.raw(), positions.raw(),
      builder.getI64IntegerAttr(headDim), builder.getF64FloatAttr(theta),
      /*inverse=*/nullptr));
}

Value Graph::attention(Value q, Value k, Value v, int64_t headDim,
                       chain::KvMapping mapping, const std::string &name,
                       SourceLoc loc) {
  return wrap(builder.create<chain::AttentionOp>(
      location(name, loc), q.type(), q.raw(), k.raw(), v.raw(),
      builder.getI64IntegerAttr(headDim),
      chain::KvMappingAttr::get(context(), mapping)));
}

Value Graph::add(Value a, Value b, const std::string &name, SourceLoc loc) {
  return wrap(
      builder.create<chain::AddOp>(location(name, loc), a.raw(), b.raw()));
}

Value Graph::swiglu(Value gate, Value up, const std::string &name,
                    SourceLoc loc) {
  return wrap(builder.create<chain::SwigluOp>(location(name, loc), gate.raw(),
                                              up.raw()));
}

Value Graph::lmHead(Value x, const std::string &weightName, int64_t vocab,
                    unsigned k, const std::string &name, SourceLoc loc) {
  Value w = chainedParam(weightName, {vocab, x.width()}, loc);
  IntegerAttr chains = k ? builder.getI64IntegerAttr(k) : IntegerAttr();
  return wrap(builder.create<chain::LmHeadOp>(location(name, loc), plain(vocab),
                                              x.raw(), w.raw(), chains));
}

Value Graph::crossEntropy(Value logits, Value targets, const std::string &name,
                          SourceLoc loc) {
  auto type = RankedTensorType::get({}, builder.getF32Type());
  return wrap(builder.create<chain::CrossEntropyOp>(
      location(name, loc), type, logits.raw(), targets.raw()));
}

void Graph::output(const std::vector<Value> &results) {
  SmallVector<mlir::Value> values;
  SmallVector<Type> types;
  for (const Value &v : results) {
    values.push_back(v.raw());
    types.push_back(v.type());
  }
  builder.create<func::ReturnOp>(builder.getUnknownLoc(), values);
  func.setType(builder.getFunctionType(argTypes, types));
}

} // namespace colm::dsl
