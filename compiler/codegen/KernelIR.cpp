//===- KernelIR.cpp - The kernel program as the kernel dialect ------------===//
#include "compiler/codegen/KernelIR.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/TypeSwitch.h"

#include <set>

using namespace mlir;

namespace colm::codegen {

namespace {

// The words of the enums, in enum order.
const char *const gemmUses[] = {"forward", "input_grad", "weight_grad",
                                "dense"};
const char *const swigluEpilogues[] = {"none", "forward", "backward"};
const char *const attentionPasses[] = {"forward", "backward", "paged"};
const char *const kvMaps[] = {"grouped", "tiled"};
const char *const crossEntropyPhases[] = {"rows", "vocab"};
const char *const elementwiseOps[] = {"add", "mul"};

template <size_t N> int wordIndex(const char *const (&words)[N], StringRef w) {
  for (size_t i = 0; i < N; ++i)
    if (w == words[i])
      return static_cast<int>(i);
  return 0; // the attribute verifiers admit only these words
}

//===----------------------------------------------------------------------===//
// Export
//===----------------------------------------------------------------------===//

struct Exporter {
  MLIRContext &context;
  Builder b{&context};

  Attribute size(const SizeExpr &e) {
    if (e.isConstant())
      return b.getI64IntegerAttr(e.constant);
    SmallVector<int64_t> terms;
    for (auto [v, k] : e.terms)
      terms.append({v, k});
    return kernel::SizeAttr::get(&context, e.constant, terms);
  }

  FloatAttr f64(double v) { return b.getF64FloatAttr(v); }

  /// The products a RoPE epilogue rotates, by index.
  static SmallVector<int64_t> ropeList(const ChainGemmSpec &s) {
    SmallVector<int64_t> out;
    for (int64_t p = 0; p < 32; ++p)
      if (s.ropeProducts >> p & 1)
        out.push_back(p);
    return out;
  }

  static SmallVector<int64_t> cudaTile(const CudaGemmTile &t) {
    if (t == CudaGemmTile{})
      return {};
    SmallVector<int64_t> v = {t.bm, t.bn, t.bk};
    if (t.cublas)
      v.push_back(1);
    return v;
  }
  Attribute spec(const ChainGemmSpec &s) {
    SmallVector<int64_t> blocks;
    for (const GemmBlock &g : s.blocks)
      blocks.append({g.nBegin, g.nEnd, g.kBegin, g.kEnd, g.mBegin, g.mEnd});
    return kernel::GemmAttr::get(
        &context, gemmUses[int(s.use)], s.m, s.n, s.k, s.aTransposed,
        s.bTransposed, s.accumulate, s.addend, swigluEpilogues[int(s.swiglu)],
        s.bf16, s.bBf16, blocks, s.knobs.mr, s.knobs.nr, s.knobs.kc, s.knobs.mc,
        s.groupColumns, s.normBounds,
        s.normBounds.empty() ? FloatAttr() : f64(s.normEps), ropeList(s),
        s.ropeHeadDim, s.ropeProducts ? f64(s.ropeTheta) : FloatAttr(),
        cudaTile(s.knobs.cuda));
  }
  Attribute spec(const ChainNormSpec &s) {
    return kernel::NormAttr::get(&context, s.width, s.groupBounds, f64(s.eps),
                                 s.backward, s.dgainBegin);
  }
  Attribute spec(const RopeSpec &s) {
    return kernel::RopeAttr::get(&context, s.width, s.headDim, f64(s.theta),
                                 s.inverse);
  }
  Attribute spec(const SwiGluSpec &s) {
    return kernel::SwiGluAttr::get(&context, s.width, s.backward);
  }
  Attribute spec(const AttentionSpec &s) {
    return kernel::AttentionAttr::get(&context, attentionPasses[int(s.pass)],
                                      s.numHeads, s.numKvHeads, s.headDim,
                                      kvMaps[int(s.mapping)], s.causal,
                                      s.knobs.blockQ, s.knobs.blockK);
  }
  Attribute spec(const CrossEntropySpec &s) {
    return kernel::CrossEntropyAttr::get(
        &context, crossEntropyPhases[int(s.phase)], s.vocab, s.width, s.dwBegin,
        s.chunkRows, s.accumulate, s.gradients);
  }
  Attribute spec(const EmbedSpec &s) {
    return kernel::EmbedAttr::get(&context, s.vocab, s.width, s.backward,
                                  s.dBegin);
  }
  Attribute spec(const ElementwiseSpec &s) {
    return kernel::ElementwiseAttr::get(&context, elementwiseOps[int(s.op)],
                                        s.width);
  }
  Attribute spec(const CopySpec &s) {
    return kernel::CopyAttr::get(&context, s.width, s.srcStride, s.dstStride,
                                 s.dstOffset, s.zeroRest);
  }
  Attribute spec(const WeightedSumSpec &s) {
    return kernel::WeightedSumAttr::get(
        &context, DenseF64ArrayAttr::get(&context, s.weights));
  }
};

Type elementType(MLIRContext &context, ElementType t) {
  switch (t) {
  case ElementType::F32:
    return Float32Type::get(&context);
  case ElementType::I32:
    return IntegerType::get(&context, 32);
  case ElementType::F64:
    return Float64Type::get(&context);
  case ElementType::BF16:
    return BFloat16Type::get(&context);
  }
  return {};
}

//===----------------------------------------------------------------------===//
// Import
//===----------------------------------------------------------------------===//

SizeExpr sizeExpr(Attribute a) {
  if (auto i = dyn_cast<IntegerAttr>(a))
    return SizeExpr(i.getInt());
  auto s = cast<kernel::SizeAttr>(a);
  SizeExpr e(s.getConstant());
  ArrayRef<int64_t> t = s.getTerms();
  for (size_t i = 0; i + 1 < t.size(); i += 2)
    e.terms.push_back({static_cast<int>(t[i]), t[i + 1]});
  return e;
}

KernelSpec specOf(Attribute a) {
  return llvm::TypeSwitch<Attribute, KernelSpec>(a)
      .Case([](kernel::GemmAttr g) {
        ChainGemmSpec s;
        s.use = GemmUse(wordIndex(gemmUses, g.getUse()));
        s.m = g.getM();
        s.n = g.getN();
        s.k = g.getK();
        s.aTransposed = g.getATransposed();
        s.bTransposed = g.getBTransposed();
        s.accumulate = g.getAccumulate();
        s.addend = g.getAddend();
        s.swiglu = SwiGluEpilogue(wordIndex(swigluEpilogues, g.getSwiglu()));
        s.bf16 = g.getBf16();
        s.bBf16 = g.getBBf16();
        ArrayRef<int64_t> r = g.getBlocks();
        for (size_t i = 0; i + 5 < r.size(); i += 6)
          s.blocks.push_back(
              {r[i], r[i + 1], r[i + 2], r[i + 3], r[i + 4], r[i + 5]});
        s.knobs = {int(g.getMr()), int(g.getNr()), int(g.getKc()),
                   int(g.getMc())};
        if (ArrayRef<int64_t> t = g.getCudaTile(); t.size() >= 3) {
          // Out of int's range: -1, which the spec's validation refuses.
          s.knobs.cuda = {int(t[0] >= 0 && t[0] <= 4096 ? t[0] : -1),
                          int(t[1] >= 0 && t[1] <= 4096 ? t[1] : -1),
                          int(t[2] >= 0 && t[2] <= 4096 ? t[2] : -1)};
          s.knobs.cuda.cublas = t.size() == 4 && t[3] == 1;
        }
        // A block belongs to the product whose columns it starts in (the
        // spec's validation checks that it ends there too).
        s.groupColumns.assign(g.getGroups().begin(), g.getGroups().end());
        s.normBounds.assign(g.getNorm().begin(), g.getNorm().end());
        if (g.getNormEps())
          s.normEps = g.getNormEps().getValueAsDouble();
        for (int64_t p : g.getRope())
          if (p >= 0 && p < 32)
            s.ropeProducts |= 1u << p;
          else
            s.ropeProducts = ~0u; // refused by the spec's validation
        s.ropeHeadDim = g.getRopeHeadDim();
        if (g.getRopeTheta())
          s.ropeTheta = g.getRopeTheta().getValueAsDouble();
        // Sums that overflow end the search: validation refuses such sizes.
        for (GemmBlock &b : s.blocks)
          for (int64_t start = 0, next;
               b.group + 1 < static_cast<int>(s.groupColumns.size()) &&
               !__builtin_add_overflow(start, s.groupColumns[b.group], &next) &&
               b.nBegin >= next;
               start = next)
            ++b.group;
        return s;
      })
      .Case([](kernel::NormAttr n) {
        ChainNormSpec s;
        s.width = n.getWidth();
        s.groupBounds.assign(n.getGroupBounds().begin(),
                             n.getGroupBounds().end());
        s.eps = n.getEps().getValueAsDouble();
        s.backward = n.getBackward();
        s.dgainBegin = n.getDgainBegin();
        return s;
      })
      .Case([](kernel::RopeAttr r) {
        return RopeSpec{r.getWidth(), r.getHeadDim(),
                        r.getTheta().getValueAsDouble(), r.getInverse()};
      })
      .Case([](kernel::SwiGluAttr w) {
        return SwiGluSpec{w.getWidth(), w.getBackward()};
      })
      .Case([](kernel::AttentionAttr t) {
        AttentionSpec s;
        s.pass = AttentionPass(wordIndex(attentionPasses, t.getPass()));
        s.numHeads = t.getHeads();
        s.numKvHeads = t.getKvHeads();
        s.headDim = t.getHeadDim();
        s.mapping = KvMap(wordIndex(kvMaps, t.getMapping()));
        s.causal = t.getCausal();
        s.knobs = {int(t.getBlockQ()), int(t.getBlockK())};
        return s;
      })
      .Case([](kernel::CrossEntropyAttr x) {
        CrossEntropySpec s;
        s.phase =
            CrossEntropyPhase(wordIndex(crossEntropyPhases, x.getPhase()));
        s.vocab = x.getVocab();
        s.width = x.getWidth();
        s.dwBegin = x.getDwBegin();
        s.chunkRows = x.getChunkRows();
        s.accumulate = x.getAccumulate();
        s.gradients = x.getGradients();
        return s;
      })
      .Case([](kernel::EmbedAttr e) {
        return EmbedSpec{e.getVocab(), e.getWidth(), e.getBackward(),
                         e.getDBegin()};
      })
      .Case([](kernel::ElementwiseAttr e) {
        ElementwiseSpec s;
        s.op = ElementwiseSpec::Op(wordIndex(elementwiseOps, e.getOp()));
        s.width = e.getWidth();
        return s;
      })
      .Case([](kernel::CopyAttr c) {
        return CopySpec{c.getWidth(), c.getSrcStride(), c.getDstStride(),
                        c.getDstOffset(), c.getZeroRest()};
      })
      .Case([](kernel::WeightedSumAttr w) {
        WeightedSumSpec s;
        ArrayRef<double> v = w.getWeights().asArrayRef();
        s.weights.assign(v.begin(), v.end());
        return s;
      });
}

Status validateSpec(const KernelSpec &spec) {
  return std::visit(
      [](const auto &s) -> Status {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, ChainGemmSpec>)
          return validateChainGemm(s);
        else if constexpr (std::is_same_v<T, ChainNormSpec>)
          return validateChainNorm(s);
        else if constexpr (std::is_same_v<T, RopeSpec>)
          return validateRope(s);
        else if constexpr (std::is_same_v<T, SwiGluSpec>)
          return validateSwiGlu(s);
        else if constexpr (std::is_same_v<T, AttentionSpec>)
          return validateAttention(s);
        else if constexpr (std::is_same_v<T, CrossEntropySpec>)
          return validateCrossEntropy(s);
        else if constexpr (std::is_same_v<T, EmbedSpec>)
          return validateEmbed(s);
        else if constexpr (std::is_same_v<T, ElementwiseSpec>)
          return validateElementwise(s);
        else if constexpr (std::is_same_v<T, CopySpec>)
          return validateCopy(s);
        else
          return validateWeightedSum(s);
      },
      spec);
}

Status emitted(Operation *op, const std::string &message) {
  op->emitOpError() << message;
  return Status::error(message);
}

} // namespace

Result<OwningOpRef<ModuleOp>> exportKernelProgram(const KernelProgram &kp,
                                                  MLIRContext &context) {
  context.getOrLoadDialect<kernel::KernelDialect>();
  const Program &p = kp.program;
  Exporter ex{context};
  Builder &b = ex.b;
  Location loc = UnknownLoc::get(&context);
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  OpBuilder builder(module->getBodyRegion());
  SmallVector<NamedAttribute> sizes;
  for (auto &[name, value] : p.sizes)
    sizes.push_back(b.getNamedAttr(name, b.getI64IntegerAttr(value)));
  SmallVector<StringRef> variables(p.variables.begin(), p.variables.end());
  auto program = builder.create<kernel::ProgramOp>(
      loc, p.function.empty() ? "program" : p.function, p.target,
      b.getDictionaryAttr(sizes), variables, p.maxSizes, p.arenaBytes);
  builder.setInsertionPointToEnd(&program.getBody().front());

  std::set<std::string> names;
  for (size_t i = 0; i < p.kernels.size(); ++i) {
    names.insert(p.kernels[i].name);
    builder.create<kernel::DefOp>(
        loc, p.kernels[i].name, p.kernels[i].symbol,
        std::visit([&](const auto &s) { return ex.spec(s); }, kp.specs[i]));
  }
  for (const ProgramBuffer &buf : p.buffers) {
    if (!names.insert(buf.name).second)
      return Status::error("buffer '" + buf.name +
                           "' has the name of a kernel or of another buffer");
    SmallVector<Attribute> shape;
    for (const SizeExpr &d : buf.shape)
      shape.push_back(ex.size(d));
    auto op = builder.create<kernel::BufferOp>(
        loc, buf.name, bufferRoleName(buf.role), elementType(context, buf.type),
        b.getArrayAttr(shape), IntegerAttr(), FlatSymbolRefAttr(), Attribute());
    if (buf.isView()) {
      op.setViewOfAttr(
          FlatSymbolRefAttr::get(&context, p.buffers[buf.viewOf].name));
      op.setViewElementAttr(b.getI64IntegerAttr(buf.viewElement));
    } else if (buf.inArena()) {
      op.setOffsetAttr(b.getI64IntegerAttr(buf.offset));
    }
  }
  for (const ProgramLaunch &l : p.launches) {
    SmallVector<Attribute> args;
    for (const ProgramArg &a : l.args)
      switch (a.kind) {
      case ProgramArg::Kind::Pointer:
        args.push_back(kernel::PointerArgAttr::get(
            &context, a.offset,
            a.buffer < 0
                ? FlatSymbolRefAttr()
                : FlatSymbolRefAttr::get(&context, p.buffers[a.buffer].name),
            ex.size(a.buffer < 0 ? SizeExpr(0) : a.element)));
        break;
      case ProgramArg::Kind::Int:
        args.push_back(
            kernel::IntArgAttr::get(&context, a.offset, ex.size(a.intValue)));
        break;
      case ProgramArg::Kind::Float:
        args.push_back(kernel::FloatArgAttr::get(&context, a.offset,
                                                 ex.f64(a.floatValue)));
        break;
      }
    SmallVector<Attribute> zero;
    for (int z : l.zero)
      zero.push_back(FlatSymbolRefAttr::get(&context, p.buffers[z].name));
    builder.create<kernel::LaunchOp>(
        loc,
        l.kernel < 0
            ? FlatSymbolRefAttr()
            : FlatSymbolRefAttr::get(&context, p.kernels[l.kernel].name),
        b.getArrayAttr(args), b.getI64IntegerAttr(l.argBytes),
        b.getArrayAttr(zero), b.getStringAttr(l.label), ex.f64(l.flops));
  }
  return module;
}

Result<KernelProgram> importKernelProgram(kernel::ProgramOp program) {
  KernelProgram kp;
  Program &p = kp.program;
  p.function = program.getSymName().str();
  p.target = program.getTarget().str();
  for (NamedAttribute s : program.getSizes()) {
    auto value = dyn_cast<IntegerAttr>(s.getValue());
    if (!value)
      return emitted(program,
                     "size '" + s.getName().str() + "' must be an integer");
    p.sizes[s.getName().str()] = value.getInt();
  }
  for (Attribute v : program.getVariables())
    p.variables.push_back(cast<StringAttr>(v).str());
  p.maxSizes.assign(program.getMaxSizes().begin(), program.getMaxSizes().end());
  p.arenaBytes = program.getArenaBytes();

  llvm::StringMap<int> kernelIndex, bufferIndex;
  Block &body = program.getBody().front();
  for (auto def : body.getOps<kernel::DefOp>()) {
    KernelSpec spec = specOf(def.getSpec());
    if (Status s = validateSpec(spec); !s)
      return emitted(def, "has a " + def.getKind().str() +
                              " spec that its kernels reject: " + s.message());
    kernelIndex[def.getSymName()] = kp.kernelFor(spec);
  }
  for (auto buf : body.getOps<kernel::BufferOp>()) {
    ProgramBuffer b;
    b.name = buf.getSymName().str();
    StringRef role = buf.getRole();
    b.role = role == "output"  ? BufferRole::Output
             : role == "input" ? BufferRole::Input
             : role == "param" ? BufferRole::Param
                               : BufferRole::Temporary;
    Type t = buf.getElement();
    b.type = t.isF32()    ? ElementType::F32
             : t.isF64()  ? ElementType::F64
             : t.isBF16() ? ElementType::BF16
                          : ElementType::I32;
    for (Attribute d : buf.getShape())
      b.shape.push_back(sizeExpr(d));
    if (auto offset = buf.getOffset())
      b.offset = *offset;
    if (auto base = buf.getViewOfAttr()) {
      auto it = bufferIndex.find(base.getValue());
      if (it == bufferIndex.end())
        return emitted(buf, "views @" + base.getValue().str() +
                                ", which must come before it");
      b.viewOf = it->second;
      b.viewElement = sizeExpr(*buf.getViewElement()).constant;
      if (!sizeExpr(*buf.getViewElement()).isConstant())
        return emitted(buf, "a view's first element must be a constant");
    }
    bufferIndex[b.name] = static_cast<int>(p.buffers.size());
    p.buffers.push_back(std::move(b));
  }
  for (auto launch : body.getOps<kernel::LaunchOp>()) {
    ProgramLaunch l;
    if (auto k = launch.getKernelAttr())
      l.kernel = kernelIndex.lookup(k.getValue());
    l.argBytes = launch.getArgBytes();
    l.label = launch.getLabel().str();
    l.flops = launch.getFlops().convertToDouble();
    for (Attribute z : launch.getZero())
      l.zero.push_back(
          bufferIndex.lookup(cast<FlatSymbolRefAttr>(z).getValue()));
    for (Attribute field : launch.getArgs()) {
      ProgramArg a;
      if (auto ptr = dyn_cast<kernel::PointerArgAttr>(field)) {
        a.kind = ProgramArg::Kind::Pointer;
        a.offset = ptr.getOffset();
        if (ptr.getBuffer()) {
          a.buffer = bufferIndex.lookup(ptr.getBuffer().getValue());
          a.element = sizeExpr(ptr.getElement());
        }
      } else if (auto i = dyn_cast<kernel::IntArgAttr>(field)) {
        a.kind = ProgramArg::Kind::Int;
        a.offset = i.getOffset();
        a.intValue = sizeExpr(i.getValue());
      } else {
        auto f = cast<kernel::FloatArgAttr>(field);
        a.kind = ProgramArg::Kind::Float;
        a.offset = f.getOffset();
        a.floatValue = f.getValue().getValueAsDouble();
      }
      l.args.push_back(a);
    }
    p.launches.push_back(std::move(l));
  }
  if (Status s = p.validate(); !s)
    return emitted(program,
                   "is not a program the runtime can run: " + s.message());
  return kp;
}

Result<KernelProgram> throughKernelDialect(const KernelProgram &kp,
                                           MLIRContext &context) {
  COLM_ASSIGN_OR_RETURN(OwningOpRef<ModuleOp> module,
                        exportKernelProgram(kp, context));
  std::string errors;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    if (d.getSeverity() == DiagnosticSeverity::Error && errors.empty())
      errors = d.str();
    return success();
  });
  if (failed(verify(*module)))
    return Status::error("the kernel program of @" + kp.program.function +
                         " fails the kernel dialect's verifier: " + errors);
  auto back = importKernelProgram(findKernelProgram(*module));
  if (!back)
    return Status::error("the kernel program of @" + kp.program.function +
                         " does not read back: " + errors);
  return back;
}

kernel::ProgramOp findKernelProgram(ModuleOp module) {
  auto programs = module.getOps<kernel::ProgramOp>();
  return programs.empty() ? kernel::ProgramOp() : *programs.begin();
}

} // namespace colm::codegen
