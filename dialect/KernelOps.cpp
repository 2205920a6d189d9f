//===- KernelOps.cpp - programs, kernels, buffers, launches -----*- C++ -*-===//
#include "dialect/KernelDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>

using namespace mlir;
using namespace colm::kernel;

#define GET_OP_CLASSES
#include "dialect/KernelOps.cpp.inc"

//===----------------------------------------------------------------------===//
// kernel.program
//===----------------------------------------------------------------------===//

void ProgramOp::build(OpBuilder &builder, OperationState &state, StringRef name,
                      StringRef target, DictionaryAttr sizes,
                      ArrayRef<StringRef> variables, ArrayRef<int64_t> maxSizes,
                      int64_t arenaBytes) {
  state.addAttribute(getSymNameAttrName(state.name),
                     builder.getStringAttr(name));
  state.addAttribute(getTargetAttrName(state.name),
                     builder.getStringAttr(target));
  state.addAttribute(getSizesAttrName(state.name), sizes);
  state.addAttribute(getVariablesAttrName(state.name),
                     builder.getStrArrayAttr(variables));
  state.addAttribute(getMaxSizesAttrName(state.name),
                     builder.getDenseI64ArrayAttr(maxSizes));
  state.addAttribute(getArenaBytesAttrName(state.name),
                     builder.getI64IntegerAttr(arenaBytes));
  state.addRegion()->emplaceBlock();
}

namespace {

/// "[first, first + count)" for errors, whatever the values (a file's sizes
/// may be anything the parser accepts).
std::string range(int64_t first, int64_t count) {
  int64_t end = 0;
  return "[" + std::to_string(first) + ", " +
         (__builtin_add_overflow(first, count, &end)
              ? std::to_string(first) + " + " + std::to_string(count)
              : std::to_string(end)) +
         ")";
}

/// The buffer (or view) a symbol names; the op has emitted the error when
/// there is none.
BufferOp lookupBuffer(Operation *user, ProgramOp program, FlatSymbolRefAttr ref,
                      StringRef what) {
  auto buffer = dyn_cast_or_null<BufferOp>(
      ::mlir::SymbolTable::lookupSymbolIn(program, ref.getAttr()));
  if (!buffer)
    user->emitOpError() << what << " " << ref << " is not a buffer of @"
                        << program.getSymName();
  return buffer;
}

/// Fails (with the error on `op`) for a size that is not one, names a
/// variable the program does not have, or lies outside [-2^40, 2^40] at the
/// maxima.
LogicalResult checkSize(Operation *op, Attribute size, StringRef what,
                        ArrayRef<int64_t> maxSizes) {
  if (!isSize(size))
    return op->emitOpError() << what << " must be an i64 or a #kernel.size";
  if (auto s = dyn_cast<SizeAttr>(size))
    for (size_t i = 0; i < s.getTerms().size(); i += 2)
      if (s.getTerms()[i] >= static_cast<int64_t>(maxSizes.size()))
        return op->emitOpError()
               << what << " names a size variable the program "
               << "does not have (it has " << maxSizes.size() << ")";
  std::optional<int64_t> v = evalSize(size, maxSizes);
  if (!v || *v < -(int64_t(1) << 40) || *v > (int64_t(1) << 40))
    return op->emitOpError() << what << " is out of range at the maxima";
  return success();
}

/// Every dimension a size in [0, 2^40] at the maxima, and at most 2^40
/// elements in all.
LogicalResult checkShape(BufferOp buffer, ArrayRef<int64_t> maxSizes) {
  int64_t elements = 1;
  for (Attribute d : buffer.getShape()) {
    if (failed(checkSize(buffer, d, "a dimension", maxSizes)))
      return failure();
    int64_t v = *evalSize(d, maxSizes);
    if (v < 0)
      return buffer.emitOpError() << "has a dimension of " << v;
    if (v > 0 && elements > (int64_t(1) << 40) / v)
      return buffer.emitOpError() << "is too large";
    elements *= v;
  }
  return success();
}

/// The elements of a buffer that passed checkShape, at the maxima.
int64_t elementsAt(BufferOp buffer, ArrayRef<int64_t> maxSizes) {
  int64_t elements = 1;
  for (Attribute d : buffer.getShape())
    elements *= *evalSize(d, maxSizes);
  return elements;
}

} // namespace

LogicalResult ProgramOp::verifyRegions() {
  ArrayRef<int64_t> maxSizes = getMaxSizes();
  if (maxSizes.size() != getVariables().size())
    return emitOpError() << "has " << getVariables().size() << " variables but "
                         << maxSizes.size() << " maxima";
  for (int64_t m : maxSizes)
    if (m < 1 || m > (int64_t(1) << 32))
      return emitOpError() << "every size's maximum must lie in [1, 2^32]";
  int64_t arena = getArenaBytes();
  if (arena < 0)
    return emitOpError() << "arena must not be negative";

  // Buffers: where each lies (at the maxima), and the buffer whose arena
  // bytes a view shares.
  struct Place {
    BufferOp op;
    int64_t begin = 0, end = 0;
    int64_t firstUse = -1, lastUse = -1;
  };
  llvm::DenseMap<Operation *, int> placeOf;
  std::vector<Place> places;
  for (Operation &op : getBody().front()) {
    if (!isa<DefOp, BufferOp, LaunchOp>(op))
      return op.emitOpError() << "cannot be in a kernel.program (only "
                                 "kernel.def, kernel.buffer, kernel.launch)";
    auto buffer = dyn_cast<BufferOp>(op);
    if (!buffer)
      continue;
    if (failed(checkShape(buffer, maxSizes)))
      return failure();
    int64_t elements = elementsAt(buffer, maxSizes);
    int64_t bytes = elements * elementBytes(buffer.getElement());
    StringRef role = buffer.getRole();
    bool produced = role == "temporary" || role == "output";
    if (auto base = buffer.getViewOfAttr()) {
      BufferOp of = lookupBuffer(buffer, *this, base, "view of");
      if (!of)
        return failure();
      if (of.getViewOf() || !produced ||
          !(of.getRole() == "temporary" || of.getRole() == "output") ||
          of.getElement() != buffer.getElement())
        return buffer.emitOpError()
               << "can only view a temporary or output buffer of its "
                  "element type that is not a view itself";
      if (failed(checkSize(buffer, *buffer.getViewElement(),
                           "the view's "
                           "element",
                           maxSizes)))
        return failure();
      if (failed(checkShape(of, maxSizes)))
        return failure();
      int64_t first = *evalSize(*buffer.getViewElement(), maxSizes);
      int64_t ofElements = elementsAt(of, maxSizes);
      if (first < 0 || first > ofElements - elements)
        return buffer.emitOpError()
               << "views elements " << range(first, elements) << " of "
               << of.getSymName() << ", which has " << ofElements;
      continue;
    }
    if (!produced)
      continue;
    std::optional<int64_t> offset = buffer.getOffset();
    if (!offset)
      return buffer.emitOpError() << "needs a place in the arena (`at N`)";
    if (*offset % 64 != 0 || *offset < 0 || *offset > arena - bytes)
      return buffer.emitOpError() << "does not lie in the arena: bytes "
                                  << range(*offset, bytes) << " of " << arena;
    placeOf[buffer] = static_cast<int>(places.size());
    places.push_back({buffer, *offset, *offset + bytes});
  }

  // Launches: symbols resolve, fields lie inside the struct; and each arena
  // buffer's live range, from the first launch that names it (or a view of
  // it) to the last (outputs: to the end).
  int64_t index = 0;
  auto use = [&](BufferOp buffer) {
    if (auto base = buffer.getViewOfAttr())
      buffer = cast<BufferOp>(
          ::mlir::SymbolTable::lookupSymbolIn(*this, base.getAttr()));
    auto it = placeOf.find(buffer);
    if (it == placeOf.end())
      return;
    Place &p = places[it->second];
    if (p.firstUse < 0)
      p.firstUse = index;
    p.lastUse = index;
  };
  for (LaunchOp launch : getBody().front().getOps<LaunchOp>()) {
    if (auto kernel = launch.getKernelAttr())
      if (!isa_and_nonnull<DefOp>(
              ::mlir::SymbolTable::lookupSymbolIn(*this, kernel.getAttr())))
        return launch.emitOpError()
               << "runs " << kernel << ", which is not a kernel.def of @"
               << getSymName();
    for (Attribute z : launch.getZero()) {
      BufferOp b =
          lookupBuffer(launch, *this, cast<FlatSymbolRefAttr>(z), "zero-fills");
      if (!b)
        return failure();
      use(b);
    }
    for (Attribute field : launch.getArgs()) {
      Attribute size;
      if (auto p = dyn_cast<PointerArgAttr>(field)) {
        size = p.getElement();
        if (p.getBuffer()) {
          BufferOp b =
              lookupBuffer(launch, *this, p.getBuffer(), "points into");
          if (!b)
            return failure();
          use(b);
        }
      } else if (auto i = dyn_cast<IntArgAttr>(field)) {
        size = i.getValue();
      }
      if (size && failed(checkSize(launch, size, "a field", maxSizes)))
        return failure();
    }
    ++index;
  }
  for (Place &p : places)
    if (p.op.getRole() == "output" && p.firstUse >= 0)
      p.lastUse = index;

  // The plan: buffers live at the same launch never share arena bytes.
  std::vector<Place *> live;
  for (Place &p : places)
    if (p.firstUse >= 0 && p.end > p.begin)
      live.push_back(&p);
  std::sort(live.begin(), live.end(),
            [](Place *a, Place *b) { return a->begin < b->begin; });
  for (size_t i = 0; i < live.size(); ++i)
    for (size_t j = i + 1; j < live.size() && live[j]->begin < live[i]->end;
         ++j) {
      Place &a = *live[i], &b = *live[j];
      if (a.firstUse <= b.lastUse && b.firstUse <= a.lastUse)
        return b.op.emitOpError()
               << "shares arena bytes [" << std::max(a.begin, b.begin) << ", "
               << std::min(a.end, b.end) << ") with @" << a.op.getSymName()
               << " while both are live (launches "
               << std::max(a.firstUse, b.firstUse) << " to "
               << std::min(a.lastUse, b.lastUse) << ")";
    }
  return success();
}

//===----------------------------------------------------------------------===//
// kernel.def
//===----------------------------------------------------------------------===//

StringRef DefOp::getKind() {
  return llvm::TypeSwitch<Attribute, StringRef>(getSpec())
      .Case<GemmAttr, NormAttr, RopeAttr, SwiGluAttr, AttentionAttr,
            CrossEntropyAttr, EmbedAttr, ElementwiseAttr, CopyAttr,
            WeightedSumAttr>([](auto a) { return a.getMnemonic(); })
      .Default([](Attribute) { return StringRef(); });
}

LogicalResult DefOp::verify() {
  if (getKind().empty())
    return emitOpError() << "needs a kernel spec (#kernel.gemm<...>, "
                            "#kernel.norm<...>, ...), got "
                         << getSpec();
  if (getSymbol().empty())
    return emitOpError() << "needs an entry symbol";
  return success();
}

//===----------------------------------------------------------------------===//
// kernel.buffer
//===----------------------------------------------------------------------===//

namespace {
ParseResult parseSizeList(OpAsmParser &parser, ArrayAttr &list) {
  SmallVector<Attribute> sizes;
  if (parser.parseCommaSeparatedList(OpAsmParser::Delimiter::Square, [&] {
        FailureOr<Attribute> size = parseSize(parser);
        if (failed(size))
          return failure();
        sizes.push_back(*size);
        return success();
      }))
    return failure();
  list = parser.getBuilder().getArrayAttr(sizes);
  return success();
}

void printSizeList(OpAsmPrinter &printer, ArrayAttr list) {
  printer << "[";
  llvm::interleaveComma(list, printer,
                        [&](Attribute a) { printSize(printer, a); });
  printer << "]";
}
} // namespace

ParseResult BufferOp::parse(OpAsmParser &parser, OperationState &result) {
  StringAttr name;
  StringRef role;
  Type element;
  ArrayAttr shape;
  Builder &b = parser.getBuilder();
  OperationName opName = result.name;
  SMLoc roleLoc;
  if (parser.parseSymbolName(name) || parser.getCurrentLocation(&roleLoc) ||
      parser.parseKeyword(&role) || parser.parseType(element) ||
      parseSizeList(parser, shape))
    return failure();
  if (role != "temporary" && role != "output" && role != "input" &&
      role != "param")
    return parser.emitError(roleLoc, "expected a role (temporary, output, "
                                     "input or param), got '")
           << role << "'";
  result.addAttribute(getSymNameAttrName(opName), name);
  result.addAttribute(getRoleAttrName(opName), b.getStringAttr(role));
  result.addAttribute(getElementAttrName(opName), TypeAttr::get(element));
  result.addAttribute(getShapeAttrName(opName), shape);
  if (succeeded(parser.parseOptionalKeyword("at"))) {
    int64_t offset = 0;
    if (parser.parseInteger(offset))
      return failure();
    result.addAttribute(getOffsetAttrName(opName), b.getI64IntegerAttr(offset));
  } else if (succeeded(parser.parseOptionalKeyword("view"))) {
    StringAttr base;
    if (parser.parseSymbolName(base) || parser.parseLSquare())
      return failure();
    FailureOr<Attribute> first = parseSize(parser);
    if (failed(first) || parser.parseRSquare())
      return failure();
    result.addAttribute(getViewOfAttrName(opName),
                        FlatSymbolRefAttr::get(base));
    result.addAttribute(getViewElementAttrName(opName), *first);
  }
  return parser.parseOptionalAttrDict(result.attributes);
}

void BufferOp::print(OpAsmPrinter &printer) {
  printer << " ";
  printer.printSymbolName(getSymName());
  printer << " " << getRole() << " " << getElement() << " ";
  printSizeList(printer, getShape());
  if (auto offset = getOffset())
    printer << " at " << *offset;
  if (auto base = getViewOfAttr()) {
    printer << " view " << base << " [";
    printSize(printer, *getViewElement());
    printer << "]";
  }
  printer.printOptionalAttrDict((*this)->getAttrs(),
                                {getSymNameAttrName(), getRoleAttrName(),
                                 getElementAttrName(), getShapeAttrName(),
                                 getOffsetAttrName(), getViewOfAttrName(),
                                 getViewElementAttrName()});
}

LogicalResult BufferOp::verify() {
  StringRef role = getRole();
  if (role != "temporary" && role != "output" && role != "input" &&
      role != "param")
    return emitOpError() << "has role '" << role
                         << "' (temporary, output, input or param)";
  if (elementBytes(getElement()) == 0)
    return emitOpError() << "has element type " << getElement()
                         << " (f32, i32, f64 or bf16)";
  bool produced = role == "temporary" || role == "output";
  if (!produced && (getOffset() || getViewOf()))
    return emitOpError() << "is bound by the caller (" << role
                         << "): it has no place in the arena";
  if (getOffset() && getViewOf())
    return emitOpError() << "is a view: it has no place of its own";
  if (getViewOf().has_value() != getViewElement().has_value())
    return emitOpError() << "a view needs its base and its first element";
  return success();
}

//===----------------------------------------------------------------------===//
// kernel.launch
//===----------------------------------------------------------------------===//

ParseResult LaunchOp::parse(OpAsmParser &parser, OperationState &result) {
  Builder &b = parser.getBuilder();
  MLIRContext *context = b.getContext();
  OperationName opName = result.name;
  StringAttr kernel;
  if (succeeded(parser.parseOptionalSymbolName(kernel)))
    result.addAttribute(getKernelAttrName(opName),
                        FlatSymbolRefAttr::get(kernel));
  SmallVector<Attribute> fields;
  auto parseField = [&]() -> ParseResult {
    int64_t offset = 0;
    if (parser.parseInteger(offset) || parser.parseEqual())
      return failure();
    if (succeeded(parser.parseOptionalKeyword("null"))) {
      fields.push_back(PointerArgAttr::get(context, offset, FlatSymbolRefAttr(),
                                           b.getI64IntegerAttr(0)));
      return success();
    }
    if (succeeded(parser.parseOptionalKeyword("int"))) {
      FailureOr<Attribute> value = parseSize(parser);
      if (failed(value))
        return failure();
      fields.push_back(IntArgAttr::get(context, offset, *value));
      return success();
    }
    if (succeeded(parser.parseOptionalKeyword("float"))) {
      FailureOr<double> value = parseDouble(parser);
      if (failed(value))
        return failure();
      fields.push_back(
          FloatArgAttr::get(context, offset, b.getF64FloatAttr(*value)));
      return success();
    }
    StringAttr buffer;
    if (parser.parseSymbolName(buffer) || parser.parseLSquare())
      return failure();
    FailureOr<Attribute> element = parseSize(parser);
    if (failed(element) || parser.parseRSquare())
      return failure();
    fields.push_back(PointerArgAttr::get(
        context, offset, FlatSymbolRefAttr::get(buffer), *element));
    return success();
  };
  int64_t bytes = 0;
  if (parser.parseCommaSeparatedList(OpAsmParser::Delimiter::Paren,
                                     parseField) ||
      parser.parseKeyword("bytes") || parser.parseInteger(bytes))
    return failure();
  SmallVector<Attribute> zero;
  if (succeeded(parser.parseOptionalKeyword("zero")))
    if (parser.parseCommaSeparatedList(OpAsmParser::Delimiter::Square, [&] {
          StringAttr name;
          if (parser.parseSymbolName(name))
            return failure();
          zero.push_back(FlatSymbolRefAttr::get(name));
          return success();
        }))
      return failure();
  std::string label;
  if (parser.parseKeyword("label") || parser.parseString(&label) ||
      parser.parseKeyword("flops"))
    return failure();
  FailureOr<double> flops = parseDouble(parser);
  if (failed(flops))
    return failure();
  result.addAttribute(getArgsAttrName(opName), b.getArrayAttr(fields));
  result.addAttribute(getArgBytesAttrName(opName), b.getI64IntegerAttr(bytes));
  result.addAttribute(getZeroAttrName(opName), b.getArrayAttr(zero));
  result.addAttribute(getLabelAttrName(opName), b.getStringAttr(label));
  result.addAttribute(getFlopsAttrName(opName), b.getF64FloatAttr(*flops));
  return parser.parseOptionalAttrDict(result.attributes);
}

void LaunchOp::print(OpAsmPrinter &printer) {
  if (auto kernel = getKernelAttr())
    printer << " " << kernel;
  printer << " (";
  llvm::interleaveComma(getArgs(), printer, [&](Attribute field) {
    if (auto p = dyn_cast<PointerArgAttr>(field)) {
      printer << p.getOffset() << " = ";
      if (!p.getBuffer()) {
        printer << "null";
        return;
      }
      printer << p.getBuffer() << "[";
      printSize(printer, p.getElement());
      printer << "]";
    } else if (auto i = dyn_cast<IntArgAttr>(field)) {
      printer << i.getOffset() << " = int ";
      printSize(printer, i.getValue());
    } else if (auto f = dyn_cast<FloatArgAttr>(field)) {
      printer << f.getOffset() << " = float ";
      printDouble(printer, f.getValue().getValueAsDouble());
    } else {
      printer.printAttribute(field);
    }
  });
  printer << ") bytes " << getArgBytes();
  if (!getZero().empty()) {
    printer << " zero [";
    llvm::interleaveComma(getZero(), printer);
    printer << "]";
  }
  printer << " label ";
  printer.printString(getLabel());
  printer << " flops ";
  printDouble(printer, getFlops().convertToDouble());
  printer.printOptionalAttrDict((*this)->getAttrs(),
                                {getKernelAttrName(), getArgsAttrName(),
                                 getArgBytesAttrName(), getZeroAttrName(),
                                 getLabelAttrName(), getFlopsAttrName()});
}

LogicalResult LaunchOp::verify() {
  int64_t bytes = getArgBytes();
  if (bytes < 0 || bytes > 4096)
    return emitOpError() << "has an argument struct of " << bytes << " bytes";
  if (!getKernel() && !getArgs().empty())
    return emitOpError() << "has fields but no kernel";
  std::vector<std::pair<int64_t, int64_t>> spans;
  for (Attribute field : getArgs()) {
    int64_t offset = 0, size = 8;
    if (auto p = dyn_cast<PointerArgAttr>(field))
      offset = p.getOffset();
    else if (auto i = dyn_cast<IntArgAttr>(field))
      offset = i.getOffset();
    else if (auto f = dyn_cast<FloatArgAttr>(field))
      offset = f.getOffset();
    else
      return emitOpError() << "has a field that is not a #kernel.ptr, "
                              "#kernel.int or #kernel.float: "
                           << field;
    if (offset < 0 || offset % 8 != 0 || offset > bytes - size)
      return emitOpError() << "has a field at byte " << offset
                           << " outside its " << bytes << "-byte struct";
    spans.push_back({offset, offset + size});
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].first < spans[i - 1].second)
      return emitOpError() << "has two fields at byte " << spans[i].first;
  for (Attribute z : getZero())
    if (!isa<FlatSymbolRefAttr>(z))
      return emitOpError() << "zero-fills something that is not a buffer";
  return success();
}
