//===- RenderUtil.h - What every host C++ renderer uses ---------*- C++ -*-===//
#ifndef COLM_COMPILER_CODEGEN_CPU_RENDERUTIL_H
#define COLM_COMPILER_CODEGEN_CPU_RENDERUTIL_H

#include <cstdio>
#include <string>

/// The text of a macro's expansion, so a renderer pastes exactly the ABI
/// structs of runtime/KernelAbi.h and runtime/abi/*.h into its source.
#define COLM_STRINGIFY_(...) #__VA_ARGS__
#define COLM_STRINGIFY(...) COLM_STRINGIFY_(__VA_ARGS__)

namespace colm::codegen::cpu {

/// Replaces every `from` in `text` (the @PLACEHOLDER@s of a kernel body).
inline void replaceAll(std::string &text, const std::string &from,
                       const std::string &to) {
  for (size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos;
       pos += to.size())
    text.replace(pos, from.size(), to);
}

/// Generated-source helpers for register blocks of every size up to a
/// maximum: `dispatch<MAX>(n, f)` calls f(Int<n>{}) for a runtime n in
/// [1, MAX].
inline const char *dispatchSource() {
  return R"CPP(
template <int N> struct Int {
  static constexpr int value = N;
};
template <int MAX, class F> inline void dispatch(int64_t n, F &&f) {
  if constexpr (MAX >= 1) {
    if (n == MAX)
      f(Int<MAX>{});
    else
      dispatch<MAX - 1>(n, f);
  }
}
)CPP";
}

/// A double as an exact C++ literal (hexadecimal floating point).
inline std::string exact(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

} // namespace colm::codegen::cpu

#endif // COLM_COMPILER_CODEGEN_CPU_RENDERUTIL_H
