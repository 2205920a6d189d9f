//===- FmaPeak.cpp - This machine's fp32 FMA rate -------------------------===//

#include "compiler/codegen/cpu/FmaPeak.h"
#include "compiler/codegen/cpu/RenderUtil.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

namespace colm::codegen::cpu {
namespace {

// 16 independent chains hide the FMA latency on two pipes; the result is
// stored so that the compiler cannot drop the work.
const char *kPeak = R"CPP(
#include <stdint.h>
typedef float vec __attribute__((vector_size(@LANES@ * 4)));
typedef struct { int64_t iterations; float *sink; } FmaPeakArgs;
extern "C" void colm_fma_peak(const void *argp, int thread, int threads) {
#pragma clang fp contract(fast)
  const FmaPeakArgs *args = (const FmaPeakArgs *)argp;
  vec acc[@ACC@], x, y;
  for (int i = 0; i < @LANES@; ++i) {
    x[i] = 0.999f;
    y[i] = 0.001f * (float)(thread + 1);
  }
  for (int r = 0; r < @ACC@; ++r)
    acc[r] = x * (float)r;
  for (int64_t it = 0; it < args->iterations; ++it)
    for (int r = 0; r < @ACC@; ++r)
      acc[r] = acc[r] * x + y;
  vec sum = acc[0];
  for (int r = 1; r < @ACC@; ++r)
    sum = sum + acc[r];
  float s = 0;
  for (int i = 0; i < @LANES@; ++i)
    s += sum[i];
  args->sink[thread] = s;
  (void)threads;
}
)CPP";

struct FmaPeakArgs {
  int64_t iterations;
  float *sink;
};

} // namespace

std::string renderFmaPeak(const VectorIsa &isa) {
  std::string s = kPeak;
  replaceAll(s, "@LANES@", std::to_string(isa.lanes));
  // Independent FMA chains to cover the latency, all in registers with x
  // and y beside them: 16 of AVX2's 16 registers would spill.
  replaceAll(s, "@ACC@", std::to_string(std::min(16, isa.registers - 4)));
  return s;
}

Result<double> measureFmaPeak(CpuJit &jit, ThreadPool &pool, double seconds) {
  VectorIsa isa = hostVectorIsa();
  COLM_ASSIGN_OR_RETURN(auto libs,
                        jit.compile({{"colm_fma_peak", renderFmaPeak(isa)}}));
  COLM_ASSIGN_OR_RETURN(void *sym, libs[0]->symbol("colm_fma_peak"));
  auto fn = reinterpret_cast<ColmKernelFn>(sym);
  std::vector<float> sink(static_cast<size_t>(pool.threads()));
  FmaPeakArgs args{1 << 16, sink.data()};
  auto time = [&] {
    auto t0 = std::chrono::steady_clock::now();
    pool.launch(fn, &args);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
        .count();
  };
  // Grow the run until it lasts `seconds`, then keep the best of three.
  while (time() < seconds / 4 && args.iterations < (int64_t{1} << 40))
    args.iterations *= 2;
  double best = 1e300;
  for (int r = 0; r < 3; ++r)
    best = std::min(best, time());
  double flops =
      double(args.iterations) * 16.0 * isa.lanes * 2.0 * double(pool.threads());
  return flops / best;
}

} // namespace colm::codegen::cpu
