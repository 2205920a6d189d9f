//===- Nvrtc.cpp - CUDA kernels compiled with NVRTC -----------------------===//
#include "compiler/codegen/cuda/Nvrtc.h"

#include "runtime/cuda/CudaDriver.h"

#include "compiler/codegen/KernelCache.h"
#include "runtime/DynamicLibrary.h"
#include "runtime/File.h"

#include <atomic>
#include <cstdlib>
#include <dlfcn.h>
#include <filesystem>
#include <mutex>
#include <regex>
#include <thread>

#ifndef COLM_VERSION
#define COLM_VERSION "unknown"
#endif

namespace colm::codegen::cuda {

namespace {

// --fmad=false: no implicit contraction (kernels write fmaf where they want
// one), so AdamW keeps runtime/Optimizer's bits and the emulator's build
// (-ffp-contract=off) rounds as the device does.
const char *kOptionsText = "--std=c++17 --fmad=false --ptxas-options=-v";

std::string envOr(const char *name) {
  const char *v = std::getenv(name);
  return v ? v : "";
}

} // namespace

Status validateCudaArch(const std::string &arch) {
  static const std::regex pattern("sm_[0-9]{2,3}a?");
  if (!std::regex_match(arch, pattern))
    return Status::error("--cuda-arch " + arch +
                         ": expected sm_XX, such as sm_80 (A100), sm_90 "
                         "(H100, H200) or sm_90a");
  if (std::stoi(arch.substr(3)) < 80)
    return Status::error("--cuda-arch " + arch +
                         ": the kernels use mma.sync bf16 and ldmatrix, "
                         "which need sm_80 or newer");
  return Status::ok();
}

PtxasInfo parsePtxasInfo(const std::string &log, const std::string &entry) {
  PtxasInfo info;
  size_t at = log.find("Function properties for " + entry);
  if (at != std::string::npos) {
    std::smatch m;
    std::string rest = log.substr(at, 400);
    if (std::regex_search(rest, m,
                          std::regex("([0-9]+) bytes stack frame, ([0-9]+) "
                                     "bytes spill stores, ([0-9]+) bytes "
                                     "spill loads"))) {
      info.stackBytes = std::stoll(m[1]);
      info.spillStores = std::stoll(m[2]);
      info.spillLoads = std::stoll(m[3]);
    }
  }
  at = log.find("Compiling entry function '" + entry + "'");
  if (at != std::string::npos) {
    std::smatch m;
    std::string rest = log.substr(at, 800);
    if (std::regex_search(rest, m, std::regex("Used ([0-9]+) registers")))
      info.registers = std::stoi(m[1]);
    if (std::regex_search(rest, m, std::regex("([0-9]+) bytes smem")))
      info.sharedBytes = std::stoll(m[1]);
  }
  return info;
}

Result<const Nvrtc *> Nvrtc::get() {
  static std::once_flag once;
  static Nvrtc *instance = nullptr;
  static Status failure;
  std::call_once(once, [] {
    std::vector<std::string> names = {
        colm::cuda::cudaToolkitDir() + "/lib64/libnvrtc.so", "libnvrtc.so.13",
        "libnvrtc.so.12", "libnvrtc.so"};
    void *lib = nullptr;
    for (const std::string &n : names)
      if ((lib = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL)))
        break;
    if (!lib) {
      failure = Status::error(
          "NVRTC (libnvrtc.so) not found: looked in " +
          colm::cuda::cudaToolkitDir() +
          "/lib64 ($CUDA_HOME) and the loader's path; the CUDA target needs "
          "the CUDA toolkit (the cpu and cuda-sim backends do not)");
      return;
    }
    auto *n = new Nvrtc();
    SymbolBinder sym(lib);
    sym(n->create, "nvrtcCreateProgram");
    sym(n->compileProgram, "nvrtcCompileProgram");
    sym(n->logSize, "nvrtcGetProgramLogSize");
    sym(n->log, "nvrtcGetProgramLog");
    sym(n->ptxSize, "nvrtcGetPTXSize");
    sym(n->ptx, "nvrtcGetPTX");
    sym(n->cubinSize, "nvrtcGetCUBINSize");
    sym(n->cubinData, "nvrtcGetCUBIN");
    sym(n->destroy, "nvrtcDestroyProgram");
    sym(n->errorString, "nvrtcGetErrorString");
    int (*version)(int *, int *) = nullptr;
    sym(version, "nvrtcVersion");
    if (!sym.ok()) {
      failure = Status::error("libnvrtc.so lacks " + sym.missing() +
                              " (nvrtcGetCUBIN needs CUDA 11.1 or newer)");
      delete n;
      return;
    }
    int major = 0, minor = 0;
    version(&major, &minor);
    n->versionText = std::to_string(major) + "." + std::to_string(minor);
    instance = n;
  });
  if (!instance)
    return failure;
  return static_cast<const Nvrtc *>(instance);
}

Result<CudaBinary> Nvrtc::compile(const CudaSource &source,
                                  const std::string &arch, bool cubin) const {
  COLM_TRY(validateCudaArch(arch));
  Program p = nullptr;
  std::string file = source.name + ".cu";
  if (int rc =
          create(&p, source.source.c_str(), file.c_str(), 0, nullptr, nullptr))
    return Status::error(std::string("nvrtcCreateProgram: ") + errorString(rc));
  std::string archFlag = "--gpu-architecture=" + arch;
  const char *opts[] = {archFlag.c_str(), "--std=c++17", "--fmad=false",
                        "--ptxas-options=-v"};
  int rc = compileProgram(p, 4, opts);
  size_t size = 0;
  logSize(p, &size);
  std::string text(size, '\0');
  log(p, text.data());
  while (!text.empty() && text.back() == '\0')
    text.pop_back();
  if (rc != 0) {
    destroy(&p);
    return Status::error("NVRTC failed on " + file + " for " + arch + ":\n" +
                         text);
  }
  CudaBinary out;
  out.name = source.name;
  ptxSize(p, &size);
  out.ptx.assign(size, '\0');
  ptx(p, out.ptx.data());
  while (!out.ptx.empty() && out.ptx.back() == '\0')
    out.ptx.pop_back();
  if (cubin) {
    cubinSize(p, &size);
    out.cubin.assign(size, '\0');
    cubinData(p, out.cubin.data());
  }
  destroy(&p);
  out.info = parsePtxasInfo(text, "colm_" + source.name + "_kernel");
  out.log = std::move(text);
  return out;
}

Result<std::vector<CudaBinary>>
Nvrtc::compileAll(const std::vector<CudaSource> &sources,
                  const std::string &arch, bool cubin, int threads,
                  const std::string &driver) const {
  COLM_TRY(validateCudaArch(arch));
  std::string dump = envOr("COLM_DUMP_KERNELS"),
              overrides = envOr("COLM_KERNEL_OVERRIDE_DIR");
  if (!dump.empty())
    COLM_TRY(makeDirectories(dump));
  KernelCache cache(kernelCacheRoot(), "cuda");
  std::vector<CudaBinary> out(sources.size());
  std::vector<Status> errors(sources.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < sources.size();) {
      CudaSource src = sources[i];
      std::string given = overrides.empty()
                              ? std::string()
                              : overrides + "/" + src.name + ".cu";
      if (!given.empty() && std::filesystem::exists(given)) {
        auto text = readFile(given);
        if (!text) {
          errors[i] = text.status();
          continue;
        }
        src.source = *text;
      }
      if (!dump.empty())
        if (Status s =
                writeFileAtomic(dump + "/" + src.name + ".cu", src.source);
            !s) {
          errors[i] = s;
          continue;
        }
      CacheKey key;
      key.add("colm", COLM_VERSION)
          .add("nvrtc", versionText)
          .add("arch", arch)
          .add("options", kOptionsText)
          .add("cubin", cubin ? "yes" : "no")
          .add("driver", driver)
          .addHashed("source", src.source);
      CudaBinary built;
      auto entry = cache.getOrBuild(key, [&](const std::string &dir) {
        auto b = compile(src, arch, cubin);
        if (!b)
          return b.status();
        built = b.take();
        COLM_TRY(writeFileAtomic(dir + "/kernel.cu", src.source));
        COLM_TRY(writeFileAtomic(dir + "/kernel.ptx", built.ptx));
        if (cubin)
          COLM_TRY(writeFileAtomic(dir + "/kernel.cubin", built.cubin));
        const PtxasInfo &f = built.info;
        return writeFileAtomic(dir + "/ptxas.txt",
                               std::to_string(f.registers) + " " +
                                   std::to_string(f.spillStores) + " " +
                                   std::to_string(f.spillLoads) + " " +
                                   std::to_string(f.stackBytes) + " " +
                                   std::to_string(f.sharedBytes) + "\n");
      });
      if (!entry) {
        errors[i] = entry.status();
        continue;
      }
      CudaBinary b;
      b.name = src.name;
      b.cacheHit = entry->hit;
      auto ptxText = readFile(entry->path + "/kernel.ptx");
      auto infoText = readFile(entry->path + "/ptxas.txt");
      if (!ptxText || !infoText) {
        errors[i] = Status::error("damaged CUDA cache entry " + entry->path);
        continue;
      }
      b.ptx = *ptxText;
      if (cubin) {
        auto c = readFile(entry->path + "/kernel.cubin");
        if (!c) {
          errors[i] = c.status();
          continue;
        }
        b.cubin = *c;
      }
      long long r = -1, ss = 0, sl = 0, st = 0, sh = 0;
      std::sscanf(infoText->c_str(), "%lld %lld %lld %lld %lld", &r, &ss, &sl,
                  &st, &sh);
      b.info = {int(r), ss, sl, st, sh};
      out[i] = std::move(b);
    }
  };
  int n = threads > 0 ? threads : int(std::thread::hardware_concurrency());
  n = std::max(1, std::min<int>(n, int(sources.size())));
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t)
    pool.emplace_back(work);
  work();
  for (std::thread &t : pool)
    t.join();
  for (const Status &s : errors)
    if (!s)
      return s;
  return out;
}

} // namespace colm::codegen::cuda
