//===- VectorIsa.h - The CPU as the host C++ renderers see it --*- C++ -*-===//
#ifndef COLM_COMPILER_CODEGEN_CPU_VECTORISA_H
#define COLM_COMPILER_CODEGEN_CPU_VECTORISA_H

#include <cstdint>

namespace colm::codegen::cpu {

/// What the renderers need to know of the CPU: the float lanes of one vector
/// register (16 with AVX-512, 8 with AVX2) and how many such registers there
/// are (32 / 16), which bound the register blocks; and the L2 size per
/// core, which bounds how much of an operand one pass keeps packed.
struct VectorIsa {
  int lanes = 16;
  int registers = 32;
  int64_t l2Bytes = 512 * 1024;
  /// bf16 pair dot products (AVX512_BF16 `vdpbf16ps`): a bf16 GEMM then
  /// packs its operands as bf16 pairs and does twice the work per
  /// instruction. Renderers may set it on any host: without the instruction
  /// the kernel emulates it (same layout, fp32 FMAs), which is how machines
  /// without AVX512_BF16 test the layout.
  bool bf16Dot = false;
  /// AMX-BF16 tiles (Sapphire Rapids and later, CpuInfo::amxUsable): a
  /// bf16 GEMM whose pairs vdpbf16ps would take runs on tdpbf16ps instead,
  /// on the same packed pairs. Only where the host has it.
  bool amx = false;
};

/// The host's vectors, from runtime/CpuInfo (AVX-512, AVX2, else 4 lanes of
/// generic vectors that the compiler lowers as it can), with bf16Dot where
/// the CPU has AVX512_BF16.
VectorIsa hostVectorIsa();

} // namespace colm::codegen::cpu

#endif // COLM_COMPILER_CODEGEN_CPU_VECTORISA_H
