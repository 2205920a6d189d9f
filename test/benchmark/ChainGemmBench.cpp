//===- ChainGemmBench.cpp - Generated chain GEMMs beside OpenBLAS ---------===//
//
// The chain products of bench-cpu's linears (spec/bench.md: D = 512,
// F = 1408, chains [2, 2, 4], 8 x 256 tokens) with the generated kernels on
// every core, each beside OpenBLAS's dense sgemm of the same shape, in one
// run. GFLOP/s counts the useful (kept-block) FLOPs for the chain kernels and
// the dense FLOPs for sgemm; "vs_dense" is sgemm's time over ours.
//
//   build/bin/colm-gemm-bench [--benchmark_filter=...]
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/ChainGemm.h"
#include "compiler/codegen/cpu/CpuJit.h"
#include "compiler/codegen/cpu/GemmTuner.h"
#include "compiler/codegen/cpu/RenderChainGemm.h"
#include "runtime/CpuInfo.h"
#include "runtime/ThreadPool.h"

#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>

using namespace colm;
using namespace colm::codegen;

namespace {

struct Shape {
  const char *name;
  int64_t in, out;
};

struct Prepared {
  ChainGemmSpec spec;
  ColmKernelFn fn = nullptr;
  std::shared_ptr<DynamicLibrary> library;
};

std::vector<float> randomVector(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (float &x : v)
    x = normal(rng);
  return v;
}

ThreadPool &pool() {
  static ThreadPool p(CpuInfo::host().threads);
  return p;
}

void runChain(benchmark::State &state, const Prepared &p, int64_t tokens) {
  const ChainGemmSpec &s = p.spec;
  int64_t M = s.m < 0 ? tokens : s.m, K = s.k < 0 ? tokens : s.k, N = s.n;
  std::vector<float> a = randomVector(M * K, 1), b = randomVector(K * N, 2),
                     c(M * N);
  ColmGemmArgs args{a.data(),
                    b.data(),
                    c.data(),
                    M,
                    N,
                    K,
                    s.aTransposed ? M : K,
                    s.bTransposed ? K : N,
                    N};
  for (auto _ : state)
    pool().launch(p.fn, &args);
  double flops =
      2.0 * s.multiplyAddsPerRow() * double(s.m < 0 || s.k < 0 ? tokens : 1);
  state.counters["GFLOP"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
  state.counters["GFLOP"].value /= 1e9;
}

void runSgemm(benchmark::State &state, int64_t M, int64_t N, int64_t K,
              bool bTransposed) {
  std::vector<float> a = randomVector(M * K, 1), b = randomVector(K * N, 2),
                     c(M * N);
  for (auto _ : state)
    cblas_sgemm(CblasRowMajor, CblasNoTrans,
                bTransposed ? CblasTrans : CblasNoTrans, int(M), int(N), int(K),
                1.0f, a.data(), int(K), b.data(), int(bTransposed ? K : N),
                0.0f, c.data(), int(N));
  state.counters["GFLOP"] =
      benchmark::Counter(2.0 * double(M) * double(N) * double(K),
                         benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP"].value /= 1e9;
}

} // namespace

int main(int argc, char **argv) {
  const int64_t tokens = 8 * 256;
  const std::vector<int64_t> chains = {2, 2, 4};
  const Shape shapes[] = {
      {"q_proj", 512, 512}, {"gate_proj", 512, 1408}, {"down_proj", 1408, 512}};
  std::vector<Prepared> kernels;
  std::vector<KernelSource> sources;
  cpu::VectorIsa isa = cpu::hostVectorIsa();
  for (const Shape &sh : shapes)
    for (ChainGemmSpec s : {chainLinearForward(chains, sh.in, sh.out),
                            chainLinearInputGrad(chains, sh.in, sh.out),
                            chainLinearWeightGrad(chains, sh.in, sh.out)}) {
      // The knobs `colm tune` stored for this device, else the defaults;
      // COLM_GEMM_KNOBS=mr,nr,kc,mc overrides both (hand sweeps).
      static TuningCache tuning = [] {
        TuningCache c = TuningCache::forHost();
        c.load();
        return c;
      }();
      bool tuned = false;
      s.knobs = cpu::chooseKnobs(s, isa, &tuning, &tuned);
      const char *knobsFrom = tuned ? "tuned" : "default";
      if (const char *k = std::getenv("COLM_GEMM_KNOBS")) {
        std::sscanf(k, "%d,%d,%d,%d", &s.knobs.mr, &s.knobs.nr, &s.knobs.kc,
                    &s.knobs.mc);
        knobsFrom = "COLM_GEMM_KNOBS";
      }
      std::fprintf(stderr, "%s %s: %s knobs (%s)\n", sh.name,
                   s.use == GemmUse::Forward     ? "forward"
                   : s.use == GemmUse::InputGrad ? "input_grad"
                                                 : "weight_grad",
                   knobsFrom, cpu::describeKnobs(s.knobs).c_str());
      if (Status st = validateChainGemm(s); !st) {
        std::fprintf(stderr, "error: %s\n", st.message().c_str());
        return 1;
      }
      if (Status st = cpu::checkKnobsFit(s.knobs, isa); !st) {
        std::fprintf(stderr, "error: %s\n", st.message().c_str());
        return 1;
      }
      // And the same product in bf16 (pair dot products where the CPU has
      // AVX512_BF16), with the fp32 kernel's knobs.
      ChainGemmSpec half = s;
      half.bf16 = true;
      for (const ChainGemmSpec &k : {s, half}) {
        kernels.push_back({k});
        sources.push_back({k.name(), cpu::renderChainGemm(k, isa)});
      }
    }
  auto jit = CpuJit::create();
  if (!jit) {
    std::fprintf(stderr, "error: %s\n", jit.status().message().c_str());
    return 1;
  }
  auto libs = jit->compile(sources);
  if (!libs) {
    std::fprintf(stderr, "error: %s\n", libs.status().message().c_str());
    return 1;
  }
  for (size_t i = 0; i < kernels.size(); ++i) {
    kernels[i].library = (*libs)[i];
    auto sym =
        kernels[i].library->symbol(cpu::chainGemmSymbol(kernels[i].spec));
    if (!sym) {
      std::fprintf(stderr, "error: %s\n", sym.status().message().c_str());
      return 1;
    }
    kernels[i].fn = reinterpret_cast<ColmKernelFn>(*sym);
  }
  std::fprintf(stderr, "%s; %s, %d threads\n", jit->stats().summary().c_str(),
               CpuInfo::host().isaSummary().c_str(), pool().threads());

  size_t i = 0;
  for (const Shape &sh : shapes) {
    const char *uses[] = {"forward", "input_grad", "weight_grad"};
    for (const char *use : uses) {
      const Prepared &p = kernels[i++], &half = kernels[i++];
      std::string name = std::string(sh.name) + "/" + use;
      benchmark::RegisterBenchmark(
          (name + "/chain").c_str(),
          [&p, tokens](benchmark::State &st) { runChain(st, p, tokens); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
      benchmark::RegisterBenchmark(
          (name + (cpu::usesBf16Dot(half.spec, isa) ? "/chain_bf16_dot"
                                                    : "/chain_bf16_rounded"))
              .c_str(),
          [&half, tokens](benchmark::State &st) { runChain(st, half, tokens); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
      if (p.spec.use == GemmUse::Forward)
        // Decode steps: one sequence's row, or a decoding batch's rows
        // (memory-bound: the weights stream once per step).
        for (int64_t rows : {1, 4, 8, 16})
          benchmark::RegisterBenchmark(
              (name + "/decode_rows_" + std::to_string(rows)).c_str(),
              [&p, rows](benchmark::State &st) {
                runChain(st, p, rows);
                st.counters["weight_GB/s"] = benchmark::Counter(
                    4.0 * p.spec.multiplyAddsPerRow() / 1e9,
                    benchmark::Counter::kIsIterationInvariantRate);
              })
              ->Unit(benchmark::kMicrosecond)
              ->UseRealTime();
      int64_t M = p.spec.m < 0 ? tokens : p.spec.m;
      int64_t K = p.spec.k < 0 ? tokens : p.spec.k, N = p.spec.n;
      bool bt = p.spec.bTransposed;
      benchmark::RegisterBenchmark(
          (name + "/openblas_dense").c_str(),
          [M, N, K, bt](benchmark::State &st) { runSgemm(st, M, N, K, bt); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
