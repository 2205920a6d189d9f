//===- GpuExchange.h - Gradient all-reduce on GPUs with NCCL ----*- C++ -*-===//
//
// `colm train --backend cuda --distributed`: every rank drives one GPU and
// keeps the GPU optimizer (compiler/CudaOptimizer.h) with its flat arrays.
// This moves its gradients and weights between the ranks with NCCL: the
// trainable blocks of each parameter (never the zero blocks above the
// chain diagonal, never a frozen chain) are packed with strided device
// copies into one vector, padded to a multiple of the ranks; rank r owns
// slice r of it (ZeRO-1). The packed gradients are reduce-scattered with
// NCCL's pre-multiplied sum (each rank's gradient times its share of the
// batch), and the updated slices all-gathered and unpacked into the flat
// weights. NCCL's unique id travels over MPI; every wait has the job's
// collective timeout (the communicator is aborted when it passes).
//
//===----------------------------------------------------------------------===//
#ifndef COLM_RUNTIME_DIST_GPUEXCHANGE_H
#define COLM_RUNTIME_DIST_GPUEXCHANGE_H

#include "runtime/Config.h"
#include "runtime/cuda/CudaDriver.h"
#include "runtime/dist/Communicator.h"
#include "runtime/dist/Nccl.h"

#include <memory>
#include <string>
#include <vector>

namespace colm::dist {

/// A parameter's place in a flat device array (in elements).
struct FlatParam {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0;
};

class GpuExchange {
public:
  /// Rows [row, row + rows) x columns [column, column + width) of parameter
  /// `param` of the layout (at `offset`, `columns` per row) <-> entries
  /// [packed, packed + rows x width) of the packed vector.
  struct Block {
    size_t param = 0;
    bool decay = false; ///< a matrix (weight decay applies)
    int64_t offset = 0, columns = 0, row = 0, rows = 0, column = 0, width = 0;
    int64_t packed = 0;
  };

  static Result<std::unique_ptr<GpuExchange>>
  create(std::shared_ptr<Communicator> comm, cuda::CUcontext context,
         const ModelConfig &model, int frozenChains,
         const std::vector<FlatParam> &layout);
  ~GpuExchange();
  GpuExchange(const GpuExchange &) = delete;
  GpuExchange &operator=(const GpuExchange &) = delete;

  /// ZeRO-1 on the packed vector (padded to a multiple of the ranks): this
  /// rank owns entries [sliceBegin(), sliceBegin() + sliceEntries()).
  int64_t sliceBegin() const { return int64_t(comm->rank()) * slice; }
  int64_t sliceEntries() const { return slice; }
  const std::vector<Block> &trainableBlocks() const { return blocks; }
  /// This rank's slice of the sum over ranks of weight x grads (packed from
  /// the flat array) into `out` (sliceEntries() floats).
  Status reduceScatter(cuda::CUdeviceptr grads, double weight,
                       cuda::CUdeviceptr out, const std::string &what);
  /// Every rank's slice into the packed vector, unpacked into the flat
  /// array `flat` (when not 0).
  Status allGather(cuda::CUdeviceptr mine, cuda::CUdeviceptr flat,
                   const std::string &what);
  /// The packed vector (padded) in host memory, after allGather.
  Result<std::vector<float>> packedToHost() const;
  /// This rank's slice of the flat array `flat`, packed, into `out`.
  Status sliceOf(cuda::CUdeviceptr flat, cuda::CUdeviceptr out);

  /// A collective failed or timed out: abort the job.
  bool broken() const { return failed; }
  int64_t trainableEntries() const { return total; }
  /// "NCCL 2.28.9".
  std::string name() const;

private:
  GpuExchange() = default;
  Status copy(cuda::CUdeviceptr grads, bool pack);
  Status waitStream(const std::string &what);

  std::shared_ptr<Communicator> comm;
  const cuda::Driver *driver = nullptr;
  const Nccl *nccl = nullptr;
  cuda::CUcontext context = nullptr;
  cuda::CUstream stream = nullptr;
  ncclComm nc = nullptr;
  cuda::CUdeviceptr packed = 0;
  std::vector<Block> blocks;
  int64_t total = 0, slice = 0;
  bool failed = false;
};

} // namespace colm::dist

#endif // COLM_RUNTIME_DIST_GPUEXCHANGE_H
