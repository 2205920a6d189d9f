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

/// Generated-source helpers: `scratch(floats)`, a per-thread buffer of at
/// least that many floats, 64-byte aligned, kept for the thread's next
/// launches (nullptr when out of memory).
inline const char *scratchSource() {
  return R"CPP(
float *scratch(size_t floats) {
  static thread_local float *buf = nullptr;
  static thread_local size_t have = 0;
  if (have < floats) {
    free(buf);
    buf = (float *)aligned_alloc(64, ((floats * 4 + 63) / 64) * 64);
    have = buf ? floats : 0;
  }
  return buf;
}
)CPP";
}

/// Generated-source helper: `share(units, work, thread, threads, &first,
/// &last)`, the units of one thread when they are split by their work.
inline const char *shareSource() {
  return R"CPP(
// Units [first, last) of thread `thread`: a unit belongs to the thread in
// whose equal share of the total work its middle falls. Only shapes decide.
template <class Work>
void share(int64_t units, Work work, int thread, int threads, int64_t *first,
           int64_t *last) {
  double total = 0;
  for (int64_t u = 0; u < units; ++u)
    total += work(u);
  double seen = 0;
  *first = *last = 0;
  for (int64_t u = 0; u < units; ++u) {
    double w = work(u);
    int owner = total > 0 ? (int)((seen + w / 2) / total * threads) : 0;
    if (owner >= threads)
      owner = threads - 1;
    if (owner < thread)
      *first = u + 1;
    if (owner <= thread)
      *last = u + 1;
    seen += w;
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
