//===- DataParallel.h - Data-parallel training with sharded AdamW -*- C++
//-*-===//
//
// Every rank runs the compiled training step on its rows of the global
// batch; this moves gradients and parameters between the ranks:
//
//  - The trainable entries of every parameter (spec/colm.md section 4:
//    never the blocks above the chain diagonal, never a frozen chain) form
//    one flat vector, its parameters in the order their gradients become
//    final in the step program, cut into buckets. Frozen chains and zero
//    blocks are never sent.
//  - Each bucket is reduce-scattered as soon as the launch that finishes
//    its last gradient returns (Executor::setLaunchHook), while the
//    backward pass goes on; each rank's gradient is weighted by its share
//    of the batch, so the sum is the global batch's mean gradient.
//  - ZeRO stage 1: rank r owns a contiguous slice of the flat vector and
//    AdamW's moments for it only; it updates that slice with the host
//    optimizer's arithmetic (updateShard) and the slices are all-gathered.
//  - The loss, every rank's bad-batch flag and the squared gradient norm
//    travel in one all-reduce, so every rank takes the same decision.
//
// Checkpoints keep the single-process format (stateTensors gathers the
// moments on rank 0), so a run resumes on any number of ranks.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_RUNTIME_DIST_DATAPARALLEL_H
#define COLM_RUNTIME_DIST_DATAPARALLEL_H

#include "runtime/Config.h"
#include "runtime/Executor.h"
#include "runtime/Optimizer.h"
#include "runtime/Safetensors.h"
#include "runtime/dist/Communicator.h"

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace colm::dist {

/// The launch after which each gradient output ("grad.<param>" -> param)
/// of `program` is final: the last launch that touches its memory.
std::map<std::string, int64_t> gradientReadiness(const Program &program);
/// The parameters of those gradients, the first final first (ties by name):
/// DataParallel::create's `order`.
std::vector<std::string> gradientOrder(const Program &program);

/// Rows [first, second) of a global batch of `rows` that rank `rank` of
/// `ranks` computes (contiguous, sizes differing by at most one).
std::pair<int64_t, int64_t> rowsOf(int64_t rows, int rank, int ranks);

/// Checks (collectively) that every rank starts from the same weights and
/// optimizer settings; the error names the ranks that differ from rank 0.
Status checkSameStart(Communicator &comm, const OptimizerConfig &config,
                      int frozenChains, const ModelConfig &model,
                      const TensorMap &weights);

/// One all-reduce of every rank's loss and sub-model losses, each weighted
/// by `weight` (its share of the batch), so that they become the global
/// batch's, and of `extra` (summed); a rank whose loss is not finite is an
/// error naming it, on every rank.
Status agreeOnLoss(Communicator &comm, const std::string &what, double weight,
                   double &loss, std::map<unsigned, double> &subModelLoss,
                   std::vector<double> &extra);

struct DataParallelOptions {
  /// Bytes of gradient per bucket (the last one may be smaller).
  int64_t bucketBytes = int64_t(4) << 20;
};

/// What one step exchanged, for logs and benchmarks.
struct ExchangeStats {
  /// Buckets started while the step program still ran.
  int64_t overlapped = 0;
  /// Seconds spent waiting for collectives after the program returned.
  double waitSeconds = 0;
};

class DataParallel {
public:
  /// `order`: parameter names, those whose gradients become final first
  /// first (gradientReadiness); rank 0's order is the one used. Checks
  /// that every rank holds the same weights and settings (collective).
  static Result<std::unique_ptr<DataParallel>>
  create(std::shared_ptr<Communicator> comm, const OptimizerConfig &config,
         const ModelConfig &model, int frozenChains, const TensorMap &params,
         const std::vector<std::string> &order,
         const DataParallelOptions &options = {});

  Communicator &communicator() { return *comm; }
  int rank() const { return comm->rank(); }
  int ranks() const { return comm->size(); }
  /// Entries of the flat vector, and this rank's slice of it.
  int64_t trainableEntries() const { return total; }
  int64_t sliceEntries() const { return sliceEnd - sliceBegin; }
  int64_t bucketCount() const { return int64_t(buckets.size()); }

  /// A step of `globalRows` rows, of which this rank runs `localRows`.
  void beginStep(int64_t step, int64_t localRows, int64_t globalRows);
  /// Launch `launch` of the step program run by `e` returned: starts every
  /// bucket whose gradients are now final (in bucket order).
  void launchFinished(const Executor &e, size_t launch);
  /// After the step program: starts the buckets not started yet (from
  /// `grads`, which must then hold their gradients), agrees on the loss and
  /// the gradient norm, updates this rank's slice and all-gathers the
  /// parameters into `params`. `loss` and `subModelLoss` become the global
  /// batch's. Errors (a rank's non-finite loss, a non-finite norm or
  /// update) are the same on every rank unless broken().
  Result<StepStats> finishStep(TensorMap &params, const TensorMap &grads,
                               double &loss,
                               std::map<unsigned, double> &subModelLoss);
  /// A collective failed or timed out: the ranks no longer agree on where
  /// they are, and the job must be aborted.
  bool broken() const { return failedCollective; }
  const ExchangeStats &lastExchange() const { return exchange; }

  /// Optimizer::stateTensors() of the whole run, on rank 0 (the others get
  /// an empty map). Collective.
  Result<TensorMap> stateTensors();
  /// Optimizer::loadState's format (what a checkpoint holds): every rank
  /// keeps its slice.
  Status loadState(const TensorMap &state);
  int64_t stepCount() const { return steps; }

private:
  DataParallel() = default;
  struct Segment {
    int64_t begin = 0, length = 0, flat = 0; ///< in the parameter, the vector
  };
  struct Param {
    std::string name;
    std::vector<int64_t> shape;
    bool decay = false;
    std::vector<Segment> segments;
    int64_t flatBegin = 0, flatEnd = 0;
  };
  struct Bucket {
    std::vector<size_t> params;
    int64_t flatBegin = 0, flatEnd = 0;
    std::vector<int64_t> counts; ///< its entries in each rank's slice
  };
  /// A bucket's collective in flight, in its staging buffer.
  struct InFlight {
    size_t bucket = 0, buffer = 0;
    Communicator::Request request = 0;
    bool gather = false; ///< an all-gather of updated weights
  };
  /// `bucket` holds the bucket's entries from flat offset 0 on (offset by
  /// its flatBegin).
  void pack(float *bucket, const Param &p, const float *grad);
  /// Packs bucket `b` (each parameter's gradient from `gradient`) and
  /// starts its reduce-scatter.
  Status
  startBucket(size_t b,
              const std::function<Result<const float *>(size_t)> &gradient);
  /// A free staging buffer, waiting for the oldest collective when none is.
  Result<size_t> takeBuffer();
  /// Waits for the oldest collective in flight and frees its buffer (an
  /// all-gather's entries go into *gatherInto first).
  Status retireOldest();
  Status waitFor(Communicator::Request r);
  std::vector<int64_t> sliceCounts() const;
  Status fail(const std::string &message);

  std::shared_ptr<Communicator> comm;
  OptimizerConfig cfg;
  ModelConfig modelConfig;
  int frozen = 0;
  /// Every parameter's name and shape (the checkpoint's moments).
  std::vector<std::pair<std::string, std::vector<int64_t>>> stateShapes;
  Status pendingError;
  std::vector<Param> params;
  std::vector<Bucket> buckets;
  int64_t total = 0, sliceBegin = 0, sliceEnd = 0;
  std::vector<int64_t> sliceStarts;
  /// This rank's slice: the summed gradient, the moments, the updated
  /// weights.
  std::vector<float> grad, expAvg, expAvgSq, updated;
  std::vector<std::vector<float>> staging;
  std::vector<size_t> freeBuffers;
  std::deque<InFlight> inFlight;
  TensorMap *gatherInto = nullptr;
  /// The first parameter an update made non-finite.
  std::string nonFinite;
  int64_t steps = 0, currentStep = 0;
  double weight = 1;
  size_t nextBucket = 0;
  /// Per bucket: the launch after which it is ready, for the program last
  /// seen (by address).
  const Program *readinessOf = nullptr;
  std::vector<int64_t> readyAfter;
  bool failedCollective = false;
  ExchangeStats exchange;
};

} // namespace colm::dist

#endif // COLM_RUNTIME_DIST_DATAPARALLEL_H
