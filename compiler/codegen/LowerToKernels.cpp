//===- LowerToKernels.cpp - A chain-dialect function as kernels -----------===//
#include "compiler/codegen/LowerToKernels.h"

#include "dialect/ChainDialect.h"
#include "runtime/KernelAbi.h"
#include "runtime/abi/AttentionAbi.h"
#include "runtime/abi/CrossEntropyAbi.h"
#include "runtime/abi/MovementAbi.h"
#include "runtime/abi/PointwiseAbi.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstddef>
#include <optional>

using namespace mlir;
using namespace colm::chain;

namespace colm::codegen {

namespace {

std::vector<int64_t> ratiosOf(LayoutAttr layout) {
  if (!layout)
    return {};
  return {layout.getRatios().begin(), layout.getRatios().end()};
}
std::vector<int64_t> ratiosOf(BlocksAttr blocks) {
  if (!blocks)
    return {1};
  return {blocks.getRatios().begin(), blocks.getRatios().end()};
}

/// A value's memory: a buffer and the first element.
struct Ref {
  int buffer = -1;
  SizeExpr element;
};

/// One launch under construction.
struct LaunchBuilder {
  ProgramLaunch launch;
  std::vector<int> reads;

  void pointer(size_t offset, Ref ref, SizeExpr element = 0) {
    ProgramArg a;
    a.kind = ProgramArg::Kind::Pointer;
    a.offset = static_cast<int64_t>(offset);
    a.buffer = ref.buffer;
    a.element = ref.buffer >= 0 ? ref.element + element : SizeExpr(0);
    launch.args.push_back(a);
  }
  void integer(size_t offset, SizeExpr v) {
    ProgramArg a;
    a.kind = ProgramArg::Kind::Int;
    a.offset = static_cast<int64_t>(offset);
    a.intValue = v;
    launch.args.push_back(a);
  }
  void real(size_t offset, double v) {
    ProgramArg a;
    a.kind = ProgramArg::Kind::Float;
    a.offset = static_cast<int64_t>(offset);
    a.floatValue = v;
    launch.args.push_back(a);
  }
};

class Lowering {
public:
  Lowering(func::FuncOp func, const LoweringOptions &options)
      : func(func), options(options),
        rows(options.sequences * options.sequenceLength) {}

  Result<KernelProgram> run();

private:
  Status error(Operation *op, const std::string &what) {
    std::string loc;
    llvm::raw_string_ostream os(loc);
    op->getLoc().print(os);
    return Status::error(loc + ": " + op->getName().getStringRef().str() +
                         ": " + what);
  }

  /// A value's shape: static dimensions from its type, the dynamic one (the
  /// first) from the arguments' sizes through the ops: chain.append adds its
  /// operands' rows, every other op has the rows of its first operand with
  /// dynamic rows.
  std::vector<SizeExpr> shapeOf(Value v) {
    auto it = shapes.find(v);
    if (it != shapes.end())
      return it->second;
    auto t = cast<RankedTensorType>(v.getType());
    SizeExpr dynamic = rows;
    if (Operation *op = v.getDefiningOp()) {
      if (auto a = dyn_cast<AppendOp>(op)) {
        dynamic = shapeOf(a.getPast())[0] + shapeOf(a.getRows())[0];
      } else {
        for (Value o : op->getOperands()) {
          auto ot = dyn_cast<RankedTensorType>(o.getType());
          if (ot && ot.getRank() > 0 && ot.isDynamicDim(0)) {
            dynamic = shapeOf(o)[0];
            break;
          }
        }
      }
    }
    std::vector<SizeExpr> shape;
    for (int64_t d : t.getShape())
      shape.push_back(ShapedType::isDynamic(d) ? dynamic : SizeExpr(d));
    shapes[v] = shape;
    return shape;
  }
  /// The rows of a row-major tensor: all but its last dimension (one of
  /// them dynamic at most).
  SizeExpr rowsOf(Value v) {
    std::vector<SizeExpr> shape = shapeOf(v);
    SizeExpr r = 1;
    for (size_t i = 0; i + 1 < shape.size(); ++i)
      r = r.isConstant() ? shape[i] * r.constant : r * shape[i].constant;
    return r;
  }
  int64_t atMax(const SizeExpr &e) { return e.eval(kp.program.maxSizes); }
  /// A variable or a sum of them ("past0+past1"); nullopt for a name the
  /// program does not have.
  std::optional<SizeExpr> sizeNamed(const std::string &name) {
    SizeExpr sum;
    size_t start = 0;
    for (;;) {
      size_t plus = name.find('+', start);
      int v = kp.program.findVariable(name.substr(start, plus - start));
      if (v < 0)
        return std::nullopt;
      sum = sum + SizeExpr::variable(v);
      if (plus == std::string::npos)
        return sum;
      start = plus + 1;
    }
  }

  int addBuffer(std::string name, BufferRole role, ElementType type,
                std::vector<SizeExpr> shape) {
    ProgramBuffer b;
    b.name = std::move(name);
    b.role = role;
    b.type = type;
    b.shape = std::move(shape);
    kp.program.buffers.push_back(std::move(b));
    firstUse.push_back(static_cast<int64_t>(kp.program.launches.size()));
    lastUse.push_back(static_cast<int64_t>(kp.program.launches.size()));
    return static_cast<int>(kp.program.buffers.size() - 1);
  }
  Ref temporary(const std::string &name, ElementType type,
                std::vector<SizeExpr> shape) {
    return {addBuffer(name, BufferRole::Temporary, type, std::move(shape)), 0};
  }
  /// The memory of an op's result, made on first use.
  Ref result(Value v) {
    auto it = values.find(v);
    if (it != values.end())
      return it->second;
    auto t = cast<RankedTensorType>(v.getType());
    ElementType type = t.getRank() == 0                   ? ElementType::F64
                       : t.getElementType().isInteger(32) ? ElementType::I32
                                                          : ElementType::F32;
    Ref r = temporary("%" + std::to_string(nextValue++), type, shapeOf(v));
    values[v] = r;
    return r;
  }
  Result<Ref> operand(Operation *op, Value v) {
    auto it = values.find(v);
    if (it == values.end() && cachedArgs.count(v))
      return error(op, "in a decoding batch, only chain.append reads the "
                       "cached rows");
    if (it == values.end())
      return error(op, "an operand has no buffer (defined by an op the "
                       "lowering skipped)");
    return it->second;
  }
  Ref positions() {
    if (positionsRef.buffer < 0)
      positionsRef = {
          addBuffer("positions", BufferRole::Input, ElementType::I32, {rows}),
          0};
    return positionsRef;
  }

  /// Appends a launch of `spec`; `reads` and every pointer argument keep
  /// their buffers alive up to it.
  void emit(const KernelSpec &spec, LaunchBuilder b, size_t argBytes,
            std::string label, double flops) {
    b.launch.kernel = kp.kernelFor(spec);
    b.launch.argBytes = static_cast<int64_t>(argBytes);
    b.launch.label = std::move(label);
    b.launch.flops = flops;
    int64_t index = static_cast<int64_t>(kp.program.launches.size());
    auto touch = [&](int buffer) {
      if (buffer < 0)
        return;
      int base = kp.program.buffers[buffer].viewOf >= 0
                     ? kp.program.buffers[buffer].viewOf
                     : buffer;
      firstUse[base] = std::min(firstUse[base], index);
      lastUse[base] = std::max(lastUse[base], index);
    };
    for (const ProgramArg &a : b.launch.args)
      if (a.kind == ProgramArg::Kind::Pointer)
        touch(a.buffer);
    for (int z : b.launch.zero)
      touch(z);
    kp.program.launches.push_back(std::move(b.launch));
  }

  std::string labelOf(Operation *op) {
    std::string name = op->getName().getStringRef().str();
    if (name.rfind("chain.", 0) == 0)
      name = name.substr(6);
    // The parameter the op multiplies names it best (seen through the
    // arguments of a fusion group).
    for (Value v : op->getOperands()) {
      if (auto arg = dyn_cast<BlockArgument>(v))
        if (auto group = dyn_cast<FusedOp>(arg.getOwner()->getParentOp()))
          v = group.getInputs()[arg.getArgNumber()];
      if (auto p = v.getDefiningOp<ParamOp>())
        return p.getName().str() + " " + name;
    }
    if (auto loc = dyn_cast<NameLoc>(op->getLoc()))
      return loc.getName().str() + " " + name;
    return name;
  }

  /// A product of a linear (forward, input or weight gradient): the ones
  /// --precision bf16 rounds. The LM head's stays fp32, as it does fused
  /// with the loss.
  ChainGemmSpec linearProduct(ChainGemmSpec spec) {
    spec.bf16 = options.precision == Precision::Bf16;
    return spec;
  }

  void gemm(ChainGemmSpec spec, Ref a, int64_t lda, Ref b, int64_t ldb, Ref c,
            int64_t ldc, SizeExpr m, SizeExpr n, SizeExpr k, bool zeroC,
            const std::string &label) {
    LaunchBuilder lb;
    lb.pointer(offsetof(ColmGemmArgs, a), a);
    lb.pointer(offsetof(ColmGemmArgs, b), b);
    lb.pointer(offsetof(ColmGemmArgs, c), c);
    lb.integer(offsetof(ColmGemmArgs, m), m);
    lb.integer(offsetof(ColmGemmArgs, n), n);
    lb.integer(offsetof(ColmGemmArgs, k), k);
    lb.integer(offsetof(ColmGemmArgs, lda), lda);
    lb.integer(offsetof(ColmGemmArgs, ldb), ldb);
    lb.integer(offsetof(ColmGemmArgs, ldc), ldc);
    if (zeroC)
      lb.launch.zero.push_back(c.buffer);
    std::string fullLabel = label;
    if (addend) {
      fullLabel += "+add";
      spec.addend = true;
      lb.pointer(offsetof(ColmGemmArgs, r), addend->ref);
      lb.integer(offsetof(ColmGemmArgs, ldr), addend->ld);
      addend.reset();
    }
    if (swiglu) {
      bool backward = swiglu->up.has_value();
      fullLabel += backward ? "+swiglu_grad" : "+swiglu";
      spec.swiglu =
          backward ? SwiGluEpilogue::Backward : SwiGluEpilogue::Forward;
      lb.pointer(offsetof(ColmGemmArgs, g), swiglu->gate);
      if (backward)
        lb.pointer(offsetof(ColmGemmArgs, u), *swiglu->up);
      if (swiglu->second)
        lb.pointer(offsetof(ColmGemmArgs, c2), *swiglu->second);
      lb.integer(offsetof(ColmGemmArgs, lde), swiglu->ld);
      swiglu.reset();
    }
    // Knobs for the final spec (its epilogues decide what may run it).
    if (options.gemmKnobs)
      spec.knobs = options.gemmKnobs(spec);
    double dynamic = double(spec.m < 0 ? atMax(m) : spec.k < 0 ? atMax(k) : 1);
    emit(spec, std::move(lb), sizeof(ColmGemmArgs), fullLabel,
         2 * spec.multiplyAddsPerRow() * dynamic);
  }

  /// The forward product of a chain.linear or chain.dense.
  ChainGemmSpec forwardProduct(Operation *l) {
    auto wt = cast<RankedTensorType>(l->getOperand(1).getType());
    int64_t out = wt.getDimSize(0), inW = wt.getDimSize(1);
    std::vector<int64_t> chains =
        isa<LinearOp>(l) ? ratiosOf(getBlocks(wt)) : std::vector<int64_t>{1};
    return linearProduct(chainLinearForward(chains, inW, out));
  }

  Status lowerGroupedGemm(FusedOp op);

  void copy(const CopySpec &spec, Ref x, Ref y, SizeExpr copyRows,
            const std::string &label) {
    LaunchBuilder lb;
    lb.pointer(offsetof(ColmCopyArgs, x), x);
    lb.pointer(offsetof(ColmCopyArgs, y), y);
    lb.integer(offsetof(ColmCopyArgs, rows), copyRows);
    emit(spec, std::move(lb), sizeof(ColmCopyArgs), label, 0);
  }

  Status lowerOp(Operation *op);
  Status lowerFused(FusedOp op);
  Status lowerParam(ParamOp op);
  Status lowerAttention(AttentionOp op);
  Status lowerDecodingAttention(AttentionOp op, Ref q, Ref k, Ref v);
  Status lowerPagedAttention(AttentionOp op);
  /// The paged cache's inputs for an argument of cached rows.
  Status addPagedArgument(BlockArgument arg, ElementType type,
                          std::vector<SizeExpr> shape);
  Status lowerAttentionGrad(AttentionGradOp op);
  Status lowerLmHead(LmHeadOp op);
  void planBuffers();
  void storeWeightsBf16();

  func::FuncOp func;
  const LoweringOptions &options;
  int64_t rows;
  KernelProgram kp;
  llvm::DenseMap<Value, Ref> values;
  llvm::DenseMap<Value, std::vector<SizeExpr>> shapes;
  std::map<std::string, int> params;
  std::vector<int64_t> firstUse, lastUse;
  Ref positionsRef;
  /// A decoding batch (LoweringOptions::decodePast): each sequence's cached
  /// rows; empty otherwise.
  std::vector<SizeExpr> cached;
  /// Its arguments of cached rows, one input per sequence.
  llvm::DenseMap<Value, std::vector<Ref>> cachedArgs;
  /// A paged cache (LoweringOptions::kvBlockSize): per sequence, its cached
  /// rows, its block table, and each cached argument's pool.
  std::vector<SizeExpr> pagedPast;
  std::vector<Ref> blockTables;
  llvm::DenseMap<Value, std::vector<Ref>> pagedPools;
  /// chain.append of a paged argument and new rows (not materialized).
  struct PagedRows {
    std::vector<Ref> pools;
    Ref rows;
  };
  llvm::DenseMap<Value, PagedRows> pagedValues;
  int nextValue = 0;
  /// Ops already lowered as part of a fused kernel.
  llvm::DenseSet<Operation *> done;
  /// The add epilogue of the next GEMM (a chain.fused gemm_add).
  struct Addend {
    Ref ref;
    int64_t ld;
  };
  std::optional<Addend> addend;
  /// The SwiGLU epilogue of the next GEMM (chain.fused gemm_swiglu: no up;
  /// gemm_swiglu_grad: up and the second output dup).
  struct SwiGluPending {
    Ref gate;
    std::optional<Ref> up, second;
    int64_t ld;
  };
  std::optional<SwiGluPending> swiglu;
  /// The log-sum-exp of each forward attention, for its gradient.
  struct SavedAttention {
    AttentionOp op;
    Ref out, lse;
  };
  std::vector<SavedAttention> attentions;
};

Result<KernelProgram> Lowering::run() {
  if (options.sequences < 1 || options.sequenceLength < 1)
    return Status::error("lowering " + func.getName().str() +
                         ": the batch needs at least one sequence of one "
                         "token");
  kp.program.target = "cpu";
  kp.program.function = func.getName().str();
  kp.program.sizes["sequences"] = options.sequences;
  kp.program.sizes["sequence_length"] = options.sequenceLength;
  for (const auto &[name, max] : options.dynamicSizes) {
    kp.program.variables.push_back(name);
    kp.program.maxSizes.push_back(max);
  }
  if (!options.dynamicSizes.empty() && options.sequences != 1)
    return Status::error("lowering " + func.getName().str() +
                         ": dynamic sizes need a batch of one sequence");
  if (!options.decodePast.empty()) {
    if (options.sequences != 1 ||
        options.sequenceLength !=
            static_cast<int64_t>(options.decodePast.size()))
      return Status::error("lowering " + func.getName().str() +
                           ": a decoding batch is one sequence of one token "
                           "per decoding sequence");
    for (const std::string &name : options.decodePast) {
      int v = kp.program.findVariable(name);
      if (v < 0)
        return Status::error("lowering " + func.getName().str() +
                             ": the decoding batch's size '" + name +
                             "' is not a dynamic size");
      cached.push_back(SizeExpr::variable(v));
    }
  }
  for (BlockArgument arg : func.getArguments()) {
    auto t = dyn_cast<RankedTensorType>(arg.getType());
    unsigned i = arg.getArgNumber();
    bool ids = t && t.getElementType().isInteger(32);
    if (!t || t.getRank() < 1 || (!ids && !t.getElementType().isF32()))
      return Status::error("lowering " + func.getName().str() + ": argument " +
                           std::to_string(i) + " is not an i32 or f32 tensor");
    std::vector<SizeExpr> shape;
    for (int64_t d : t.getShape())
      shape.push_back(d);
    if (t.isDynamicDim(0)) {
      shape[0] = rows;
      if (i < options.argumentSizes.size() &&
          !options.argumentSizes[i].empty()) {
        std::optional<SizeExpr> size = sizeNamed(options.argumentSizes[i]);
        if (!size)
          return Status::error("lowering: argument " + std::to_string(i) +
                               " has the unknown size '" +
                               options.argumentSizes[i] + "'");
        shape[0] = *size;
      }
    }
    shapes[arg] = shape;
    std::string name = "arg" + std::to_string(i);
    ElementType type = ids ? ElementType::I32 : ElementType::F32;
    bool cachedRows =
        i < options.argumentSizes.size() &&
        (cached.empty()
             ? options.argumentSizes[i] == "past"
             : options.argumentSizes[i] == llvm::join(options.decodePast, "+"));
    if (options.kvBlockSize > 0 && cachedRows) {
      COLM_TRY(addPagedArgument(arg, type, shape));
      continue;
    }
    if (!cached.empty() && cachedRows) {
      // A decoding batch's cached rows: one input per sequence.
      std::vector<Ref> &parts = cachedArgs[arg];
      for (size_t q = 0; q < cached.size(); ++q) {
        shape[0] = cached[q];
        parts.push_back({addBuffer(name + ".s" + std::to_string(q),
                                   BufferRole::Input, type, shape),
                         0});
      }
      continue;
    }
    values[arg] = {addBuffer(name, BufferRole::Input, type, shape), 0};
  }
  // The sub-model losses that a chain.weighted_sum adds share one array, so
  // that the sum reads them in order.
  func.walk([&](WeightedSumOp w) {
    Ref losses =
        temporary("losses." + std::to_string(nextValue++), ElementType::F64,
                  {static_cast<int64_t>(w.getInputs().size())});
    for (auto [i, v] : llvm::enumerate(w.getInputs()))
      if (!values.count(v))
        values[v] = {losses.buffer, static_cast<int64_t>(i)};
  });
  for (Operation &op : func.getBody().front()) {
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
        COLM_ASSIGN_OR_RETURN(Ref r, operand(&op, v));
        auto name = func.getResultAttrOfType<StringAttr>(i, "chain.output");
        ProgramBuffer &base = kp.program.buffers[r.buffer];
        if (!base.produced())
          return error(&op, "returning an argument or a parameter is not "
                            "supported");
        std::string outName = name ? name.str() : "result" + std::to_string(i);
        std::vector<SizeExpr> shape = shapeOf(v);
        if (r.element == SizeExpr(0) && base.shape == shape &&
            base.role == BufferRole::Temporary && !base.isView()) {
          base.role = BufferRole::Output;
          base.name = outName;
        } else {
          // A part of a larger buffer: a view, and the whole stays alive.
          int whole = base.isView() ? base.viewOf : r.buffer;
          kp.program.buffers[whole].role = BufferRole::Output;
          int view = addBuffer(outName, BufferRole::Output, base.type, shape);
          kp.program.buffers[view].viewOf = whole;
          kp.program.buffers[view].viewElement = r.element.constant;
        }
      }
      continue;
    }
    if (done.count(&op))
      continue;
    if (Status s = lowerOp(&op); !s)
      return s;
  }
  if (options.bf16Weights && options.precision == Precision::Bf16)
    storeWeightsBf16();
  planBuffers();
  if (Status s = kp.program.validate(); !s)
    return s.withContext("lowering " + func.getName().str());
  return std::move(kp);
}

Status Lowering::lowerParam(ParamOp op) {
  std::string name = op.getName().str();
  std::vector<SizeExpr> shape = shapeOf(op.getResult());
  auto it = params.find(name);
  if (it != params.end()) {
    if (kp.program.buffers[it->second].shape != shape)
      return error(op, "parameter '" + name + "' is used with two shapes");
    values[op.getResult()] = {it->second, 0};
    return Status::ok();
  }
  int b = addBuffer(name, BufferRole::Param, ElementType::F32, shape);
  params[name] = b;
  values[op.getResult()] = {b, 0};
  return Status::ok();
}

Status Lowering::lowerFused(FusedOp op) {
  Block &body = op.getBody().front();
  for (auto [arg, input] : llvm::zip(body.getArguments(), op.getInputs())) {
    COLM_ASSIGN_OR_RETURN(Ref r, operand(op, input));
    values[arg] = r;
    shapes[arg] = shapeOf(input);
  }
  // The group's product, lowered as one GEMM that takes the pending
  // epilogue; its buffer holds the group's first result.
  auto lowerProduct = [&](auto &pending, const char *what) -> Status {
    Operation *product = op.getProduct();
    if (Status s = lowerOp(product); !s) {
      pending.reset();
      return s;
    }
    if (pending) {
      pending.reset();
      return error(op, std::string("the product did not take the ") + what);
    }
    values[op.getResult(0)] = values[product->getResult(0)];
    shapes[op.getResult(0)] = shapeOf(product->getResult(0));
    return Status::ok();
  };
  if (op.getKind() == FusionKind::grouped_gemm ||
      op.getKind() == FusionKind::grouped_gemm_swiglu ||
      op.getKind() == FusionKind::norm_grouped_gemm ||
      op.getKind() == FusionKind::norm_grouped_gemm_swiglu)
    return lowerGroupedGemm(op);
  if (op.getKind() == FusionKind::gemm_add) {
    // One GEMM that adds input #2 as it stores.
    Value r = op.getInputs()[2];
    addend = Addend{values[body.getArgument(2)], shapeOf(r).back().constant};
    return lowerProduct(addend, "addend");
  }
  if (op.getKind() == FusionKind::gemm_swiglu ||
      op.getKind() == FusionKind::gemm_swiglu_grad) {
    // One GEMM whose epilogue reads the gate (and up) and writes the first
    // result in place of the product and the second (the product kept, or
    // dup) beside it.
    Value gate = op.getInputs()[2];
    SwiGluPending pending{values[body.getArgument(2)], std::nullopt,
                          std::nullopt, shapeOf(gate).back().constant};
    if (op.getKind() == FusionKind::gemm_swiglu_grad)
      pending.up = values[body.getArgument(3)];
    if (op.getNumResults() == 2)
      pending.second = result(op.getResult(1));
    swiglu = pending;
    return lowerProduct(swiglu, "SwiGLU epilogue");
  }
  // A group without a kernel of its own: its ops one by one.
  for (Operation &inner : body.without_terminator())
    if (Status s = lowerOp(&inner); !s)
      return s;
  auto yield = cast<YieldOp>(body.getTerminator());
  for (auto [result, v] : llvm::zip(op.getResults(), yield.getValues())) {
    COLM_ASSIGN_OR_RETURN(Ref r, operand(yield, v));
    values[result] = r;
    shapes[result] = shapeOf(v);
  }
  return Status::ok();
}

Status Lowering::lowerGroupedGemm(FusedOp op) {
  Block &body = op.getBody().front();
  bool swigluGroup = op.getKind() == FusionKind::grouped_gemm_swiglu ||
                     op.getKind() == FusionKind::norm_grouped_gemm_swiglu;
  NormOp norm = op.getPrologue();
  unsigned firstWeight = norm ? 2 : 1;
  std::vector<Operation *> products;
  std::vector<ChainGemmSpec> parts;
  std::string label = norm ? labelOf(norm) + "+" : "";
  for (Operation &inner : body.without_terminator())
    if (isa<LinearOp, DenseOp>(inner)) {
      products.push_back(&inner);
      parts.push_back(forwardProduct(&inner));
      label += (products.size() > 1 ? "+" : "") + labelOf(&inner);
    }
  ChainGemmSpec spec = groupGemms(parts);
  if (norm) {
    ChainNormSpec n = chainNorm(ratiosOf(norm.getStatsLayout()), spec.k,
                                norm.getEps().convertToDouble(), false);
    spec.normBounds = n.groupBounds;
    spec.normEps = n.eps;
  }
  // The group's result that yields `v`, if any.
  auto yieldedAs = [&](Value v) -> std::optional<Value> {
    for (auto [r, y] : llvm::zip(
             op.getResults(), cast<YieldOp>(body.getTerminator()).getValues()))
      if (y == v)
        return Value(r);
    return std::nullopt;
  };
  // A RoPE epilogue: the products that a chain.rope in the body rotates.
  RopeOp anyRope;
  std::vector<Value> outputs; // what each product yields
  for (auto [g, p] : llvm::enumerate(products)) {
    outputs.push_back(p->getResult(0));
    for (Operation *user : p->getResult(0).getUsers())
      if (auto rope = dyn_cast<RopeOp>(user)) {
        if (anyRope && (rope.getHeadDim() != anyRope.getHeadDim() ||
                        rope.getTheta() != anyRope.getTheta()))
          return error(op, "the RoPE of a grouped GEMM's products must share "
                           "one head size and theta");
        anyRope = rope;
        spec.ropeProducts |= 1u << g;
        outputs.back() = rope.getResult();
      }
  }
  if (anyRope) {
    spec.ropeHeadDim = static_cast<int64_t>(anyRope.getHeadDim());
    spec.ropeTheta = anyRope.getTheta().convertToDouble();
    label += "+rope";
  }
  // Each product's output: up's C is the SwiGLU (and the up projection,
  // when kept, is the epilogue's second output).
  std::vector<Ref> outs;
  for (Value v : outputs)
    if (std::optional<Value> r = yieldedAs(v))
      outs.push_back(result(*r));
  if (swigluGroup) {
    spec.swiglu = SwiGluEpilogue::Forward;
    label += "+swiglu";
    outs = {result(op.getResult(1)), result(op.getResult(0))};
  }
  if (outs.size() != products.size())
    return error(op, "a grouped GEMM must yield every product");
  if (options.gemmKnobs)
    spec.knobs = options.gemmKnobs(spec);
  if (Status s = validateChainGemm(spec); !s)
    return error(op, s.message());
  LaunchBuilder lb;
  lb.pointer(offsetof(ColmGemmArgs, a), values[body.getArgument(0)]);
  if (anyRope)
    lb.pointer(offsetof(ColmGemmArgs, positions),
               anyRope.getPositions() ? values[anyRope.getPositions()]
                                      : positions());
  if (norm) {
    lb.pointer(offsetof(ColmGemmArgs, gain), values[body.getArgument(1)]);
    if (std::optional<Value> kept = yieldedAs(norm.getResult()))
      lb.pointer(offsetof(ColmGemmArgs, an), result(*kept));
  }
  lb.integer(offsetof(ColmGemmArgs, m), rowsOf(op.getInputs()[0]));
  lb.integer(offsetof(ColmGemmArgs, n), spec.n);
  lb.integer(offsetof(ColmGemmArgs, k), spec.k);
  lb.integer(offsetof(ColmGemmArgs, lda), spec.k);
  for (size_t g = 0; g < parts.size(); ++g) {
    Ref w = values[body.getArgument(g + firstWeight)];
    if (g == 0) {
      lb.pointer(offsetof(ColmGemmArgs, b), w);
      lb.pointer(offsetof(ColmGemmArgs, c), outs[g]);
      lb.integer(offsetof(ColmGemmArgs, ldb), spec.k);
      lb.integer(offsetof(ColmGemmArgs, ldc), parts[g].n);
      continue;
    }
    lb.pointer(offsetof(ColmGemmArgs, gb) + (g - 1) * sizeof(float *), w);
    lb.pointer(offsetof(ColmGemmArgs, gc) + (g - 1) * sizeof(float *), outs[g]);
    lb.integer(offsetof(ColmGemmArgs, gldb) + (g - 1) * sizeof(int64_t),
               spec.k);
    lb.integer(offsetof(ColmGemmArgs, gldc) + (g - 1) * sizeof(int64_t),
               parts[g].n);
  }
  if (swigluGroup) {
    lb.pointer(offsetof(ColmGemmArgs, g), outs[0]);
    if (std::optional<Value> up = yieldedAs(products[1]->getResult(0)))
      lb.pointer(offsetof(ColmGemmArgs, c2), result(*up));
    lb.integer(offsetof(ColmGemmArgs, lde), parts[0].n);
  }
  emit(spec, std::move(lb), sizeof(ColmGemmArgs), label,
       2 * spec.multiplyAddsPerRow() *
           double(atMax(rowsOf(op.getInputs()[0]))));
  return Status::ok();
}

Status Lowering::lowerOp(Operation *op) {
  std::string label = labelOf(op);
  auto in = [&](Value v) { return operand(op, v); };
  return llvm::TypeSwitch<Operation *, Status>(op)
      .Case([&](ParamOp p) { return lowerParam(p); })
      .Case([&](FusedOp f) { return lowerFused(f); })
      .Case([&](EmbedOp e) -> Status {
        COLM_ASSIGN_OR_RETURN(Ref table, in(e.getTable()));
        COLM_ASSIGN_OR_RETURN(Ref tokens, in(e.getTokens()));
        auto tableType = cast<RankedTensorType>(e.getTable().getType());
        EmbedSpec spec;
        spec.vocab = tableType.getDimSize(0);
        spec.width = tableType.getDimSize(1);
        spec.backward = false;
        LaunchBuilder lb;
        lb.pointer(offsetof(ColmEmbedArgs, table), table);
        lb.pointer(offsetof(ColmEmbedArgs, tokens), tokens);
        lb.pointer(offsetof(ColmEmbedArgs, y), result(e.getResult()));
        lb.integer(offsetof(ColmEmbedArgs, rows), rowsOf(e.getResult()));
        emit(spec, std::move(lb), sizeof(ColmEmbedArgs), label, 0);
        return Status::ok();
      })
      .Case([&](EmbedGradOp g) -> Status {
        COLM_ASSIGN_OR_RETURN(Ref dy, in(g.getDy()));
        COLM_ASSIGN_OR_RETURN(Ref tokens, in(g.getTokens()));
        std::vector<SizeExpr> shape = shapeOf(g.getResult());
        EmbedSpec spec;
        spec.vocab = shape[0].constant;
        spec.width = shape[1].constant;
        spec.backward = true;
        if (auto from = g.getFromChain(); from && *from > 1)
          if (LayoutAttr layout = getLayout(g.getType()))
            spec.dBegin = layout.prefixWidth(
                spec.width, std::min<unsigned>(*from - 1, layout.numChains()));
        LaunchBuilder lb;
        lb.pointer(offsetof(ColmEmbedArgs, tokens), tokens);
        lb.pointer(offsetof(ColmEmbedArgs, dy), dy);
        lb.pointer(offsetof(ColmEmbedArgs, dtable), result(g.getResult()));
        lb.integer(offsetof(ColmEmbedArgs, rows), rowsOf(g.getDy()));
        emit(spec, std::move(lb), sizeof(ColmEmbedArgs), label, 0);
        return Status::ok();
      })
      .Case([&](NormOp n) -> Status {
        COLM_ASSIGN_OR_RETURN(Ref x, in(n.getX()));
        COLM_ASSIGN_OR_RETURN(Ref gain, in(n.getGain()));
        int64_t width = lastDim(n.getX().getType());
        ChainNormSpec spec = chainNorm(ratiosOf(n.getStatsLayout()), width,
                                       n.getEps().convertToDouble(), false);
        LaunchBuilder lb;
        lb.pointer(offsetof(ColmNormArgs, x), x);
        lb.pointer(offsetof(ColmNormArgs, gain), gain);
        lb.pointer(offsetof(ColmNormArgs, y), result(n.getResult()));
        lb.integer(offsetof(ColmNormArgs, rows), rowsOf(n.getX()));
        emit(spec, std::move(lb), sizeof(ColmNormArgs), label, 0);
        return Status::ok();
      })
      .Case([&](NormGradOp n) -> Status {
        COLM_ASSIGN_OR_RETURN(Ref x, in(n.getX()));
        COLM_ASSIGN_OR_RETURN(Ref gain, in(n.getGain()));
        COLM_ASSIGN_OR_RETURN(Ref dy, in(n.getDy()));
        int64_t width = lastDim(n.getX().getType());
        auto from = n.getFromChain();
        ChainNormSpec spec = chainNorm(
            ratiosOf(n.getStatsLayout()), width, n.getEps().convertToDouble(),
            true, ratiosOf(getLayout(n.getGain().getType())),
            from ? static_cast<unsigned>(*from) : 0);
        LaunchBuilder lb;
        lb.pointer(offsetof(ColmNormArgs, x), x);
        lb.pointer(offsetof(ColmNormArgs, gain), gain);
        lb.pointer(offsetof(ColmNormArgs, dy), dy);
        lb.pointer(offsetof(ColmNormArgs, dx), result(n.getDx()));
        lb.pointer(offsetof(ColmNormArgs, dgain), result(n.getDgain()));
        lb.integer(offsetof(ColmNormArgs, rows), rowsOf(n.getX()));
        emit(spec, std::move(lb), sizeof(ColmNormArgs), label, 0);
        return Status::ok();
      })
      .Case<AddOp, MulOp>([&](Operation *e) -> Status {
        COLM_ASSIGN_OR_RETURN(Ref a, in(e->getOperand(0)));
        COLM_ASSIGN_OR_RETURN(Ref b, in(e->getOperand(1)));
        auto type = cast<RankedTensorType>(e->getResult(0).getType());
        if (type.getRank() == 0)
          return error(e, "scalar arithmetic is not supported");
        ElementwiseSpec spec;
        spec.op =
            isa<AddOp>(e) ? ElementwiseSpec::Op::Add : ElementwiseSpec::Op::Mul;
        spec.width = lastDim(type);
        LaunchBuilder lb;
        lb.pointer(offsetof(ColmElementwiseArgs, a), a);
        lb.pointer(offsetof(ColmElementwiseArgs, b), b);
        lb.pointer(offsetof(ColmElementwiseArgs, y), result(e->getResult(0)));
        lb.integer(offsetof(ColmElementwiseArgs, rows),
                   rowsOf(e->getResult(0)));
        emit(spec, std::move(lb), sizeof(ColmElementwiseArgs), label, 0);
        return Status::ok();
      })
      .Case([&](SwigluOp s) -> Status {
        COLM_ASSIGN_OR_RETURN(Ref gate, in(s.getOperand(0)));
        COLM_ASSIGN_OR_RETURN(Ref up, in(s.getOperand(1)));
        SwiGluSpec spec;
        spec.width = lastDim(s.getType());
        LaunchBuilder lb;
        lb.pointer(offsetof(ColmSwiGluArgs, gate), gate);
        lb.pointer(offsetof(ColmSwiGluArgs, up), up);
        lb.pointer(offsetof(ColmSwiGluArgs, y), result(s.getResult()));
        lb.integer(offsetof(ColmSwiGluArgs, rows), rowsOf(s.getResult()));
        emit(spec, std::move(lb), sizeof(ColmSwiGluArgs), label, 0);
        return Status::ok();
      })
      .Case([&](SwigluGradOp s) -> Status {
        COLM_ASSIGN_OR_RETURN(Ref gate, in(s.getGate()));
        COLM_ASSIGN_OR_RETURN(Ref up, in(s.getUp()));
        COLM_ASSIGN_OR_RETURN(Ref dy, in(s.getDy()));
        SwiGluSpec spec;
        spec.width = lastDim(s.getGate().getType());
        spec.backward = true;
        LaunchBuilder lb;
        lb.pointer(offsetof(ColmSwiGluArgs, gate), gate);
        lb.pointer(offsetof(ColmSwiGluArgs, up), up);
        lb.pointer(offsetof(ColmSwiGluArgs, dy), dy);
        lb.pointer(offsetof(ColmSwiGluArgs, dgate), result(s.getDgate()));
        lb.pointer(offsetof(ColmSwiGluArgs, dup), result(s.getDup()));
        lb.integer(offsetof(ColmSwiGluArgs, rows), rowsOf(s.getGate()));
        emit(spec, std::move(lb), sizeof(ColmSwiGluArgs), label, 0);
        return Status::ok();
      })
      .Case<LinearOp, DenseOp>([&](Operation *l) -> Status {
        Value xv = l->getOperand(0), wv = l->getOperand(1);
        COLM_ASSIGN_OR_RETURN(Ref x, in(xv));
        COLM_ASSIGN_OR_RETURN(Ref w, in(wv));
        ChainGemmSpec spec = forwardProduct(l);
        gemm(spec, x, spec.k, w, spec.k, result(l->getResult(0)), spec.n,
             rowsOf(xv), spec.n, spec.k, false, label);
        return Status::ok();
      })
      .Case<LinearGradXOp, DenseGradXOp>([&](Operation *l) -> Status {
        Value dyv = l->getOperand(0), wv = l->getOperand(1);
        COLM_ASSIGN_OR_RETURN(Ref dy, in(dyv));
        COLM_ASSIGN_OR_RETURN(Ref w, in(wv));
        auto wt = cast<RankedTensorType>(wv.getType());
        int64_t out = wt.getDimSize(0), inW = wt.getDimSize(1);
        std::vector<int64_t> chains = isa<LinearGradXOp>(l)
                                          ? ratiosOf(getBlocks(wt))
                                          : std::vector<int64_t>{1};
        gemm(linearProduct(chainLinearInputGrad(chains, inW, out)), dy, out, w,
             inW, result(l->getResult(0)), inW, rowsOf(dyv), inW, out, false,
             label);
        return Status::ok();
      })
      .Case<LinearGradWOp, DenseGradWOp>([&](Operation *l) -> Status {
        Value dyv = l->getOperand(0), xv = l->getOperand(1);
        COLM_ASSIGN_OR_RETURN(Ref dy, in(dyv));
        COLM_ASSIGN_OR_RETURN(Ref x, in(xv));
        auto rt = cast<RankedTensorType>(l->getResult(0).getType());
        int64_t out = rt.getDimSize(0), inW = rt.getDimSize(1);
        std::vector<int64_t> chains{1};
        unsigned from = 1;
        if (auto g = dyn_cast<LinearGradWOp>(l)) {
          chains = ratiosOf(getBlocks(rt));
          if (auto f = g.getFromChain())
            from = static_cast<unsigned>(*f);
        }
        gemm(linearProduct(chainLinearWeightGrad(chains, inW, out, from)), dy,
             out, x, inW, result(l->getResult(0)), inW, out, inW, rowsOf(dyv),
             true, label);
        return Status::ok();
      })
      .Case([&](LmHeadOp h) { return lowerLmHead(h); })
      .Case([&](RopeOp r) -> Status {
        COLM_ASSIGN_OR_RETURN(Ref x, in(r.getX()));
        Ref pos;
        if (r.getPositions()) {
          COLM_ASSIGN_OR_RETURN(pos, in(r.getPositions()));
        } else {
          pos = positions();
        }
        RopeSpec spec;
        spec.width = lastDim(r.getType());
        spec.headDim = r.getHeadDim();
        spec.theta = r.getTheta().convertToDouble();
        spec.inverse = r.getInverse();
        LaunchBuilder lb;
        lb.pointer(offsetof(ColmRopeArgs, x), x);
        lb.pointer(offsetof(ColmRopeArgs, positions), pos);
        lb.pointer(offsetof(ColmRopeArgs, y), result(r.getResult()));
        lb.integer(offsetof(ColmRopeArgs, rows), rowsOf(r.getX()));
        emit(spec, std::move(lb), sizeof(ColmRopeArgs), label, 0);
        return Status::ok();
      })
      .Case([&](AttentionOp a) { return lowerAttention(a); })
      .Case([&](AttentionGradOp a) { return lowerAttentionGrad(a); })
      .Case([&](AppendOp a) -> Status {
        COLM_ASSIGN_OR_RETURN(Ref more, in(a.getRows()));
        if (auto pools = pagedPools.find(a.getPast());
            pools != pagedPools.end()) {
          // Read in place by the paged attention.
          pagedValues[a.getResult()] = {pools->second, more};
          return Status::ok();
        }
        int64_t w = lastDim(a.getType());
        CopySpec spec;
        spec.width = w;
        spec.srcStride = w;
        spec.dstStride = w;
        Ref y = result(a.getResult());
        if (!cached.empty()) {
          // Sequence after sequence: its cached rows, then its new one.
          auto parts = cachedArgs.find(a.getPast());
          if (parts == cachedArgs.end())
            return error(a, "in a decoding batch, chain.append needs cached "
                            "rows that are an argument");
          SizeExpr before = 0; // the cached rows of the sequences before
          for (size_t s = 0; s < cached.size(); ++s) {
            int64_t row = static_cast<int64_t>(s);
            Ref from = parts->second[s], to = y;
            to.element = y.element + (before + row) * w;
            copy(spec, from, to, cached[s], label);
            from = more;
            from.element = more.element + row * w;
            to.element = y.element + (before + cached[s] + row) * w;
            copy(spec, from, to, 1, label);
            before = before + cached[s];
          }
          return Status::ok();
        }
        COLM_ASSIGN_OR_RETURN(Ref past, in(a.getPast()));
        copy(spec, past, y, rowsOf(a.getPast()), label);
        Ref tail = y;
        tail.element = y.element + rowsOf(a.getPast()) * w;
        copy(spec, more, tail, rowsOf(a.getRows()), label);
        return Status::ok();
      })
      .Case([&](PrefixOp p) -> Status {
        COLM_ASSIGN_OR_RETURN(Ref x, in(p.getX()));
        int64_t width = lastDim(p.getX().getType()),
                keep = lastDim(p.getType());
        CopySpec spec;
        spec.width = keep;
        spec.srcStride = width;
        spec.dstStride = keep;
        copy(spec, x, result(p.getResult()), rowsOf(p.getX()), label);
        return Status::ok();
      })
      .Case([&](ExtendOp e) -> Status {
        COLM_ASSIGN_OR_RETURN(Ref x, in(e.getX()));
        int64_t w = lastDim(e.getX().getType()), width = lastDim(e.getType());
        CopySpec spec;
        spec.width = w;
        spec.srcStride = w;
        spec.dstStride = width;
        spec.zeroRest = true;
        copy(spec, x, result(e.getResult()), rowsOf(e.getX()), label);
        return Status::ok();
      })
      .Case([&](ConcatOp c) -> Status {
        Ref y = result(c.getResult());
        int64_t width = lastDim(c.getType()), offset = 0;
        for (Value v : c.getInputs()) {
          COLM_ASSIGN_OR_RETURN(Ref x, in(v));
          int64_t w = lastDim(v.getType());
          CopySpec spec;
          spec.width = w;
          spec.srcStride = w;
          spec.dstStride = width;
          spec.dstOffset = offset;
          copy(spec, x, y, rowsOf(v), label);
          offset += w;
        }
        return Status::ok();
      })
      .Case([&](WeightBlockOp b) -> Status {
        COLM_ASSIGN_OR_RETURN(Ref w, in(b.getWeight()));
        auto wt = cast<RankedTensorType>(b.getWeight().getType());
        BlocksAttr blocks = getBlocks(wt);
        unsigned i = b.getOutChain();
        int64_t r0 = blocks.chainBegin(wt.getDimSize(0), i),
                r1 = blocks.chainEnd(wt.getDimSize(0), i),
                cols = blocks.prefixWidth(wt.getDimSize(1), i);
        CopySpec spec;
        spec.width = cols;
        spec.srcStride = wt.getDimSize(1);
        spec.dstStride = cols;
        copy(spec, {w.buffer, w.element + SizeExpr(r0 * wt.getDimSize(1))},
             result(b.getResult()), r1 - r0, label);
        return Status::ok();
      })
      .Case([&](WeightedSumOp w) -> Status {
        COLM_ASSIGN_OR_RETURN(Ref first, in(w.getInputs()[0]));
        for (auto [i, v] : llvm::enumerate(w.getInputs())) {
          COLM_ASSIGN_OR_RETURN(Ref r, in(v));
          if (r.buffer != first.buffer ||
              !(r.element == first.element + SizeExpr(static_cast<int64_t>(i))))
            return error(w, "the inputs must be distinct losses that "
                            "nothing else sums");
        }
        WeightedSumSpec spec;
        for (Attribute a : w.getWeights())
          spec.weights.push_back(cast<FloatAttr>(a).getValueAsDouble());
        LaunchBuilder lb;
        lb.pointer(offsetof(ColmWeightedSumArgs, inputs), first);
        lb.pointer(offsetof(ColmWeightedSumArgs, outDouble),
                   result(w.getResult()));
        emit(spec, std::move(lb), sizeof(ColmWeightedSumArgs), label, 0);
        return Status::ok();
      })
      .Case([&](CrossEntropyOp c) -> Status {
        return error(c, "the cpu backend computes cross-entropy only fused "
                        "with the chain.lm_head that makes its logits");
      })
      .Default([&](Operation *other) -> Status {
        return error(other, "not supported by the kernel lowering yet");
      });
}

/// The forward kernel of chain.attention `a`.
AttentionSpec forwardAttention(AttentionOp a) {
  AttentionSpec spec;
  spec.numHeads = a.getNumHeads();
  spec.numKvHeads = a.getNumKvHeads();
  spec.headDim = a.getHeadDim();
  spec.mapping =
      a.getKvMapping() == KvMapping::tiled ? KvMap::Tiled : KvMap::Grouped;
  return spec;
}

Status Lowering::addPagedArgument(BlockArgument arg, ElementType type,
                                  std::vector<SizeExpr> shape) {
  if (type != ElementType::F32 || shape.size() != 2 ||
      options.kvCacheWidth < shape[1].constant)
    return Status::error("lowering " + func.getName().str() + ": argument " +
                         std::to_string(arg.getArgNumber()) +
                         " of cached rows is not [rows, width <= the paged "
                         "cache's width] f32");
  int64_t n = cached.empty() ? 1 : int64_t(cached.size());
  if (pagedPast.empty()) {
    for (int64_t s = 0; s < n; ++s) {
      std::string suffix = cached.empty() ? "" : std::to_string(s);
      std::optional<SizeExpr> blocks = sizeNamed("cache_blocks" + suffix);
      std::optional<SizeExpr> past =
          cached.empty() ? sizeNamed("past") : std::optional(cached[s]);
      if (!blocks || !past || !sizeNamed("cache_rows" + suffix))
        return Status::error("lowering " + func.getName().str() +
                             ": a paged cache needs the dynamic sizes past, "
                             "cache_rows and cache_blocks (per sequence)");
      std::string name =
          cached.empty() ? "blocks" : "blocks.s" + std::to_string(s);
      blockTables.push_back(
          {addBuffer(name, BufferRole::Input, ElementType::I32, {*blocks}), 0});
      pagedPast.push_back(*past);
    }
  }
  std::vector<Ref> &pools = pagedPools[arg];
  for (int64_t s = 0; s < n; ++s) {
    std::string suffix = cached.empty() ? "" : std::to_string(s);
    std::string name = "arg" + std::to_string(arg.getArgNumber()) +
                       (cached.empty() ? "" : ".s" + std::to_string(s));
    pools.push_back({addBuffer(name, BufferRole::Input, type,
                               {*sizeNamed("cache_rows" + suffix),
                                SizeExpr(options.kvCacheWidth)}),
                     0});
  }
  return Status::ok();
}

/// Attention over a paged cache: one launch per sequence, its queries
/// against its cached positions (through its block table) and then its new
/// rows.
Status Lowering::lowerPagedAttention(AttentionOp a) {
  auto k = pagedValues.find(a.getK()), v = pagedValues.find(a.getV());
  if (v == pagedValues.end())
    return error(a, "attention over a paged cache needs keys and values that "
                    "both append to it");
  COLM_ASSIGN_OR_RETURN(Ref q, operand(a, a.getQ()));
  AttentionSpec spec = forwardAttention(a);
  spec.pass = AttentionPass::Paged;
  int64_t ldq = lastDim(a.getQ().getType()), ldk = lastDim(a.getK().getType());
  int64_t n = int64_t(pagedPast.size());
  bool batch = !cached.empty();
  SizeExpr tq = batch ? SizeExpr(1) : rowsOf(a.getQ());
  if (batch && !(rowsOf(a.getQ()) == SizeExpr(n)))
    return error(a, "in a decoding batch, attention needs one query per "
                    "sequence");
  Ref out = result(a.getResult());
  Ref lse = temporary("lse." + std::to_string(nextValue++), ElementType::F32,
                      {n, spec.numHeads, tq});
  std::string label = labelOf(a);
  for (int64_t s = 0; s < n; ++s) {
    SizeExpr row = batch ? SizeExpr(s) : SizeExpr(0);
    LaunchBuilder lb;
    lb.pointer(offsetof(ColmPagedAttentionArgs, q), q, row * ldq);
    lb.pointer(offsetof(ColmPagedAttentionArgs, k), k->second.rows, row * ldk);
    lb.pointer(offsetof(ColmPagedAttentionArgs, v), v->second.rows, row * ldk);
    lb.pointer(offsetof(ColmPagedAttentionArgs, k_cache), k->second.pools[s]);
    lb.pointer(offsetof(ColmPagedAttentionArgs, v_cache), v->second.pools[s]);
    lb.pointer(offsetof(ColmPagedAttentionArgs, blocks), blockTables[s]);
    lb.pointer(offsetof(ColmPagedAttentionArgs, out), out, row * ldq);
    lb.pointer(offsetof(ColmPagedAttentionArgs, lse), lse,
               tq * (s * spec.numHeads));
    lb.integer(offsetof(ColmPagedAttentionArgs, tq), tq);
    lb.integer(offsetof(ColmPagedAttentionArgs, past), pagedPast[s]);
    lb.integer(offsetof(ColmPagedAttentionArgs, ldq), ldq);
    lb.integer(offsetof(ColmPagedAttentionArgs, ldk), ldk);
    lb.integer(offsetof(ColmPagedAttentionArgs, ld_cache),
               options.kvCacheWidth);
    lb.integer(offsetof(ColmPagedAttentionArgs, block_size),
               options.kvBlockSize);
    // A score and a weighted sum per query, key and head.
    double t = double(atMax(tq)), keys = double(atMax(pagedPast[s])) + t;
    double flops = 4.0 * spec.numHeads * spec.headDim * t * keys;
    emit(spec, std::move(lb), sizeof(ColmPagedAttentionArgs), label, flops);
  }
  return Status::ok();
}

Status Lowering::lowerAttention(AttentionOp a) {
  if (pagedValues.count(a.getK()))
    return lowerPagedAttention(a);
  COLM_ASSIGN_OR_RETURN(Ref q, operand(a, a.getQ()));
  COLM_ASSIGN_OR_RETURN(Ref k, operand(a, a.getK()));
  COLM_ASSIGN_OR_RETURN(Ref v, operand(a, a.getV()));
  SizeExpr tq = rowsOf(a.getQ()), tk = rowsOf(a.getK());
  bool batched = options.sequences > 1;
  if (batched && (!(tq == SizeExpr(rows)) || !(tk == SizeExpr(rows))))
    return error(a, "attention over a key/value cache needs a batch of one "
                    "sequence");
  if (!cached.empty())
    return lowerDecodingAttention(a, q, k, v);
  AttentionSpec spec = forwardAttention(a);
  int64_t ldq = lastDim(a.getQ().getType()), ldk = lastDim(a.getK().getType());
  // A batch of equal sequences: one launch each; else tq and tk as given.
  SizeExpr T = batched ? SizeExpr(options.sequenceLength) : tq;
  SizeExpr TK = batched ? SizeExpr(options.sequenceLength) : tk;
  Ref out = result(a.getResult());
  Ref lse = temporary("lse." + std::to_string(nextValue++), ElementType::F32,
                      {options.sequences, spec.numHeads, T});
  std::string label = labelOf(a);
  // One launch per sequence: attention stays within it.
  for (int64_t s = 0; s < options.sequences; ++s) {
    LaunchBuilder lb;
    lb.pointer(offsetof(ColmAttentionArgs, q), q, T * (s * ldq));
    lb.pointer(offsetof(ColmAttentionArgs, k), k, TK * (s * ldk));
    lb.pointer(offsetof(ColmAttentionArgs, v), v, TK * (s * ldk));
    lb.pointer(offsetof(ColmAttentionArgs, out), out, T * (s * ldq));
    lb.pointer(offsetof(ColmAttentionArgs, lse), lse, T * (s * spec.numHeads));
    lb.integer(offsetof(ColmAttentionArgs, tq), T);
    lb.integer(offsetof(ColmAttentionArgs, tk), TK);
    lb.integer(offsetof(ColmAttentionArgs, ldq), ldq);
    lb.integer(offsetof(ColmAttentionArgs, ldk), ldk);
    // Scores and the weighted sum: 2 x T(T+1)/2 x head_dim per head.
    double t = double(atMax(T));
    double flops = 2.0 * spec.numHeads * spec.headDim * t * (t + 1);
    emit(spec, std::move(lb), sizeof(ColmAttentionArgs), label, flops);
  }
  attentions.push_back({a, out, lse});
  return Status::ok();
}

/// Decoding batch: sequence s's query (row s) attends its cached rows and
/// its new one, which chain.append packed sequence after sequence.
Status Lowering::lowerDecodingAttention(AttentionOp a, Ref q, Ref k, Ref v) {
  SizeExpr all = 0;
  for (const SizeExpr &c : cached)
    all = all + c;
  int64_t n = static_cast<int64_t>(cached.size());
  if (!(rowsOf(a.getQ()) == SizeExpr(n)) || !(rowsOf(a.getK()) == all + n) ||
      !(rowsOf(a.getV()) == all + n))
    return error(a, "in a decoding batch, attention needs one query per "
                    "sequence and keys and values that chain.append packed");
  AttentionSpec spec = forwardAttention(a);
  int64_t ldq = lastDim(a.getQ().getType()), ldk = lastDim(a.getK().getType());
  Ref out = result(a.getResult());
  Ref lse = temporary("lse." + std::to_string(nextValue++), ElementType::F32,
                      {n, spec.numHeads});
  std::string label = labelOf(a);
  SizeExpr before = 0;
  for (int64_t s = 0; s < n; ++s) {
    SizeExpr keys = cached[s] + 1;
    LaunchBuilder lb;
    lb.pointer(offsetof(ColmAttentionArgs, q), q, s * ldq);
    lb.pointer(offsetof(ColmAttentionArgs, k), k, (before + s) * ldk);
    lb.pointer(offsetof(ColmAttentionArgs, v), v, (before + s) * ldk);
    lb.pointer(offsetof(ColmAttentionArgs, out), out, s * ldq);
    lb.pointer(offsetof(ColmAttentionArgs, lse), lse, s * spec.numHeads);
    lb.integer(offsetof(ColmAttentionArgs, tq), 1);
    lb.integer(offsetof(ColmAttentionArgs, tk), keys);
    lb.integer(offsetof(ColmAttentionArgs, ldq), ldq);
    lb.integer(offsetof(ColmAttentionArgs, ldk), ldk);
    // A score and a weighted sum per key and head.
    double flops = 4.0 * spec.numHeads * spec.headDim * double(atMax(keys));
    emit(spec, std::move(lb), sizeof(ColmAttentionArgs), label, flops);
    before = before + cached[s];
  }
  attentions.push_back({a, out, lse});
  return Status::ok();
}

Status Lowering::lowerAttentionGrad(AttentionGradOp g) {
  COLM_ASSIGN_OR_RETURN(Ref q, operand(g, g.getQ()));
  COLM_ASSIGN_OR_RETURN(Ref k, operand(g, g.getK()));
  COLM_ASSIGN_OR_RETURN(Ref v, operand(g, g.getV()));
  COLM_ASSIGN_OR_RETURN(Ref dout, operand(g, g.getDout()));
  SavedAttention *saved = nullptr;
  for (SavedAttention &s : attentions)
    if (s.op.getQ() == g.getQ() && s.op.getK() == g.getK() &&
        s.op.getV() == g.getV() && s.op.getHeadDim() == g.getHeadDim() &&
        s.op.getKvMapping() == g.getKvMapping())
      saved = &s;
  if (!saved)
    return error(g, "the kernel lowering needs the forward chain.attention "
                    "of the same q, k and v (its log-sum-exp)");
  AttentionSpec spec;
  spec.pass = AttentionPass::Backward;
  spec.numHeads = lastDim(g.getQ().getType()) / g.getHeadDim();
  spec.numKvHeads = lastDim(g.getK().getType()) / g.getHeadDim();
  spec.headDim = g.getHeadDim();
  spec.mapping =
      g.getKvMapping() == KvMapping::tiled ? KvMap::Tiled : KvMap::Grouped;
  if (options.sequences == 1 && !(rowsOf(g.getQ()) == rowsOf(g.getK())))
    return error(g, "the gradient of attention over a cache is not supported");
  SizeExpr T = options.sequences > 1 ? SizeExpr(options.sequenceLength)
                                     : rowsOf(g.getQ());
  int64_t ldq = lastDim(g.getQ().getType()), ldk = lastDim(g.getK().getType());
  Ref dq = result(g.getDq()), dk = result(g.getDk()), dv = result(g.getDv());
  std::string label = labelOf(g);
  for (int64_t s = 0; s < options.sequences; ++s) {
    LaunchBuilder lb;
    lb.pointer(offsetof(ColmAttentionGradArgs, q), q, T * (s * ldq));
    lb.pointer(offsetof(ColmAttentionGradArgs, k), k, T * (s * ldk));
    lb.pointer(offsetof(ColmAttentionGradArgs, v), v, T * (s * ldk));
    lb.pointer(offsetof(ColmAttentionGradArgs, out), saved->out, T * (s * ldq));
    lb.pointer(offsetof(ColmAttentionGradArgs, dout), dout, T * (s * ldq));
    lb.pointer(offsetof(ColmAttentionGradArgs, lse), saved->lse,
               T * (s * spec.numHeads));
    lb.pointer(offsetof(ColmAttentionGradArgs, dq), dq, T * (s * ldq));
    lb.pointer(offsetof(ColmAttentionGradArgs, dk), dk, T * (s * ldk));
    lb.pointer(offsetof(ColmAttentionGradArgs, dv), dv, T * (s * ldk));
    lb.integer(offsetof(ColmAttentionGradArgs, tq), T);
    lb.integer(offsetof(ColmAttentionGradArgs, tk), T);
    lb.integer(offsetof(ColmAttentionGradArgs, ldq), ldq);
    lb.integer(offsetof(ColmAttentionGradArgs, ldk), ldk);
    double t = double(atMax(T));
    double flops = 2.0 * 2.5 * spec.numHeads * spec.headDim * t * (t + 1);
    emit(spec, std::move(lb), sizeof(ColmAttentionGradArgs), label, flops);
  }
  return Status::ok();
}

/// The LM head and the cross-entropy of its logits (with their gradients)
/// as one kernel, when that is all the logits are used for; otherwise the
/// logits as a GEMM.
Status Lowering::lowerLmHead(LmHeadOp h) {
  COLM_ASSIGN_OR_RETURN(Ref x, operand(h, h.getX()));
  COLM_ASSIGN_OR_RETURN(Ref w, operand(h, h.getWeight()));
  auto wt = cast<RankedTensorType>(h.getWeight().getType());
  int64_t vocab = wt.getDimSize(0), width = wt.getDimSize(1);
  LayoutAttr layout = getLayout(h.getX().getType());
  int64_t used =
      layout ? layout.prefixWidth(width, h.getNumHeadChains()) : width;
  std::string label = labelOf(h);

  std::vector<CrossEntropyOp> losses;
  CrossEntropyGradOp grad;
  bool fusable = true;
  for (Operation *user : h.getResult().getUsers()) {
    if (auto c = dyn_cast<CrossEntropyOp>(user))
      losses.push_back(c);
    else if (auto g = dyn_cast<CrossEntropyGradOp>(user); g && !grad)
      grad = g;
    else
      fusable = false;
  }
  Value targets = !losses.empty() ? losses[0].getTargets()
                  : grad          ? grad.getTargets()
                                  : Value();
  for (CrossEntropyOp c : losses)
    fusable &= c.getTargets() == targets;
  LmHeadGradXOp gradX;
  LmHeadGradWOp gradW;
  if (grad) {
    fusable &= grad.getTargets() == targets;
    for (Operation *user : grad.getResult().getUsers()) {
      if (auto gx = dyn_cast<LmHeadGradXOp>(user);
          gx && !gradX && gx.getWeight() == h.getWeight() &&
          gx.getChains() == h.getChains())
        gradX = gx;
      else if (auto gw = dyn_cast<LmHeadGradWOp>(user);
               gw && !gradW && gw.getX() == h.getX() &&
               gw.getChains() == h.getChains())
        gradW = gw;
      else
        fusable = false;
    }
  }
  if (losses.empty() || !fusable) {
    gemm(denseGemm(vocab, used, true), x, width, w, width,
         result(h.getResult()), vocab, rowsOf(h.getX()), vocab, used, false,
         label);
    return Status::ok();
  }
  COLM_ASSIGN_OR_RETURN(Ref tg, operand(h, targets));
  SizeExpr n = rowsOf(h.getX());
  // With a gradient the kernel writes both dX and dW: scratch for the one
  // the graph does not use. Without, the loss alone.
  bool gradients = grad != nullptr;
  Ref dx, dw;
  if (gradients)
    dx = gradX ? result(gradX.getResult())
               : temporary("dx.scratch." + std::to_string(nextValue++),
                           ElementType::F32, {n, used});
  int64_t lddx = gradX ? width : used;
  if (gradients)
    dw = gradW ? result(gradW.getResult())
               : temporary("dw.scratch." + std::to_string(nextValue++),
                           ElementType::F32, {vocab, used});
  int64_t lddw = gradW ? width : used;
  Ref workspace = temporary("xent.workspace." + std::to_string(nextValue++),
                            ElementType::F64, {n * 3});
  Ref loss = result(losses[0].getResult());
  CrossEntropySpec spec;
  spec.vocab = vocab;
  spec.width = used;
  spec.chunkRows = options.crossEntropyChunkRows;
  spec.gradients = gradients;
  // Zeroed first: the columns the kernel does not write hold 0, as the
  // interpreter's do.
  spec.accumulate = true;
  if (gradW)
    if (auto from = gradW.getFromChain(); from && *from > 1 && layout)
      spec.dwBegin = std::min(
          used, layout.prefixWidth(
                    width, std::min<unsigned>(*from - 1, layout.numChains())));
  double scale = grad ? grad.getScale().convertToDouble() : 1.0;
  for (CrossEntropyPhase phase :
       {CrossEntropyPhase::Rows, CrossEntropyPhase::Vocab}) {
    spec.phase = phase;
    LaunchBuilder lb;
    lb.pointer(offsetof(ColmCrossEntropyArgs, x), x);
    lb.pointer(offsetof(ColmCrossEntropyArgs, w), w);
    lb.pointer(offsetof(ColmCrossEntropyArgs, targets), tg);
    lb.pointer(offsetof(ColmCrossEntropyArgs, dx), dx);
    lb.pointer(offsetof(ColmCrossEntropyArgs, dw), dw);
    lb.pointer(offsetof(ColmCrossEntropyArgs, workspace), workspace);
    lb.pointer(offsetof(ColmCrossEntropyArgs, loss), loss);
    lb.integer(offsetof(ColmCrossEntropyArgs, t), n);
    lb.integer(offsetof(ColmCrossEntropyArgs, ldx), width);
    lb.integer(offsetof(ColmCrossEntropyArgs, ldw), width);
    lb.integer(offsetof(ColmCrossEntropyArgs, lddx), lddx);
    lb.integer(offsetof(ColmCrossEntropyArgs, lddw), lddw);
    lb.real(offsetof(ColmCrossEntropyArgs, scale), scale);
    if (gradients)
      lb.launch.zero.push_back(phase == CrossEntropyPhase::Rows ? dx.buffer
                                                                : dw.buffer);
    // Rows: logits and dX; vocab: the logits again and dW.
    double flops = (gradients                          ? 4.0
                    : phase == CrossEntropyPhase::Rows ? 2.0
                                                       : 0.0) *
                   double(atMax(n)) * vocab * used;
    emit(spec, std::move(lb), sizeof(ColmCrossEntropyArgs),
         label +
             (phase == CrossEntropyPhase::Rows ? " xent rows" : " xent vocab"),
         flops);
  }
  // Further losses of the same logits are copies of the first.
  for (size_t i = 1; i < losses.size(); ++i)
    values[losses[i].getResult()] = loss;
  for (CrossEntropyOp c : losses)
    done.insert(c);
  if (grad)
    done.insert(grad);
  if (gradX)
    done.insert(gradX);
  if (gradW)
    done.insert(gradW);
  return Status::ok();
}

/// Greedy by size: each arena buffer, largest first, goes at the lowest
/// 64-byte-aligned offset that no buffer with an overlapping live range
/// occupies. Outputs live to the end.
void Lowering::storeWeightsBf16() {
  Program &p = kp.program;
  auto gemmOf = [&](const ProgramLaunch &l) -> const ChainGemmSpec * {
    return l.kernel < 0 ? nullptr
                        : std::get_if<ChainGemmSpec>(&kp.specs[l.kernel]);
  };
  auto isWeightArg = [&](const ProgramLaunch &l, const ProgramArg &a) {
    const ChainGemmSpec *g = gemmOf(l);
    if (!g || !g->bf16 || !g->bTransposed)
      return false;
    if (a.offset == int64_t(offsetof(ColmGemmArgs, b)))
      return true;
    // The B of a grouped GEMM's later products.
    int64_t first = offsetof(ColmGemmArgs, gb);
    return a.offset >= first &&
           a.offset < first + int64_t(sizeof(ColmGemmArgs::gb));
  };
  // A parameter qualifies when every pointer to it is such a B.
  std::vector<bool> keep(p.buffers.size(), false), used(p.buffers.size());
  for (size_t i = 0; i < p.buffers.size(); ++i)
    keep[i] = p.buffers[i].role == BufferRole::Param &&
              p.buffers[i].type == ElementType::F32;
  for (const ProgramBuffer &b : p.buffers)
    if (b.isView())
      keep[b.viewOf] = false;
  for (const ProgramLaunch &l : p.launches) {
    for (int z : l.zero)
      keep[z] = false;
    for (const ProgramArg &a : l.args)
      if (a.kind == ProgramArg::Kind::Pointer && a.buffer >= 0) {
        used[a.buffer] = true;
        if (!isWeightArg(l, a))
          keep[a.buffer] = false;
      }
  }
  // One grouped GEMM reads all its B's as bf16 or none.
  for (bool changed = true; changed;) {
    changed = false;
    for (const ProgramLaunch &l : p.launches) {
      const ChainGemmSpec *g = gemmOf(l);
      if (!g || g->groupColumns.empty())
        continue;
      bool all = true;
      for (const ProgramArg &a : l.args)
        if (a.kind == ProgramArg::Kind::Pointer && a.buffer >= 0 &&
            isWeightArg(l, a))
          all = all && keep[a.buffer];
      if (all)
        continue;
      for (const ProgramArg &a : l.args)
        if (a.kind == ProgramArg::Kind::Pointer && a.buffer >= 0 &&
            isWeightArg(l, a) && keep[a.buffer]) {
          keep[a.buffer] = false;
          changed = true;
        }
    }
  }
  bool any = false;
  for (size_t i = 0; i < p.buffers.size(); ++i)
    if (keep[i] && used[i]) {
      p.buffers[i].type = ElementType::BF16;
      any = true;
    }
  if (!any)
    return;
  for (ProgramLaunch &l : p.launches)
    for (const ProgramArg &a : l.args)
      if (a.kind == ProgramArg::Kind::Pointer && a.buffer >= 0 &&
          p.buffers[a.buffer].type == ElementType::BF16) {
        ChainGemmSpec spec = *gemmOf(l);
        spec.bBf16 = true;
        l.kernel = kp.kernelFor(spec);
      }
  // Drop the kernels no launch uses any more.
  std::vector<int> index(p.kernels.size(), -1);
  for (const ProgramLaunch &l : p.launches)
    if (l.kernel >= 0)
      index[l.kernel] = 0;
  KernelProgram kept;
  for (size_t k = 0; k < p.kernels.size(); ++k)
    if (index[k] == 0) {
      index[k] = static_cast<int>(kept.specs.size());
      kept.program.kernels.push_back(p.kernels[k]);
      kept.specs.push_back(kp.specs[k]);
    }
  for (ProgramLaunch &l : p.launches)
    if (l.kernel >= 0)
      l.kernel = index[l.kernel];
  p.kernels = std::move(kept.program.kernels);
  kp.specs = std::move(kept.specs);
}

void Lowering::planBuffers() {
  std::vector<ProgramBuffer> &buffers = kp.program.buffers;
  int64_t end = static_cast<int64_t>(kp.program.launches.size());
  std::vector<int> order;
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].inArena()) {
      if (buffers[i].role == BufferRole::Output)
        lastUse[i] = end;
      order.push_back(static_cast<int>(i));
    }
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return buffers[a].bytes(kp.program.maxSizes) >
           buffers[b].bytes(kp.program.maxSizes);
  });
  struct Placed {
    int64_t begin, end;
    int buffer;
  };
  std::vector<Placed> placed;
  int64_t arena = 0;
  for (int i : order) {
    int64_t size = (buffers[i].bytes(kp.program.maxSizes) + 63) / 64 * 64;
    std::vector<std::pair<int64_t, int64_t>> taken;
    for (const Placed &p : placed)
      if (firstUse[p.buffer] <= lastUse[i] && firstUse[i] <= lastUse[p.buffer])
        taken.push_back({p.begin, p.end});
    std::sort(taken.begin(), taken.end());
    int64_t offset = 0;
    for (auto [b, e] : taken) {
      if (offset + size <= b)
        break;
      offset = std::max(offset, e);
    }
    buffers[i].offset = offset;
    placed.push_back({offset, offset + size, i});
    arena = std::max(arena, offset + size);
  }
  kp.program.arenaBytes = arena;
}

} // namespace

Result<KernelProgram> lowerToKernels(func::FuncOp func,
                                     const LoweringOptions &options) {
  return Lowering(func, options).run();
}

} // namespace colm::codegen
