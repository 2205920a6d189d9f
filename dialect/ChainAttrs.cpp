//===- ChainAttrs.cpp - chain layouts ---------------------------*- C++ -*-===//
#include "dialect/ChainDialect.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace colm::chain;

#include "dialect/ChainEnums.cpp.inc"
#define GET_ATTRDEF_CLASSES
#include "dialect/ChainAttrs.cpp.inc"

void ChainDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialect/ChainAttrs.cpp.inc"
      >();
}

namespace {
constexpr int64_t kMaxRatioSum = 1 << 20;
// Chained dimensions above this would overflow dim * ratio arithmetic.
constexpr int64_t kMaxChainedDim = int64_t(1) << 40;

LogicalResult verifyRatios(function_ref<InFlightDiagnostic()> emitError,
                           ArrayRef<int64_t> ratios) {
  if (ratios.empty())
    return emitError() << "a chain layout needs at least one chain";
  int64_t sum = 0;
  for (auto [i, c] : llvm::enumerate(ratios)) {
    if (c <= 0)
      return emitError() << "chain " << i + 1 << " has ratio " << c
                         << "; ratios must be positive";
    // Ratios are head counts: bounding them keeps dim * ratio in range.
    sum += std::min<int64_t>(c, kMaxRatioSum + 1);
    if (sum > kMaxRatioSum)
      return emitError() << "chain ratios sum to more than " << kMaxRatioSum;
  }
  return success();
}

int64_t ratioPrefixOf(ArrayRef<int64_t> ratios, unsigned k) {
  int64_t s = 0;
  for (unsigned i = 0; i < k && i < ratios.size(); ++i)
    s += ratios[i];
  return s;
}

bool dividesExactly(ArrayRef<int64_t> ratios, int64_t dim) {
  if (ShapedType::isDynamic(dim))
    return false;
  // Chain i gets dim*c_i/S entries; each must be whole (spec section 1).
  int64_t sum = ratioPrefixOf(ratios, ratios.size());
  return llvm::all_of(ratios, [&](int64_t c) { return dim * c % sum == 0; });
}

unsigned chainOfIndex(ArrayRef<int64_t> ratios, int64_t dim, int64_t pos) {
  int64_t sum = ratioPrefixOf(ratios, ratios.size());
  for (unsigned i = 1; i <= ratios.size(); ++i)
    if (pos < dim * ratioPrefixOf(ratios, i) / sum)
      return i;
  return ratios.size();
}

/// Names the chain that would get a fractional width.
InFlightDiagnostic splitError(function_ref<InFlightDiagnostic()> emitError,
                              StringRef what, int64_t dim,
                              ArrayRef<int64_t> ratios) {
  if (ShapedType::isDynamic(dim))
    return emitError() << what << " is dynamic; chained dimensions must be "
                       << "static";
  int64_t sum = ratioPrefixOf(ratios, ratios.size());
  auto diag = emitError() << what << " " << dim
                          << " does not split exactly into chains "
                          << formatRatios(ratios);
  for (auto [i, c] : llvm::enumerate(ratios))
    if ((dim * c) % sum != 0) {
      diag << ": chain " << i + 1 << " would get " << dim * c << "/" << sum
           << " entries";
      break;
    }
  return diag;
}
} // namespace

#define COLM_RATIOS_ATTR_METHODS(Attr)                                         \
  LogicalResult Attr::verify(function_ref<InFlightDiagnostic()> emitError,     \
                             ArrayRef<int64_t> ratios) {                       \
    return verifyRatios(emitError, ratios);                                    \
  }                                                                            \
  int64_t Attr::ratioPrefix(unsigned k) const {                                \
    return ratioPrefixOf(getRatios(), k);                                      \
  }                                                                            \
  bool Attr::divides(int64_t dim) const {                                      \
    return dividesExactly(getRatios(), dim);                                   \
  }                                                                            \
  unsigned Attr::chainOf(int64_t dim, int64_t pos) const {                     \
    return chainOfIndex(getRatios(), dim, pos);                                \
  }                                                                            \
  Attr Attr::prefix(unsigned k) const {                                        \
    return Attr::get(getContext(), getRatios().take_front(k));                 \
  }

COLM_RATIOS_ATTR_METHODS(LayoutAttr)
COLM_RATIOS_ATTR_METHODS(BlocksAttr)
#undef COLM_RATIOS_ATTR_METHODS

LogicalResult
LayoutAttr::verifyEncoding(ArrayRef<int64_t> shape, Type elementType,
                           function_ref<InFlightDiagnostic()> emitError) const {
  if (shape.empty())
    return emitError() << "a chained tensor needs at least one dimension";
  if (shape.back() > kMaxChainedDim)
    return emitError() << "chained dimension " << shape.back()
                       << " is too large";
  if (!divides(shape.back()))
    return splitError(emitError, "chained dimension", shape.back(),
                      getRatios());
  return success();
}

LogicalResult
BlocksAttr::verifyEncoding(ArrayRef<int64_t> shape, Type elementType,
                           function_ref<InFlightDiagnostic()> emitError) const {
  if (shape.size() != 2)
    return emitError() << "a chain-block weight must be [out, in], got rank "
                       << shape.size();
  if (shape[0] > kMaxChainedDim || shape[1] > kMaxChainedDim)
    return emitError() << "chain-block weight " << shape[0] << "x" << shape[1]
                       << " is too large";
  if (!divides(shape[0]))
    return splitError(emitError, "output dimension", shape[0], getRatios());
  if (!divides(shape[1]))
    return splitError(emitError, "input dimension", shape[1], getRatios());
  return success();
}
