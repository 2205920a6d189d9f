//===- CudaOptimizer.h - AdamW with its state on the GPU --------*- C++ -*-===//
//
// `colm train --backend cuda` keeps the fp32 master weights, the gradients
// and AdamW's moments on the GPU as flat arrays (one layout: the
// parameters in name order), and updates them in place with the generated
// AdamW kernels (compiler/codegen/cuda/RenderAdamW.h): the squared norm in
// fixed blocks, summed on the host in block order (a few KB), the clipping
// factor, then the update. The step program reads its parameters where
// they lie (CudaExecutor::bindDevice) and its gradients are gathered
// device to device, so a step moves no parameter, gradient or moment over
// PCIe; they come back to the host only for checkpoints, evaluation and
// the end of the run (download()).
//
// The update is bit for bit runtime/Optimizer's for the same gradients and
// clipping factor; the norm is summed in another order within each block
// (equal within rounding), so a clipped step can differ from the host's in
// the last bits. Checkpoints have the host format, so a run resumes on
// either backend. SGD stays on the host (there is no SGD kernel).
//
// Sharded (data-parallel training on several GPUs, ZeRO stage 1): the
// trainable entries are packed (dist::GpuExchange) and each rank keeps
// AdamW's moments and the master weights of its slice of the packed vector
// only; a step reduce-scatters the packed gradients with NCCL, updates the
// slice with the same kernels (their segments cut to the slice), and
// all-gathers the slices into every rank's flat weights.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CUDAOPTIMIZER_H
#define COLM_COMPILER_CUDAOPTIMIZER_H

#include "compiler/codegen/AdamW.h"
#include "runtime/DynamicLibrary.h"
#include "runtime/Optimizer.h"
#include "runtime/Tensor.h"
#include "runtime/cuda/CudaExecutor.h"
#include "runtime/dist/GpuExchange.h"

#include <functional>

#include <memory>
#include <string>
#include <vector>

namespace colm {

class CudaOptimizer {
public:
  /// ZeRO-1 across the ranks of `comm` (see above).
  struct Sharding {
    std::shared_ptr<dist::Communicator> comm;
    ModelConfig model;
    int frozenChains = 0;
  };

  /// The state of `host` (an AdamW optimizer, its moments and step count)
  /// and `params` copied to device `ordinal`; the AdamW kernels compiled
  /// for it (NVRTC, or emulator builds under $COLM_CUDA_SIM_IMAGES=1).
  static Result<std::unique_ptr<CudaOptimizer>>
  create(const Optimizer &host, const TensorMap &params, int ordinal,
         const Sharding *sharding = nullptr);
  ~CudaOptimizer();
  CudaOptimizer(const CudaOptimizer &) = delete;
  CudaOptimizer &operator=(const CudaOptimizer &) = delete;

  /// Binds every Param buffer of `e` to its place in the flat weights.
  Status bind(CudaExecutor &e) const;

  /// One optimizer step (1-based `step`, as Optimizer::step) from the
  /// gradient outputs ("grad.<name>") of `e`'s last run. A non-finite
  /// gradient norm is an error and changes nothing; an update that makes a
  /// weight non-finite is an error too (the state is then spoiled: resume
  /// from the last checkpoint).
  Result<StepStats> step(CudaExecutor &e, int64_t step);

  /// The weights into `params`, and the moments and step count into `host`
  /// (whose checkpoint tensors then describe this state). Sharded, every
  /// rank must call it (the moments are gathered).
  Status download(TensorMap &params, Optimizer &host) const;

  int64_t stepCount() const { return steps; }

  /// Sharded: this rank's share of the global batch, which weights its
  /// gradient in the sum over ranks (1 by default).
  void setShareOfBatch(double share) { batchShare = share; }
  /// Sharded: the exchange (null otherwise).
  const dist::GpuExchange *exchange() const { return shards.get(); }

private:
  CudaOptimizer() = default;
  Status launch(int which, const ColmAdamWArgs &args) const;
  /// Squared norm over the trainable entries of `values` (weights or
  /// gradients), by the SumSquares kernel.
  Result<double> sumSquares(cuda::CUdeviceptr values) const;
  /// The flat arrays' layout (in elements).
  std::vector<dist::FlatParam> layout() const;
  /// Sharded: the kernels' segments cut to this rank's slice of the packed
  /// vector, and the slice's arrays.
  Status shard(const Sharding &sharding, const Optimizer &host);
  /// Sharded: the full moment tensors from the slices (collective).
  Status gatherMoments(cuda::CUdeviceptr slice, const std::string &prefix,
                       TensorMap &state) const;

  struct Param {
    std::string name;
    std::vector<int64_t> shape;
    int64_t offset = 0, size = 0;
  };
  const cuda::Driver *driver = nullptr;
  cuda::CUdevice dev = 0;
  cuda::CUcontext context = nullptr;
  OptimizerConfig cfg;
  std::vector<Param> params;
  codegen::AdamWSpec update, sumsq;
  int64_t entries = 0, blocks = 0;
  int64_t steps = 0;
  cuda::CUdeviceptr weights = 0, grads = 0, expAvg = 0, expAvgSq = 0,
                    partials = 0, maskTable = 0;
  std::vector<cuda::CUdeviceptr> masks;
  std::vector<cuda::CUmodule> modules;
  cuda::CUfunction functions[2] = {};
  CudaGeometryFn geometry[2] = {};
  std::shared_ptr<DynamicLibrary> geometryLibrary;
  std::shared_ptr<dist::Communicator> comm;
  std::unique_ptr<dist::GpuExchange> shards;
  cuda::CUdeviceptr sliceWeights = 0, sliceGrads = 0;
  double batchShare = 1;
};

} // namespace colm

#endif // COLM_COMPILER_CUDAOPTIMIZER_H
