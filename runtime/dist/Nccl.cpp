//===- Nccl.cpp - NCCL, loaded at run time --------------------------------===//
#include "runtime/dist/Nccl.h"

#include "runtime/DynamicLibrary.h"

#include <cstdlib>
#include <dlfcn.h>
#include <filesystem>
#include <mutex>
#include <vector>

namespace colm::dist {

Result<const Nccl *> Nccl::get() {
  static std::once_flag once;
  static Nccl *instance = nullptr;
  static Status failure;
  std::call_once(once, [] {
    std::vector<std::string> candidates;
    if (const char *env = std::getenv("COLM_NCCL"); env && *env) {
      candidates.push_back(env);
    } else {
      std::string toolkit = cuda::cudaToolkitDir() + "/lib64/libnccl.so.2";
      std::error_code ec;
      if (std::filesystem::exists(toolkit, ec))
        candidates.push_back(toolkit);
      candidates.push_back("libnccl.so.2");
    }
    void *lib = nullptr;
    std::string tried, error;
    for (const std::string &c : candidates) {
      lib = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (lib) {
        tried = c;
        break;
      }
      error = dlerror();
    }
    if (!lib) {
      failure = Status::error(
          "--backend cuda --distributed needs NCCL, and libnccl.so.2 cannot "
          "be loaded (" +
          error + "); install NCCL or point COLM_NCCL at it");
      return;
    }
    auto *n = new Nccl();
    n->path = tried;
    SymbolBinder sym(lib);
    NcclApi &f = n->fns;
    sym(f.ncclGetVersion, "ncclGetVersion");
    sym(f.ncclGetUniqueId, "ncclGetUniqueId");
    sym(f.ncclCommInitRank, "ncclCommInitRank");
    sym(f.ncclCommDestroy, "ncclCommDestroy");
    sym(f.ncclCommAbort, "ncclCommAbort");
    sym(f.ncclCommGetAsyncError, "ncclCommGetAsyncError");
    sym(f.ncclGetErrorString, "ncclGetErrorString");
    sym(f.ncclAllReduce, "ncclAllReduce");
    sym(f.ncclReduceScatter, "ncclReduceScatter");
    sym(f.ncclAllGather, "ncclAllGather");
    sym(f.ncclRedOpCreatePreMulSum, "ncclRedOpCreatePreMulSum");
    sym(f.ncclRedOpDestroy, "ncclRedOpDestroy");
    if (!sym.ok()) {
      failure = Status::error(tried + " lacks " + sym.missing() +
                              " (NCCL 2.11 or later is needed)");
      delete n;
      return;
    }
    instance = n;
  });
  if (!instance)
    return failure;
  return static_cast<const Nccl *>(instance);
}

Status Nccl::check(ncclResult rc, const std::string &what) const {
  if (rc == kNcclSuccess)
    return Status::ok();
  const char *text = fns.ncclGetErrorString ? fns.ncclGetErrorString(rc) : "";
  return Status::error(what + ": NCCL error " + std::to_string(rc) + " (" +
                       (text ? text : "") + ")");
}

std::string Nccl::version() const {
  int v = 0;
  if (fns.ncclGetVersion(&v) != kNcclSuccess)
    return "unknown";
  // 2.28.9 is 22809 (NCCL_VERSION_CODE since 2.9).
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
         std::to_string(v % 100);
}

} // namespace colm::dist
