//===- KernelProgram.cpp - The lowered program, before rendering ----------===//
#include "compiler/codegen/KernelProgram.h"

namespace colm::codegen {

std::string kernelName(const KernelSpec &spec) {
  return std::visit([](const auto &s) { return s.name(); }, spec);
}

const char *kernelKind(const KernelSpec &spec) {
  static const char *const kinds[] = {
      "gemm",          "norm",  "rope",        "swiglu", "attention",
      "cross_entropy", "embed", "elementwise", "copy",   "weighted_sum"};
  static_assert(sizeof(kinds) / sizeof(kinds[0]) ==
                std::variant_size_v<KernelSpec>);
  return kinds[spec.index()];
}

int KernelProgram::kernelFor(const KernelSpec &spec) {
  std::string name = kernelName(spec);
  for (size_t i = 0; i < program.kernels.size(); ++i)
    if (program.kernels[i].name == name)
      return static_cast<int>(i);
  program.kernels.push_back({name, "colm_" + name});
  specs.push_back(spec);
  return static_cast<int>(program.kernels.size() - 1);
}

} // namespace colm::codegen
