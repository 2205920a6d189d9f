//===- Program.h - A compiled program: kernels, buffers, launches -*- C++
//-*-===//
//
// What the compiler's lowering produces and an executor runs, with no MLIR
// and nothing target-specific but the kernels' binaries: the kernels (by
// name and entry symbol), the buffers (bound by the caller or placed in one
// arena by a liveness plan), and the launches in order, each an argument
// struct of the kernel ABI (runtime/KernelAbi.h, runtime/abi/) described
// field by field, so the executor fills it without knowing any kernel.
//
// On disk (an artifact) it is a directory: program.json and kernels/NAME.so
// (kernels/NAME.cpp beside it, the source it was compiled from).
//
//===----------------------------------------------------------------------===//
#ifndef COLM_RUNTIME_PROGRAM_H
#define COLM_RUNTIME_PROGRAM_H

#include "runtime/Json.h"
#include "runtime/Status.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace colm {

/// constant + sum of coefficient x size: a dimension, a count or an offset
/// that depends on the sizes a program runs at (the tokens of a decode step,
/// the length of a cache). Coefficients are positive, so a value at sizes no
/// larger than the program's maxima is no larger than at the maxima.
struct SizeExpr {
  int64_t constant = 0;
  /// (index into Program::variables, coefficient), by index.
  std::vector<std::pair<int, int64_t>> terms;

  SizeExpr() = default;
  SizeExpr(int64_t c) : constant(c) {}
  static SizeExpr variable(int index) {
    SizeExpr e;
    e.terms.push_back({index, 1});
    return e;
  }
  bool isConstant() const { return terms.empty(); }
  int64_t eval(const std::vector<int64_t> &sizes) const;
  SizeExpr operator+(const SizeExpr &other) const;
  SizeExpr operator*(int64_t factor) const;
  bool operator==(const SizeExpr &) const = default;
};

/// BF16: bf16 bit patterns (uint16), for weights bound as bf16.
enum class ElementType { F32, I32, F64, BF16 };
const char *elementTypeName(ElementType type);
int64_t elementBytes(ElementType type);

/// Where a buffer's memory comes from.
enum class BufferRole {
  Temporary, ///< in the arena at `offset`; dead outside its live range
  Output,    ///< in the arena at `offset`, read back by name after a run
  Input,     ///< bound by the caller before a run (tokens, targets, ...)
  Param,     ///< bound by the caller: the model parameter `name`
};
const char *bufferRoleName(BufferRole role);

struct ProgramBuffer {
  std::string name;
  BufferRole role = BufferRole::Temporary;
  ElementType type = ElementType::F32;
  std::vector<SizeExpr> shape;
  /// Byte offset in the arena (Temporary and Output), a multiple of 64.
  int64_t offset = -1;
  /// A view: the memory of buffer `viewOf` (of the same element type, not a
  /// view itself) from element `viewElement` on; it has no memory of its own.
  int viewOf = -1;
  int64_t viewElement = 0;

  std::vector<int64_t> shapeAt(const std::vector<int64_t> &sizes) const;
  int64_t elements(const std::vector<int64_t> &sizes) const;
  int64_t bytes(const std::vector<int64_t> &sizes) const {
    return elements(sizes) * elementBytes(type);
  }
  bool isView() const { return viewOf >= 0; }
  /// Has memory of its own in the arena.
  bool inArena() const {
    return !isView() &&
           (role == BufferRole::Temporary || role == BufferRole::Output);
  }
  /// Written by the program (not bound by the caller).
  bool produced() const {
    return role == BufferRole::Temporary || role == BufferRole::Output;
  }
};

/// One field of a launch's argument struct.
struct ProgramArg {
  enum class Kind { Pointer, Int, Float };
  Kind kind = Kind::Int;
  /// Byte offset of the field in the struct.
  int64_t offset = 0;
  /// Pointer: &buffer[element] (buffer -1: a null pointer).
  int buffer = -1;
  SizeExpr element;
  SizeExpr intValue;
  double floatValue = 0;
};

struct ProgramLaunch {
  /// Index into Program::kernels; -1 for a launch that only zero-fills.
  int kernel = -1;
  int64_t argBytes = 0;
  std::vector<ProgramArg> args;
  /// Buffers set to zero before the kernel runs (accumulating outputs).
  std::vector<int> zero;
  /// What it computes, for profiles, e.g. "model.layers.0.mlp.down_proj
  /// linear_grad_w".
  std::string label;
  /// Floating-point operations (multiply-add = 2) it does, for profiles.
  double flops = 0;
};

struct ProgramKernel {
  /// The file stem of kernels/NAME.so and NAME.cpp.
  std::string name;
  std::string symbol;
};

struct Program {
  std::string target = "cpu";
  std::string function; ///< the graph function it was lowered from
  std::vector<ProgramKernel> kernels;
  std::vector<ProgramBuffer> buffers;
  std::vector<ProgramLaunch> launches;
  int64_t arenaBytes = 0;
  /// The sizes it was compiled for ("sequences", "sequence_length", ...).
  std::map<std::string, int64_t> sizes;
  /// The sizes chosen at run time (none for a program of fixed shapes) and
  /// the largest value of each, which the arena is planned for.
  std::vector<std::string> variables;
  std::vector<int64_t> maxSizes;

  /// -1 when there is none of that name.
  int findBuffer(const std::string &name) const;
  int findVariable(const std::string &name) const;
  /// Every index, offset and field in range; arena buffers inside the arena
  /// at the maxima; argument fields inside their struct.
  Status validate() const;
  /// The arena's size without a plan: the sum of every arena buffer at the
  /// maxima.
  int64_t unplannedBytes() const;

  JsonValue toJson() const;
  static Result<Program> fromJson(const JsonValue &json,
                                  const std::string &source);
};

/// program.json in `dir` (atomically written); the kernels' files are the
/// caller's.
Status saveProgram(const Program &program, const std::string &dir);
/// Reads and validates DIR/program.json.
Result<Program> loadProgram(const std::string &dir);

} // namespace colm

#endif // COLM_RUNTIME_PROGRAM_H
