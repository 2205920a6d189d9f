//===- VectorIsa.cpp - What the host C++ renderers know of the CPU --------===//

#include "compiler/codegen/cpu/VectorIsa.h"

#include "runtime/CpuInfo.h"

namespace colm::codegen::cpu {

VectorIsa hostVectorIsa() {
  const CpuInfo &cpu = CpuInfo::host();
  int64_t l2 = cpu.l2Bytes > 0 ? cpu.l2Bytes : 512 * 1024;
  if (cpu.avx512f)
    return {16, 32, l2, cpu.avx512bf16, cpu.avx512bf16 && CpuInfo::amxUsable()};
  if (cpu.avx2)
    return {8, 16, l2};
  return {4, 16, l2};
}

} // namespace colm::codegen::cpu
