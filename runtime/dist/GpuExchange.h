//===- GpuExchange.h - Gradient all-reduce on GPUs with NCCL ----*- C++ -*-===//
//
// `colm train --backend cuda --distributed`: every rank drives one GPU and
// keeps the GPU optimizer (compiler/CudaOptimizer.h) with its flat arrays.
// Between gathering the step's gradients and the update, this sums them
// over the ranks with NCCL: the trainable blocks of each parameter (never
// the zero blocks above the chain diagonal, never a frozen chain) are
// packed with strided device copies, all-reduced in buckets with NCCL's
// pre-multiplied sum (each rank's gradient times its share of the batch),
// and unpacked. Every rank then runs the same update on the same gradient.
// NCCL's unique id travels over MPI; every wait has the job's collective
// timeout (the communicator is aborted when it passes).
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
  static Result<std::unique_ptr<GpuExchange>>
  create(std::shared_ptr<Communicator> comm, cuda::CUcontext context,
         const ModelConfig &model, int frozenChains,
         const std::vector<FlatParam> &layout, int64_t bucketBytes);
  ~GpuExchange();
  GpuExchange(const GpuExchange &) = delete;
  GpuExchange &operator=(const GpuExchange &) = delete;

  /// grads (the flat device array of `layout`) = the sum over ranks of
  /// weight x grads, on the trainable entries.
  Status allReduce(cuda::CUdeviceptr grads, double weight,
                   const std::string &what);
  /// A collective failed or timed out: abort the job.
  bool broken() const { return failed; }
  int64_t bucketCount() const { return int64_t(buckets.size()); }
  int64_t trainableEntries() const { return total; }
  /// "NCCL 2.28.9".
  std::string name() const;

private:
  GpuExchange() = default;
  /// Rows [row, row + rows) x columns [column, column + width) of the
  /// parameter at `offset` (`columns` per row) <-> packed from `packed`.
  struct Block {
    int64_t offset = 0, columns = 0, row = 0, rows = 0, column = 0, width = 0;
    int64_t packed = 0;
  };
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
  std::vector<std::pair<int64_t, int64_t>> buckets; ///< packed ranges
  int64_t total = 0;
  bool failed = false;
};

} // namespace colm::dist

#endif // COLM_RUNTIME_DIST_GPUEXCHANGE_H
