//===- CpuExecutor.cpp - Runs a compiled program on the host CPU ----------===//
#include "runtime/cpu/CpuExecutor.h"

#include "runtime/CpuInfo.h"
#include "runtime/Memory.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

namespace colm {

namespace {

struct ZeroArgs {
  uint8_t *data;
  int64_t bytes;
};

/// Each thread clears its 64-byte-aligned share.
void zeroShare(const void *args, int thread, int threads) {
  const auto *z = static_cast<const ZeroArgs *>(args);
  int64_t lines = (z->bytes + 63) / 64;
  int64_t begin = lines * thread / threads * 64;
  int64_t end =
      std::min<int64_t>(lines * (thread + 1) / threads * 64, z->bytes);
  if (end > begin)
    std::memset(z->data + begin, 0, end - begin);
}

} // namespace

CpuExecutor::CpuExecutor(Program program, int threads)
    : Executor(std::move(program)),
      pool(std::make_unique<ThreadPool>(threads)) {}

Result<std::unique_ptr<CpuExecutor>>
CpuExecutor::create(Program program,
                    std::vector<std::shared_ptr<DynamicLibrary>> libraries,
                    int threads) {
  if (Status s = program.validate(); !s)
    return s.withContext("cannot run the program");
  if (libraries.size() != program.kernels.size())
    return Status::error("the program has " +
                         std::to_string(program.kernels.size()) +
                         " kernels but " + std::to_string(libraries.size()) +
                         " libraries were given");
  if (threads < 1)
    return Status::error("an executor needs at least one thread");
  // Kernels rendered for AMX need the tile state granted first.
  CpuInfo::amxUsable();
  if (Status s =
          checkMemoryFits(double(program.arenaBytes), "the program's buffers");
      !s)
    return s;
  std::unique_ptr<CpuExecutor> e(new CpuExecutor(std::move(program), threads));
  for (size_t i = 0; i < libraries.size(); ++i) {
    if (!libraries[i])
      return Status::error("kernel " + e->prog.kernels[i].name +
                           " has no library");
    COLM_ASSIGN_OR_RETURN(ColmKernelFn fn,
                          libraries[i]->function<void(const void *, int, int)>(
                              e->prog.kernels[i].symbol));
    e->entries.push_back(fn);
  }
  e->libraries = std::move(libraries);
  size_t bytes = static_cast<size_t>((e->prog.arenaBytes + 63) / 64 * 64);
  void *memory = std::aligned_alloc(64, bytes ? bytes : 64);
  if (!memory)
    return Status::error("cannot allocate the program's " +
                         std::to_string(bytes) + "-byte arena");
  // Touched now: the memory a program needs is taken when it is loaded, not
  // part way through a run.
  std::memset(memory, 0, bytes ? bytes : 64);
  e->arena = std::unique_ptr<uint8_t[], void (*)(void *)>(
      static_cast<uint8_t *>(memory), std::free);
  e->bound.assign(e->prog.buffers.size(), nullptr);
  for (size_t i = 0; i < e->prog.buffers.size(); ++i)
    if (e->prog.buffers[i].inArena())
      e->bound[i] = e->arena.get() + e->prog.buffers[i].offset;
  for (size_t i = 0; i < e->prog.buffers.size(); ++i)
    if (const ProgramBuffer &b = e->prog.buffers[i]; b.isView())
      e->bound[i] = static_cast<uint8_t *>(e->bound[b.viewOf]) +
                    b.viewElement * elementBytes(b.type);
  for (const ProgramLaunch &l : e->prog.launches)
    e->argStructs.emplace_back(static_cast<size_t>(l.argBytes), 0);
  return e;
}

Result<std::unique_ptr<CpuExecutor>> CpuExecutor::load(const std::string &dir,
                                                       int threads) {
  COLM_ASSIGN_OR_RETURN(Program program, loadProgram(dir));
  if (program.target != "cpu")
    return Status::error(dir + " holds a program for target '" +
                         program.target + "', not cpu");
  std::vector<std::shared_ptr<DynamicLibrary>> libraries;
  for (const ProgramKernel &k : program.kernels) {
    COLM_ASSIGN_OR_RETURN(
        DynamicLibrary library,
        DynamicLibrary::open(dir + "/kernels/" + k.name + ".so"));
    libraries.push_back(std::make_shared<DynamicLibrary>(std::move(library)));
  }
  return create(std::move(program), std::move(libraries), threads);
}

Status CpuExecutor::bind(const std::string &name, const void *data,
                         int64_t bytes) {
  COLM_ASSIGN_OR_RETURN(size_t i, bindable(name, bytes));
  bound[i] = const_cast<void *>(data);
  return Status::ok();
}

Status CpuExecutor::run() {
  for (size_t i = 0; i < prog.buffers.size(); ++i)
    if (!bound[i] && prog.buffers[i].bytes(sizes) > 0)
      return Status::error(std::string(bufferRoleName(prog.buffers[i].role)) +
                           " '" + prog.buffers[i].name + "' is not bound");
  using Clock = std::chrono::steady_clock;
  for (size_t i = 0; i < prog.launches.size(); ++i) {
    const ProgramLaunch &l = prog.launches[i];
    Clock::time_point start;
    if (profiling)
      start = Clock::now();
    for (int z : l.zero) {
      ZeroArgs args{static_cast<uint8_t *>(bound[z]),
                    prog.buffers[z].bytes(sizes)};
      pool->launch(zeroShare, &args);
    }
    if (l.kernel >= 0) {
      uint8_t *s = argStructs[i].data();
      fillArguments(
          l, s, [&](int b) { return reinterpret_cast<uintptr_t>(bound[b]); });
      pool->launch(entries[l.kernel], s);
    }
    if (profiling) {
      LaunchProfile &p = launchProfile[i];
      p.seconds += std::chrono::duration<double>(Clock::now() - start).count();
      p.flops += l.flops;
      ++p.calls;
    }
    if (launchHook)
      launchHook(i);
  }
  return Status::ok();
}

Result<const void *> CpuExecutor::output(const std::string &name) {
  int i = prog.findBuffer(name);
  if (i < 0 || !prog.buffers[i].produced())
    return Status::error("the program has no output '" + name + "'");
  return static_cast<const void *>(bound[i]);
}

} // namespace colm
