//===- CudaExecutor.cpp - Runs a compiled program on a CUDA GPU -----------===//
#include "runtime/cuda/CudaExecutor.h"

#include "runtime/File.h"
#include "runtime/KernelAbi.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

namespace colm {

using cuda::CUdeviceptr;

void CudaExecutor::dropGraph() {
  const cuda::DriverApi &f = driver->api();
  if (graphExec)
    f.cuGraphExecDestroy(graphExec);
  if (graph)
    f.cuGraphDestroy(graph);
  graphExec = nullptr;
  graph = nullptr;
  graphKey.clear();
}

CudaExecutor::~CudaExecutor() {
  if (!driver)
    return;
  const cuda::DriverApi &f = driver->api();
  if (context)
    f.cuCtxSetCurrent(context);
  dropGraph();
  cublas.reset();
  if (stream)
    f.cuStreamDestroy(stream);
  for (CUdeviceptr p : owned)
    if (p)
      f.cuMemFree(p);
  if (arena)
    f.cuMemFree(arena);
  for (cuda::CUmodule m : modules)
    if (m)
      f.cuModuleUnload(m);
  if (context)
    f.cuDevicePrimaryCtxRelease(dev);
}

Result<std::unique_ptr<CudaExecutor>>
CudaExecutor::create(Program program, std::vector<std::string> images,
                     std::shared_ptr<DynamicLibrary> geometryLibrary,
                     int ordinal) {
  if (Status s = program.validate(); !s)
    return s.withContext("cannot run the program");
  if (images.size() != program.kernels.size())
    return Status::error("the program has " +
                         std::to_string(program.kernels.size()) +
                         " kernels but " + std::to_string(images.size()) +
                         " CUDA modules were given");
  if (!geometryLibrary)
    return Status::error("no launch geometry library for the CUDA kernels");
  COLM_ASSIGN_OR_RETURN(const cuda::Driver *driver, cuda::Driver::get());
  std::unique_ptr<CudaExecutor> e(new CudaExecutor(std::move(program)));
  e->driver = driver;
  e->geometryLibrary = std::move(geometryLibrary);
  COLM_ASSIGN_OR_RETURN(e->info, driver->device(ordinal));
  const cuda::DriverApi &f = driver->api();
  COLM_TRY(e->check(f.cuDeviceGet(&e->dev, ordinal), "cuDeviceGet"));
  COLM_TRY(e->check(f.cuDevicePrimaryCtxRetain(&e->context, e->dev),
                    "cuDevicePrimaryCtxRetain"));
  COLM_TRY(e->check(f.cuCtxSetCurrent(e->context), "cuCtxSetCurrent"));
  COLM_TRY(e->check(f.cuStreamCreate(&e->stream, 0), "cuStreamCreate"));
  const char *graphs = std::getenv("COLM_CUDA_GRAPHS");
  e->graphs = graphs && std::string(graphs) == "1" && f.graphs();
  e->library.assign(images.size(), std::nullopt);
  for (size_t i = 0; i < images.size(); ++i) {
    const ProgramKernel &k = e->prog.kernels[i];
    if (images[i].rfind(kCublasImagePrefix, 0) == 0) {
      // A GEMM cuBLASLt runs: no module; its flags from the image.
      cuda::LtGemm g;
      std::string flags = images[i].c_str() + std::strlen(kCublasImagePrefix);
      auto flag = [&](const char *name) {
        size_t at = flags.find(std::string(name) + "=");
        return at != std::string::npos &&
               flags.compare(at + std::strlen(name) + 1, 1, "1") == 0;
      };
      g.aTransposed = flag("at");
      g.bTransposed = flag("bt");
      g.bf16 = flag("bf16");
      g.accumulate = flag("acc");
      e->library[i] = g;
      if (!e->cublas) {
        auto lt = cuda::CublasLt::get();
        if (!lt)
          return lt.status().withContext("kernel " + k.name +
                                         " is tuned to run on cuBLASLt");
        COLM_ASSIGN_OR_RETURN(e->cublas,
                              cuda::LtSession::create(**lt, *driver));
      }
      e->modules.push_back(nullptr);
      e->functions.push_back(nullptr);
      COLM_ASSIGN_OR_RETURN(
          CudaGeometryFn geo,
          e->geometryLibrary
              ->function<void(const void *, unsigned *, unsigned *)>(
                  k.symbol + "_geometry"));
      e->geometry.push_back(geo);
      continue;
    }
    cuda::CUmodule m = nullptr;
    COLM_TRY(e->check(f.cuModuleLoadData(&m, images[i].data()),
                      ("loading the module of kernel " + k.name).c_str()));
    e->modules.push_back(m);
    cuda::CUfunction fn = nullptr;
    std::string entry = k.symbol + "_kernel";
    COLM_TRY(e->check(f.cuModuleGetFunction(&fn, m, entry.c_str()),
                      ("cuModuleGetFunction " + entry).c_str()));
    e->functions.push_back(fn);
    COLM_ASSIGN_OR_RETURN(
        CudaGeometryFn g,
        e->geometryLibrary
            ->function<void(const void *, unsigned *, unsigned *)>(
                k.symbol + "_geometry"));
    e->geometry.push_back(g);
  }
  if (e->prog.arenaBytes > e->info.memoryBytes)
    return Status::error("the program's buffers need " +
                         std::to_string(e->prog.arenaBytes) +
                         " bytes, more than " + e->info.describe() + " has");
  COLM_TRY(e->check(f.cuMemAlloc(&e->arena, size_t(std::max<int64_t>(
                                                e->prog.arenaBytes, 256))),
                    "cuMemAlloc of the program's arena"));
  COLM_TRY(
      e->check(f.cuMemsetD8(e->arena, 0,
                            size_t(std::max<int64_t>(e->prog.arenaBytes, 256))),
               "cuMemsetD8"));
  size_t n = e->prog.buffers.size();
  e->address.assign(n, 0);
  e->host.assign(n, nullptr);
  e->external.assign(n, false);
  e->owned.assign(n, 0);
  e->ownedBytes.assign(n, 0);
  e->downloaded.resize(n);
  for (size_t i = 0; i < n; ++i)
    if (e->prog.buffers[i].inArena())
      e->address[i] = e->arena + CUdeviceptr(e->prog.buffers[i].offset);
  for (const ProgramLaunch &l : e->prog.launches)
    e->argStructs.emplace_back(size_t(l.argBytes), 0);
  e->dims.resize(e->prog.launches.size());
  return e;
}

Result<std::unique_ptr<CudaExecutor>> CudaExecutor::load(const std::string &dir,
                                                         int ordinal) {
  COLM_ASSIGN_OR_RETURN(Program program, loadProgram(dir));
  if (program.target != "cuda")
    return Status::error(dir + " holds a program for target '" +
                         program.target + "', not cuda");
  std::vector<std::string> images;
  for (const ProgramKernel &k : program.kernels) {
    COLM_ASSIGN_OR_RETURN(std::string image,
                          readFile(dir + "/kernels/" + k.name + ".cubin"));
    images.push_back(std::move(image));
  }
  COLM_ASSIGN_OR_RETURN(DynamicLibrary geometry,
                        DynamicLibrary::open(dir + "/geometry.so"));
  return create(std::move(program), std::move(images),
                std::make_shared<DynamicLibrary>(std::move(geometry)), ordinal);
}

Status CudaExecutor::reserve(size_t i, int64_t bytes) {
  if (ownedBytes[i] >= bytes && owned[i])
    return Status::ok();
  const cuda::DriverApi &f = driver->api();
  if (owned[i])
    f.cuMemFree(owned[i]);
  owned[i] = 0;
  ownedBytes[i] = 0;
  COLM_TRY(
      check(f.cuMemAlloc(&owned[i], size_t(std::max<int64_t>(bytes, 1))),
            ("cuMemAlloc for buffer '" + prog.buffers[i].name + "'").c_str()));
  ownedBytes[i] = bytes;
  return Status::ok();
}

Status CudaExecutor::bind(const std::string &name, const void *data,
                          int64_t bytes) {
  COLM_ASSIGN_OR_RETURN(size_t i, bindable(name, bytes));
  const ProgramBuffer &b = prog.buffers[i];
  COLM_TRY(check(driver->api().cuCtxSetCurrent(context), "cuCtxSetCurrent"));
  COLM_TRY(reserve(i, bytes));
  host[i] = data;
  external[i] = false;
  address[i] = owned[i];
  // Params are copied now; Inputs again at every run.
  if (b.role == BufferRole::Param && bytes > 0)
    COLM_TRY(check(driver->api().cuMemcpyHtoD(owned[i], data, size_t(bytes)),
                   ("copying parameter '" + name + "' to the GPU").c_str()));
  return Status::ok();
}

Status CudaExecutor::bindDevice(const std::string &name, cuda::CUdeviceptr at,
                                int64_t bytes) {
  COLM_ASSIGN_OR_RETURN(size_t i, bindable(name, bytes));
  if (!at && bytes > 0)
    return Status::error("binding '" + name + "' to a null device address");
  host[i] = reinterpret_cast<const void *>(uintptr_t(at ? at : 1));
  external[i] = true;
  address[i] = at;
  return Status::ok();
}

Result<cuda::CUdeviceptr>
CudaExecutor::deviceAddress(const std::string &name) const {
  int i = prog.findBuffer(name);
  if (i < 0 || !prog.buffers[i].produced())
    return Status::error("the program has no output '" + name + "'");
  return address[size_t(i)];
}

Status CudaExecutor::makeCurrent() const {
  return check(driver->api().cuCtxSetCurrent(context), "cuCtxSetCurrent");
}

Status CudaExecutor::run() {
  const cuda::DriverApi &f = driver->api();
  COLM_TRY(check(f.cuCtxSetCurrent(context), "cuCtxSetCurrent"));
  for (size_t i = 0; i < prog.buffers.size(); ++i) {
    const ProgramBuffer &b = prog.buffers[i];
    int64_t bytes = b.bytes(sizes);
    if (b.produced() || b.isView() || bytes == 0)
      continue;
    if (!host[i])
      return Status::error(std::string(bufferRoleName(b.role)) + " '" + b.name +
                           "' is not bound");
    if (b.role != BufferRole::Param && !external[i])
      COLM_TRY(check(f.cuMemcpyHtoD(owned[i], host[i], size_t(bytes)),
                     ("copying input '" + b.name + "' to the GPU").c_str()));
  }
  for (size_t i = 0; i < prog.buffers.size(); ++i)
    if (const ProgramBuffer &b = prog.buffers[i]; b.isView())
      address[i] =
          address[b.viewOf] + CUdeviceptr(b.viewElement * elementBytes(b.type));
  for (auto &d : downloaded)
    d.clear();
  // Every launch's arguments and dimensions at the current sizes and
  // bindings (what a captured graph holds).
  for (size_t i = 0; i < prog.launches.size(); ++i) {
    const ProgramLaunch &l = prog.launches[i];
    if (l.kernel < 0)
      continue;
    uint8_t *s = argStructs[i].data();
    fillArguments(l, s, [&](int b) { return address[size_t(b)]; });
    unsigned grid[3], block[3];
    geometry[l.kernel](s, grid, block);
    dims[i] = {grid[0], grid[1], grid[2], block[0], block[1], block[2]};
  }
  if (graphs && !profiling) {
    std::vector<uint8_t> key;
    for (const auto &a : argStructs)
      key.insert(key.end(), a.begin(), a.end());
    for (const auto &d : dims)
      key.insert(key.end(), reinterpret_cast<const uint8_t *>(d.data()),
                 reinterpret_cast<const uint8_t *>(d.data() + d.size()));
    for (int64_t v : sizes)
      key.insert(key.end(), reinterpret_cast<const uint8_t *>(&v),
                 reinterpret_cast<const uint8_t *>(&v + 1));
    if (!graphExec || key != graphKey) {
      dropGraph();
      COLM_TRY(
          check(f.cuStreamBeginCapture(stream, 0), "cuStreamBeginCapture"));
      Status issued = issue();
      Status ended =
          check(f.cuStreamEndCapture(stream, &graph), "cuStreamEndCapture");
      COLM_TRY(issued);
      COLM_TRY(ended);
      COLM_TRY(check(f.cuGraphInstantiateWithFlags(&graphExec, graph, 0),
                     "cuGraphInstantiateWithFlags"));
      graphKey = std::move(key);
      ++captures;
    } else {
      ++replays;
    }
    COLM_TRY(check(f.cuGraphLaunch(graphExec, stream), "cuGraphLaunch"));
    return check(f.cuStreamSynchronize(stream),
                 "running the program on the GPU");
  }
  std::vector<cuda::CUevent> events;
  auto record = [&]() -> Status {
    cuda::CUevent ev = nullptr;
    COLM_TRY(check(f.cuEventCreate(&ev, 0), "cuEventCreate"));
    events.push_back(ev);
    return check(f.cuEventRecord(ev, stream), "cuEventRecord");
  };
  if (profiling) {
    COLM_TRY(record());
    // One launch at a time, an event after each.
    for (size_t i = 0; i < prog.launches.size(); ++i) {
      COLM_TRY(issueLaunch(i));
      COLM_TRY(record());
    }
  } else {
    COLM_TRY(issue());
  }
  COLM_TRY(
      check(f.cuStreamSynchronize(stream), "running the program on the GPU"));
  if (profiling) {
    for (size_t i = 0; i + 1 < events.size(); ++i) {
      float ms = 0;
      COLM_TRY(check(f.cuEventElapsedTime(&ms, events[i], events[i + 1]),
                     "cuEventElapsedTime"));
      LaunchProfile &p = launchProfile[i];
      p.seconds += ms / 1000.0;
      p.flops += prog.launches[i].flops;
      ++p.calls;
    }
    for (cuda::CUevent ev : events)
      f.cuEventDestroy(ev);
  }
  return Status::ok();
}

Status CudaExecutor::issueLaunch(size_t i) {
  const cuda::DriverApi &f = driver->api();
  const ProgramLaunch &l = prog.launches[i];
  for (int z : l.zero)
    COLM_TRY(
        check(f.cuMemsetD8Async(address[z], 0,
                                size_t(prog.buffers[z].bytes(sizes)), stream),
              "cuMemsetD8Async"));
  if (l.kernel < 0 || dims[i][0] == 0)
    return Status::ok();
  if (const std::optional<cuda::LtGemm> &lib = library[size_t(l.kernel)]) {
    ColmGemmArgs a;
    std::memcpy(&a, argStructs[i].data(), sizeof a);
    return cublas->run(*lib, a, stream)
        .withContext("kernel " + prog.kernels[l.kernel].name);
  }
  void *params[] = {argStructs[i].data()};
  const auto &d = dims[i];
  return check(f.cuLaunchKernel(functions[l.kernel], d[0], d[1], d[2], d[3],
                                d[4], d[5], 0, stream, params, nullptr),
               ("launching " + prog.kernels[l.kernel].name).c_str());
}

Status CudaExecutor::issue() {
  for (size_t i = 0; i < prog.launches.size(); ++i)
    COLM_TRY(issueLaunch(i));
  return Status::ok();
}

Result<const void *> CudaExecutor::output(const std::string &name) {
  int i = prog.findBuffer(name);
  if (i < 0 || !prog.buffers[i].produced())
    return Status::error("the program has no output '" + name + "'");
  std::vector<uint8_t> &d = downloaded[i];
  int64_t bytes = prog.buffers[i].bytes(sizes);
  if (d.size() != size_t(bytes)) {
    d.resize(size_t(bytes));
    COLM_TRY(check(driver->api().cuCtxSetCurrent(context), "cuCtxSetCurrent"));
    if (bytes > 0)
      COLM_TRY(
          check(driver->api().cuMemcpyDtoH(d.data(), address[i], size_t(bytes)),
                ("copying output '" + name + "' from the GPU").c_str()));
  }
  return static_cast<const void *>(d.data());
}

} // namespace colm
