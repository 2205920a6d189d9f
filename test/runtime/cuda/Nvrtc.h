//===- Nvrtc.h - NVRTC loaded at run time, for tests --------------*- C++
//-*-===//
//
// The few NVRTC entry points the tests use, from libnvrtc loaded with dlopen
// (no CUDA header, no link-time dependency), and a compile-to-PTX helper.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_TEST_RUNTIME_CUDA_NVRTC_H
#define COLM_TEST_RUNTIME_CUDA_NVRTC_H

#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <type_traits>

namespace colm::test {

inline std::string cudaHome() {
  const char *h = std::getenv("CUDA_HOME");
  return h && *h ? h : "/usr/local/cuda";
}

/// The NVRTC entry points it uses (its C API: results are ints, programs
/// opaque pointers).
struct Nvrtc {
  using Program = void *;
  int (*create)(Program *, const char *, const char *, int, const char *const *,
                const char *const *) = nullptr;
  int (*compile)(Program, int, const char *const *) = nullptr;
  int (*logSize)(Program, size_t *) = nullptr;
  int (*log)(Program, char *) = nullptr;
  int (*ptxSize)(Program, size_t *) = nullptr;
  int (*ptx)(Program, char *) = nullptr;
  int (*destroy)(Program *) = nullptr;
  void *lib = nullptr;

  bool load() {
    for (std::string name :
         {cudaHome() + "/lib64/libnvrtc.so", std::string("libnvrtc.so.13"),
          std::string("libnvrtc.so")})
      if ((lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)))
        break;
    if (!lib)
      return false;
    auto sym = [&](auto &fn, const char *name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
          dlsym(lib, name));
      return fn != nullptr;
    };
    return sym(create, "nvrtcCreateProgram") &&
           sym(compile, "nvrtcCompileProgram") &&
           sym(logSize, "nvrtcGetProgramLogSize") &&
           sym(log, "nvrtcGetProgramLog") && sym(ptxSize, "nvrtcGetPTXSize") &&
           sym(ptx, "nvrtcGetPTX") && sym(destroy, "nvrtcDestroyProgram");
  }

  /// Compiles `source` for `arch` ("sm_90"); the PTX (with its terminating
  /// NUL), or "" with `error` set to NVRTC's log.
  std::string compilePtx(const std::string &source, const std::string &arch,
                         std::string &error) {
    Program p = nullptr;
    if (create(&p, source.c_str(), "kernel.cu", 0, nullptr, nullptr)) {
      error = "nvrtcCreateProgram failed";
      return "";
    }
    std::string archFlag = "--gpu-architecture=" + arch;
    const char *opts[] = {archFlag.c_str(), "--std=c++17"};
    int rc = compile(p, 2, opts);
    size_t size = 0;
    logSize(p, &size);
    std::string text(size, '\0');
    log(p, text.data());
    std::string out;
    if (rc != 0) {
      error = text;
    } else {
      ptxSize(p, &size);
      out.assign(size, '\0');
      ptx(p, out.data());
    }
    destroy(&p);
    return out;
  }

  /// "" when `source` compiles for sm_80 and for sm_90 into PTX with the
  /// extern "C" kernel `entry` (the name the driver looks up), else what
  /// failed.
  std::string checkEntry(const std::string &source, const std::string &entry) {
    for (const char *arch : {"sm_80", "sm_90"}) {
      std::string error, ptx = compilePtx(source, arch, error);
      if (ptx.empty())
        return std::string(arch) + ": " + error;
      if (ptx.find(".entry " + entry + "(") == std::string::npos)
        return std::string(arch) + ": no .entry " + entry;
    }
    return "";
  }
};

} // namespace colm::test

#endif // COLM_TEST_RUNTIME_CUDA_NVRTC_H
