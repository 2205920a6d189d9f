//===- Communicator.h - Collectives between the ranks of a job --*- C++ -*-===//
//
// What data-parallel training needs from a transport: nonblocking
// collectives in the same order on every rank, each waited for with a
// deadline. MPI (Open MPI) implements it for host memory in a plugin,
// libcolm-mpi.so, loaded only by --distributed, so that colm runs and builds
// without MPI. Every wait has a timeout: a rank that died or hangs makes the
// others give up with a message naming it instead of waiting forever (each
// rank tells rank 0 which collective it reached, and rank 0 tells the
// others, so the message names the rank that did not arrive).
//
//===----------------------------------------------------------------------===//
#ifndef COLM_RUNTIME_DIST_COMMUNICATOR_H
#define COLM_RUNTIME_DIST_COMMUNICATOR_H

#include "runtime/Status.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace colm::dist {

class Communicator {
public:
  /// One outstanding collective.
  using Request = int64_t;

  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// "Open MPI v4.1.4", for messages and logs.
  virtual std::string name() const = 0;

  /// Every call below starts a collective that every rank must start in the
  /// same order; `what` names it in messages ("gradient bucket 2 of
  /// step 7"). Buffers must stay untouched until wait() returns.
  ///
  /// recv (counts[rank()] floats) = the sum over ranks of their `send`
  /// (sum(counts) floats) at offset counts[0] + ... + counts[rank()-1].
  virtual Result<Request> reduceScatterSum(const float *send, float *recv,
                                           const std::vector<int64_t> &counts,
                                           const std::string &what) = 0;
  /// all (sum(counts) floats) = every rank's `mine` (counts[r] floats) in
  /// rank order.
  virtual Result<Request> allGather(const float *mine, float *all,
                                    const std::vector<int64_t> &counts,
                                    const std::string &what) = 0;
  /// As allGather, but only rank `root` receives (`all` may be null
  /// elsewhere).
  virtual Result<Request> gather(const float *mine, float *all,
                                 const std::vector<int64_t> &counts, int root,
                                 const std::string &what) = 0;
  /// data[i] = the sum over ranks of data[i], in place.
  virtual Result<Request> allReduceSum(double *data, int64_t n,
                                       const std::string &what) = 0;
  /// `bytes` of `data` from rank `root` to every rank.
  virtual Result<Request> broadcast(void *data, int64_t bytes, int root,
                                    const std::string &what) = 0;
  /// Lets outstanding collectives progress without waiting (MPI makes
  /// progress only inside its calls).
  virtual void progress() = 0;
  /// Waits for `r` at most timeout() seconds; the error says which rank did
  /// not arrive when that is known.
  virtual Status wait(Request r) = 0;
  /// False once a collective failed or timed out: the ranks no longer agree
  /// on where they are, and only abort() ends the job safely.
  virtual bool healthy() const = 0;
  /// Ends the whole job now (every rank), with exit status `code`.
  [[noreturn]] virtual void abort(int code) = 0;

  void setTimeout(double seconds) { timeoutSeconds = seconds; }
  double timeout() const { return timeoutSeconds; }

  /// Starts and waits.
  Status allReduceSumNow(double *data, int64_t n, const std::string &what);
  Status broadcastNow(void *data, int64_t bytes, int root,
                      const std::string &what);

protected:
  double timeoutSeconds = 300;
};

/// The one rank of a job without MPI: every collective is a copy.
class SoloCommunicator final : public Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "one process"; }
  Result<Request> reduceScatterSum(const float *send, float *recv,
                                   const std::vector<int64_t> &counts,
                                   const std::string &what) override;
  Result<Request> allGather(const float *mine, float *all,
                            const std::vector<int64_t> &counts,
                            const std::string &what) override;
  Result<Request> gather(const float *mine, float *all,
                         const std::vector<int64_t> &counts, int root,
                         const std::string &what) override;
  Result<Request> allReduceSum(double *, int64_t,
                               const std::string &) override {
    return Request(0);
  }
  Result<Request> broadcast(void *, int64_t, int,
                            const std::string &) override {
    return Request(0);
  }
  void progress() override {}
  Status wait(Request) override { return Status::ok(); }
  bool healthy() const override { return true; }
  [[noreturn]] void abort(int code) override;
};

/// Every rank's verdict on a step of the job that any rank can fail (a
/// file it cannot read, a bad batch): ok only when every rank's `local` is.
/// A rank whose own status failed returns it; the others return an error
/// with an empty message (the failing rank reports it, so that the job
/// prints one message) unless `loud`, when they name the ranks that failed.
Status agree(Communicator &comm, const Status &local, const std::string &what,
             bool loud = false);

/// Loads libcolm-mpi.so ($COLM_MPI_PLUGIN, else next to the colm binary's
/// lib directory, else the loader's search path) and initialises MPI (once
/// per process; MPI_Finalize runs at exit).
Result<std::shared_ptr<Communicator>> openMpi();

/// Splits this machine's cores between its ranks: sets COLM_THREADS to
/// cores / localRanks() unless it is set or the launcher bound the rank to
/// fewer cores already.
void shareCores();

/// One GPU per rank on each machine: sets COLM_CUDA_DEVICE to this rank's
/// place among the machine's ranks (OMPI_COMM_WORLD_LOCAL_RANK) unless it is
/// set.
void pickLocalGpu();

/// The ranks on this machine (Open MPI's OMPI_COMM_WORLD_LOCAL_SIZE, else
/// MPI's and Slurm's equivalents), 1 when not launched by one of them: the
/// cores are split between them.
int localRanks();

/// What the plugin exports (extern "C"): a new communicator over
/// MPI_COMM_WORLD, or null with the reason in `error`.
using OpenMpiFn = Communicator *(char *error, int64_t errorBytes);

} // namespace colm::dist

#endif // COLM_RUNTIME_DIST_COMMUNICATOR_H
