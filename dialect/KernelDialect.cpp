//===- KernelDialect.cpp - dialect, attributes, their syntax ----*- C++ -*-===//
#include "dialect/KernelDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

using namespace mlir;
using namespace colm::kernel;

#include "dialect/KernelDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/KernelAttrs.cpp.inc"

void KernelDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialect/KernelAttrs.cpp.inc"
      >();
}

void KernelDialect::initialize() {
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "dialect/KernelOps.cpp.inc"
      >();
}

namespace colm::kernel {

FailureOr<bool> parseBool(AsmParser &parser) {
  if (succeeded(parser.parseOptionalKeyword("true")))
    return true;
  if (succeeded(parser.parseOptionalKeyword("false")))
    return false;
  return parser.emitError(parser.getCurrentLocation(),
                          "expected true or false");
}

FailureOr<std::string> parseKeyword(AsmParser &parser) {
  StringRef word;
  if (parser.parseKeyword(&word))
    return failure();
  return word.str();
}

// Kernel parameters are finite: an overflowing literal (1e400) would print
// as "inf", which does not read back.
static LogicalResult checkFinite(AsmParser &parser, llvm::SMLoc at,
                                 double value) {
  if (std::isfinite(value))
    return success();
  return parser.emitError(at, "a kernel parameter must be a finite number");
}

FailureOr<double> parseDouble(AsmParser &parser) {
  double value = 0;
  llvm::SMLoc at = parser.getCurrentLocation();
  if (parser.parseFloat(value) || failed(checkFinite(parser, at, value)))
    return failure();
  return value;
}

void printDouble(AsmPrinter &printer, double value) {
  // The shortest decimal that reads back as the same double, in a form the
  // MLIR lexer takes as a float (it needs a '.').
  char buf[40];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, value);
    if (std::strtod(buf, nullptr) == value)
      break;
  }
  std::string text = buf;
  if (std::isfinite(value) && text.find('.') == std::string::npos) {
    size_t e = text.find('e');
    text.insert(e == std::string::npos ? text.size() : e, ".0");
  }
  printer << text;
}

FailureOr<FloatAttr> parseDoubleAttr(AsmParser &parser) {
  FailureOr<double> value = parseDouble(parser);
  if (failed(value))
    return failure();
  return FloatAttr::get(Float64Type::get(parser.getContext()), *value);
}

FailureOr<DenseF64ArrayAttr> parseDoubles(AsmParser &parser) {
  SmallVector<double> values;
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
        double v = 0;
        llvm::SMLoc at = parser.getCurrentLocation();
        if (parser.parseFloat(v) || failed(checkFinite(parser, at, v)))
          return failure();
        values.push_back(v);
        return success();
      }))
    return failure();
  return DenseF64ArrayAttr::get(parser.getContext(), values);
}

void printDoubles(AsmPrinter &printer, ArrayRef<double> values) {
  printer << "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i)
      printer << ", ";
    printDouble(printer, values[i]);
  }
  printer << "]";
}

FailureOr<SmallVector<int64_t>> parseInts(AsmParser &parser) {
  SmallVector<int64_t> values;
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
        int64_t v = 0;
        if (parser.parseInteger(v))
          return failure();
        values.push_back(v);
        return success();
      }))
    return failure();
  return values;
}

void printInts(AsmPrinter &printer, ArrayRef<int64_t> values) {
  printer << "[";
  llvm::interleaveComma(values, printer.getStream());
  printer << "]";
}

namespace {
/// `0:128` or `0:?` (an end of -1: to the dynamic size).
ParseResult parseRange(AsmParser &parser, int64_t &begin, int64_t &end) {
  if (parser.parseInteger(begin) || parser.parseColon())
    return failure();
  if (succeeded(parser.parseOptionalQuestion())) {
    end = -1;
    return success();
  }
  return parser.parseInteger(end);
}
void printRange(AsmPrinter &printer, int64_t begin, int64_t end) {
  printer << begin << ":";
  if (end == -1)
    printer << "?";
  else
    printer << end;
}
} // namespace

FailureOr<SmallVector<int64_t>> parseBlocks(AsmParser &parser) {
  SmallVector<int64_t> values;
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
        int64_t r[6];
        if (parser.parseKeyword("n") || parseRange(parser, r[0], r[1]) ||
            parser.parseKeyword("k") || parseRange(parser, r[2], r[3]) ||
            parser.parseKeyword("m") || parseRange(parser, r[4], r[5]))
          return failure();
        values.append(r, r + 6);
        return success();
      }))
    return failure();
  return values;
}

void printBlocks(AsmPrinter &printer, ArrayRef<int64_t> values) {
  printer << "[";
  for (size_t i = 0; i + 5 < values.size(); i += 6) {
    if (i)
      printer << ", ";
    printer << "n ";
    printRange(printer, values[i], values[i + 1]);
    printer << " k ";
    printRange(printer, values[i + 2], values[i + 3]);
    printer << " m ";
    printRange(printer, values[i + 4], values[i + 5]);
  }
  printer << "]";
}

FailureOr<Attribute> parseSize(AsmParser &parser) {
  SMLoc start = parser.getCurrentLocation();
  int64_t constant = 0;
  std::map<int64_t, int64_t> terms;
  auto parseTerm = [&]() -> ParseResult {
    SMLoc loc = parser.getCurrentLocation();
    int64_t coefficient = 1;
    StringRef word;
    if (failed(parser.parseOptionalKeyword(&word))) {
      if (parser.parseInteger(coefficient))
        return failure();
      if (failed(parser.parseOptionalStar())) {
        constant += coefficient;
        return success();
      }
      if (parser.parseKeyword(&word))
        return failure();
    }
    int64_t index = -1;
    if (word.size() < 2 || word[0] != 'v' ||
        word.drop_front().getAsInteger(10, index) || index < 0)
      return parser.emitError(loc, "expected an integer or a size variable "
                                   "(v0, v1, ...), got '")
             << word << "'";
    terms[index] += coefficient;
    return success();
  };
  if (parseTerm())
    return failure();
  while (succeeded(parser.parseOptionalPlus()))
    if (parseTerm())
      return failure();
  MLIRContext *context = parser.getContext();
  if (terms.empty())
    return Attribute(IntegerAttr::get(IntegerType::get(context, 64), constant));
  SmallVector<int64_t> flat;
  for (auto [v, k] : terms)
    flat.append({v, k});
  auto size = SizeAttr::getChecked([&] { return parser.emitError(start); },
                                   context, constant, flat);
  if (!size)
    return failure();
  return Attribute(size);
}

void printSize(AsmPrinter &printer, Attribute size) {
  if (auto i = dyn_cast<IntegerAttr>(size)) {
    printer << i.getInt();
    return;
  }
  auto s = dyn_cast<SizeAttr>(size);
  if (!s) {
    printer.printAttribute(size);
    return;
  }
  ArrayRef<int64_t> t = s.getTerms();
  for (size_t i = 0; i + 1 < t.size(); i += 2) {
    if (i)
      printer << " + ";
    if (t[i + 1] != 1)
      printer << t[i + 1] << " * ";
    printer << "v" << t[i];
  }
  if (s.getConstant() != 0)
    printer << " + " << s.getConstant();
}

bool isSize(Attribute attr) {
  if (auto i = dyn_cast<IntegerAttr>(attr))
    return i.getType().isInteger(64);
  return isa<SizeAttr>(attr);
}

std::optional<int64_t> evalSize(Attribute size, ArrayRef<int64_t> sizes) {
  if (auto i = dyn_cast<IntegerAttr>(size))
    return i.getInt();
  auto s = dyn_cast<SizeAttr>(size);
  if (!s)
    return std::nullopt;
  int64_t value = s.getConstant();
  ArrayRef<int64_t> t = s.getTerms();
  for (size_t i = 0; i + 1 < t.size(); i += 2) {
    int64_t term = 0;
    if (t[i] < 0 || t[i] >= static_cast<int64_t>(sizes.size()) ||
        __builtin_mul_overflow(t[i + 1], sizes[t[i]], &term) ||
        __builtin_add_overflow(value, term, &value))
      return std::nullopt;
  }
  return value;
}

int64_t elementBytes(Type type) {
  if (type.isF32() || type.isInteger(32))
    return 4;
  if (type.isF64())
    return 8;
  if (type.isBF16())
    return 2;
  return 0;
}

} // namespace colm::kernel

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

Attribute SizeAttr::parse(AsmParser &parser, Type) {
  if (parser.parseLess())
    return {};
  FailureOr<Attribute> size = parseSize(parser);
  if (failed(size) || parser.parseGreater())
    return {};
  if (auto s = llvm::dyn_cast<SizeAttr>(*size))
    return s;
  // `#kernel.size<64>`: a constant stays a SizeAttr without terms.
  return SizeAttr::get(parser.getContext(),
                       llvm::cast<IntegerAttr>(*size).getInt(), {});
}

void SizeAttr::print(AsmPrinter &printer) const {
  printer << "<";
  if (getTerms().empty())
    printer << getConstant();
  else
    printSize(printer, *this);
  printer << ">";
}

LogicalResult SizeAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               int64_t, ArrayRef<int64_t> terms) {
  if (terms.size() % 2 != 0)
    return emitError() << "a size needs (variable, coefficient) pairs";
  for (size_t i = 0; i < terms.size(); i += 2) {
    if (terms[i] < 0 || (i && terms[i] <= terms[i - 2]))
      return emitError() << "a size's variables must be distinct and in order";
    if (terms[i + 1] <= 0)
      return emitError() << "a size's coefficients must be positive, v"
                         << terms[i] << " has " << terms[i + 1];
  }
  return success();
}

Attribute PointerArgAttr::parse(AsmParser &parser, Type) {
  int64_t offset = 0;
  if (parser.parseLess() || parser.parseInteger(offset) || parser.parseEqual())
    return {};
  MLIRContext *context = parser.getContext();
  if (succeeded(parser.parseOptionalKeyword("null"))) {
    if (parser.parseGreater())
      return {};
    return PointerArgAttr::get(
        context, offset, FlatSymbolRefAttr(),
        IntegerAttr::get(IntegerType::get(context, 64), 0));
  }
  StringAttr name;
  if (parser.parseSymbolName(name) || parser.parseLSquare())
    return {};
  FailureOr<Attribute> element = parseSize(parser);
  if (failed(element) || parser.parseRSquare() || parser.parseGreater())
    return {};
  return PointerArgAttr::get(context, offset, FlatSymbolRefAttr::get(name),
                             *element);
}

void PointerArgAttr::print(AsmPrinter &printer) const {
  printer << "<" << getOffset() << " = ";
  if (!getBuffer()) {
    printer << "null>";
    return;
  }
  printer.printAttributeWithoutType(getBuffer());
  printer << "[";
  printSize(printer, getElement());
  printer << "]>";
}

namespace {
LogicalResult checkWord(function_ref<InFlightDiagnostic()> emitError,
                        StringRef what, StringRef word,
                        std::initializer_list<StringRef> allowed) {
  for (StringRef a : allowed)
    if (word == a)
      return success();
  InFlightDiagnostic d = emitError();
  d << what << " '" << word << "': expected one of";
  for (StringRef a : allowed)
    d << " " << a;
  return d;
}
} // namespace

LogicalResult GemmAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               StringRef use, int64_t, int64_t, int64_t, bool,
                               bool, bool, bool, StringRef swiglu, bool, bool,
                               ArrayRef<int64_t> blocks, int64_t, int64_t,
                               int64_t, int64_t, ArrayRef<int64_t>,
                               ArrayRef<int64_t> norm, FloatAttr normEps,
                               ArrayRef<int64_t> rope, int64_t ropeHeadDim,
                               FloatAttr ropeTheta,
                               ArrayRef<int64_t> cudaTile) {
  if (failed(checkWord(emitError, "use", use,
                       {"forward", "input_grad", "weight_grad", "dense"})) ||
      failed(checkWord(emitError, "swiglu", swiglu,
                       {"none", "forward", "backward"})))
    return failure();
  if (blocks.empty() || blocks.size() % 6 != 0)
    return emitError() << "a GEMM needs at least one block";
  if (!cudaTile.empty() && cudaTile.size() != 3 &&
      !(cudaTile.size() == 4 && (cudaTile[3] == 0 || cudaTile[3] == 1)))
    return emitError() << "cuda_tile needs rows, columns and a reduction "
                          "step (and 1 when cuBLASLt runs the GEMM)";
  return success();
}

LogicalResult
AttentionAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      StringRef pass, int64_t, int64_t, int64_t,
                      StringRef mapping, bool, int64_t, int64_t) {
  if (failed(
          checkWord(emitError, "pass", pass, {"forward", "backward", "paged"})))
    return failure();
  return checkWord(emitError, "mapping", mapping, {"grouped", "tiled"});
}

LogicalResult
CrossEntropyAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         StringRef phase, int64_t, int64_t, int64_t, int64_t,
                         bool, bool) {
  return checkWord(emitError, "phase", phase, {"rows", "vocab"});
}

LogicalResult
ElementwiseAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                        StringRef op, int64_t) {
  return checkWord(emitError, "op", op, {"add", "mul"});
}
