//===- ChainDialect.cpp - dialect registration ------------------*- C++ -*-===//
#include "dialect/ChainDialect.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace colm::chain;

#include "dialect/ChainDialect.cpp.inc"

namespace {
/// Prints `#layout = #chain.layout<[...]>` aliases so types stay readable.
struct ChainAsmInterface : public OpAsmDialectInterface {
  using OpAsmDialectInterface::OpAsmDialectInterface;
  AliasResult getAlias(Attribute attr, raw_ostream &os) const override {
    if (isa<LayoutAttr>(attr)) {
      os << "layout";
      return AliasResult::FinalAlias;
    }
    if (isa<BlocksAttr>(attr)) {
      os << "blocks";
      return AliasResult::FinalAlias;
    }
    return AliasResult::NoAlias;
  }
};
} // namespace

void ChainDialect::initialize() {
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "dialect/ChainOps.cpp.inc"
      >();
  addInterfaces<ChainAsmInterface>();
}

namespace colm::chain {

LayoutAttr getLayout(Type type) {
  auto ranked = dyn_cast<RankedTensorType>(type);
  return ranked ? dyn_cast_or_null<LayoutAttr>(ranked.getEncoding())
                : LayoutAttr();
}

BlocksAttr getBlocks(Type type) {
  auto ranked = dyn_cast<RankedTensorType>(type);
  return ranked ? dyn_cast_or_null<BlocksAttr>(ranked.getEncoding())
                : BlocksAttr();
}

int64_t lastDim(Type type) {
  auto ranked = cast<RankedTensorType>(type);
  return ranked.getRank() == 0 ? 1 : ranked.getShape().back();
}

std::string formatRatios(llvm::ArrayRef<int64_t> ratios) {
  std::string s = "[";
  for (size_t i = 0; i < ratios.size(); ++i)
    s += (i ? ", " : "") + std::to_string(ratios[i]);
  return s + "]";
}

} // namespace colm::chain
