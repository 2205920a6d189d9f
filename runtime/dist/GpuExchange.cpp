//===- GpuExchange.cpp - Gradient all-reduce on GPUs with NCCL ------------===//
#include "runtime/dist/GpuExchange.h"

#include "runtime/Model.h"
#include "runtime/Optimizer.h"

#include <chrono>
#include <map>
#include <thread>

namespace colm::dist {

namespace {
constexpr int kNotReady = 600; // CUDA_ERROR_NOT_READY
} // namespace

Result<std::unique_ptr<GpuExchange>>
GpuExchange::create(std::shared_ptr<Communicator> comm, cuda::CUcontext context,
                    const ModelConfig &model, int frozenChains,
                    const std::vector<FlatParam> &layout) {
  std::unique_ptr<GpuExchange> x(new GpuExchange);
  x->comm = std::move(comm);
  x->context = context;
  COLM_ASSIGN_OR_RETURN(x->driver, cuda::Driver::get());
  Result<const Nccl *> nccl = Nccl::get();
  // Every rank must agree before the id travels: one without NCCL stops all.
  COLM_TRY(agree(*x->comm, nccl.status(), "loading NCCL", true));
  x->nccl = *nccl;
  const cuda::DriverApi &f = x->driver->api();
  COLM_TRY(x->driver->check(f.cuCtxSetCurrent(context), "cuCtxSetCurrent"));

  // The trainable blocks: runs of trainable columns, merged over the
  // consecutive rows that share them (a chain's block of a chain linear is
  // one strided copy).
  std::map<std::string, ParamSpec> specs;
  for (const ParamSpec &s : modelParams(model))
    specs.emplace(s.name, s);
  for (size_t pi = 0; pi < layout.size(); ++pi) {
    const FlatParam &p = layout[pi];
    auto it = specs.find(p.name);
    if (it == specs.end())
      return Status::error("data-parallel training: the model has no "
                           "parameter '" +
                           p.name + "'");
    std::vector<uint8_t> mask = trainableMask(model, it->second, frozenChains);
    int64_t columns = p.shape.empty() ? 1 : p.shape.back();
    int64_t rows = columns ? int64_t(mask.size()) / columns : 0;
    std::vector<size_t> open; // blocks that may grow by the next row
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<size_t> next;
      for (int64_t c = 0; c < columns;) {
        if (!mask[size_t(r * columns + c)]) {
          ++c;
          continue;
        }
        int64_t e = c;
        while (e < columns && mask[size_t(r * columns + e)])
          ++e;
        size_t grown = SIZE_MAX;
        for (size_t b : open)
          if (x->blocks[b].column == c && x->blocks[b].width == e - c)
            grown = b;
        if (grown == SIZE_MAX) {
          x->blocks.push_back(
              {pi, p.shape.size() == 2, p.offset, columns, r, 0, c, e - c, 0});
          grown = x->blocks.size() - 1;
        }
        ++x->blocks[grown].rows;
        next.push_back(grown);
        c = e;
      }
      open = std::move(next);
    }
  }
  for (Block &b : x->blocks) {
    b.packed = x->total;
    x->total += b.rows * b.width;
  }
  int n = x->comm->size();
  x->slice = (x->total + n - 1) / n;
  size_t bytes = size_t(std::max<int64_t>(x->slice * n, 1)) * 4;
  COLM_TRY(x->driver->check(f.cuMemAlloc(&x->packed, bytes),
                            "allocating the gradient exchange's buffer"));
  COLM_TRY(x->driver->check(f.cuMemsetD8(x->packed, 0, bytes),
                            "clearing the gradient exchange's buffer"));
  COLM_TRY(x->driver->check(f.cuStreamCreate(&x->stream, 0),
                            "creating the exchange's stream"));

  // One NCCL communicator over the MPI job's ranks.
  ncclUniqueId id{};
  Status made = Status::ok();
  if (x->comm->rank() == 0)
    made =
        x->nccl->check(x->nccl->api().ncclGetUniqueId(&id), "ncclGetUniqueId");
  COLM_TRY(agree(*x->comm, made, "creating NCCL's unique id", true));
  COLM_TRY(x->comm->broadcastNow(&id, sizeof id, 0, "NCCL's unique id"));
  Status init =
      x->nccl->check(x->nccl->api().ncclCommInitRank(&x->nc, x->comm->size(),
                                                     id, x->comm->rank()),
                     "ncclCommInitRank");
  COLM_TRY(agree(*x->comm, init, "starting NCCL", true));
  return x;
}

GpuExchange::~GpuExchange() {
  if (!driver)
    return;
  const cuda::DriverApi &f = driver->api();
  f.cuCtxSetCurrent(context);
  if (nc)
    failed ? nccl->api().ncclCommAbort(nc) : nccl->api().ncclCommDestroy(nc);
  if (stream)
    f.cuStreamDestroy(stream);
  if (packed)
    f.cuMemFree(packed);
}

std::string GpuExchange::name() const {
  return "NCCL " + (nccl ? nccl->version() : std::string("?"));
}

Status GpuExchange::copy(cuda::CUdeviceptr grads, bool pack) {
  const cuda::DriverApi &f = driver->api();
  for (const Block &b : blocks) {
    cuda::Memcpy2D c;
    cuda::CUdeviceptr param = grads + cuda::CUdeviceptr(b.offset) * 4;
    cuda::CUdeviceptr dense = packed + cuda::CUdeviceptr(b.packed) * 4;
    size_t pitch = size_t(b.columns) * 4, width = size_t(b.width) * 4;
    if (pack) {
      c.srcDevice = param;
      c.srcXInBytes = size_t(b.column) * 4;
      c.srcY = size_t(b.row);
      c.srcPitch = pitch;
      c.dstDevice = dense;
      c.dstPitch = width;
    } else {
      c.srcDevice = dense;
      c.srcPitch = width;
      c.dstDevice = param;
      c.dstXInBytes = size_t(b.column) * 4;
      c.dstY = size_t(b.row);
      c.dstPitch = pitch;
    }
    c.WidthInBytes = width;
    c.Height = size_t(b.rows);
    COLM_TRY(driver->check(f.cuMemcpy2DAsync(&c, stream),
                           pack ? "packing the trainable gradients"
                                : "unpacking the summed gradients"));
  }
  return Status::ok();
}

Status GpuExchange::waitStream(const std::string &what) {
  const cuda::DriverApi &f = driver->api();
  auto start = std::chrono::steady_clock::now();
  for (int64_t spins = 0;; ++spins) {
    int rc = f.cuStreamQuery(stream);
    if (rc == 0)
      return Status::ok();
    if (rc != kNotReady) {
      failed = true;
      return driver->check(rc, what.c_str());
    }
    ncclResult async = kNcclSuccess;
    nccl->api().ncclCommGetAsyncError(nc, &async);
    if (async != kNcclSuccess && async != kNcclInProgress) {
      failed = true;
      return nccl->check(async, what);
    }
    double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    if (waited > comm->timeout()) {
      failed = true;
      return Status::error(what + " did not complete within " +
                           std::to_string(int64_t(comm->timeout())) +
                           " s on the GPU (a rank died or hung; "
                           "--collective-timeout sets the limit)");
    }
    if (spins > 1000)
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

Status GpuExchange::reduceScatter(cuda::CUdeviceptr grads, double weight,
                                  cuda::CUdeviceptr out,
                                  const std::string &what) {
  const cuda::DriverApi &f = driver->api();
  const NcclApi &n = nccl->api();
  COLM_TRY(driver->check(f.cuCtxSetCurrent(context), "cuCtxSetCurrent"));
  COLM_TRY(copy(grads, true));
  float scalar = float(weight);
  int op = 0;
  COLM_TRY(nccl->check(n.ncclRedOpCreatePreMulSum(&op, &scalar, kNcclFloat32,
                                                  kNcclScalarHostImmediate, nc),
                       "ncclRedOpCreatePreMulSum"));
  Status s = nccl->check(n.ncclReduceScatter(reinterpret_cast<void *>(packed),
                                             reinterpret_cast<void *>(out),
                                             size_t(slice), kNcclFloat32, op,
                                             nc, stream),
                         "ncclReduceScatter of the gradients of " + what);
  if (!s) {
    failed = true;
    return s;
  }
  COLM_TRY(nccl->check(n.ncclRedOpDestroy(op, nc), "ncclRedOpDestroy"));
  return waitStream("the gradient reduce-scatter of " + what);
}

Status GpuExchange::allGather(cuda::CUdeviceptr mine, cuda::CUdeviceptr flat,
                              const std::string &what) {
  const cuda::DriverApi &f = driver->api();
  COLM_TRY(driver->check(f.cuCtxSetCurrent(context), "cuCtxSetCurrent"));
  Status s = nccl->check(
      nccl->api().ncclAllGather(reinterpret_cast<void *>(mine),
                                reinterpret_cast<void *>(packed), size_t(slice),
                                kNcclFloat32, nc, stream),
      "ncclAllGather of " + what);
  if (!s) {
    failed = true;
    return s;
  }
  if (flat)
    COLM_TRY(copy(flat, false));
  return waitStream("the all-gather of " + what);
}

Result<std::vector<float>> GpuExchange::packedToHost() const {
  std::vector<float> host(size_t(slice) * size_t(comm->size()));
  COLM_TRY(driver->check(
      driver->api().cuMemcpyDtoH(host.data(), packed, host.size() * 4),
      "copying the packed vector from the GPU"));
  return host;
}

Status GpuExchange::sliceOf(cuda::CUdeviceptr flat, cuda::CUdeviceptr out) {
  const cuda::DriverApi &f = driver->api();
  COLM_TRY(driver->check(f.cuCtxSetCurrent(context), "cuCtxSetCurrent"));
  COLM_TRY(copy(flat, true));
  COLM_TRY(driver->check(f.cuStreamSynchronize(stream), "packing"));
  return driver->check(
      f.cuMemcpyDtoD(out, packed + cuda::CUdeviceptr(sliceBegin()) * 4,
                     size_t(slice) * 4),
      "copying this rank's slice");
}

} // namespace colm::dist
