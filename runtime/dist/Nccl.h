//===- Nccl.h - NCCL, loaded at run time -------------------------*- C++
//-*-===//
//
// The entry points of libnccl.so.2 that data-parallel training on GPUs
// uses, loaded with dlopen like the CUDA driver: colm builds without NCCL
// and needs it only for --backend cuda --distributed. $COLM_NCCL names the
// library (tests load a fake), else the CUDA toolkit's lib64, else the
// loader's search path.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_RUNTIME_DIST_NCCL_H
#define COLM_RUNTIME_DIST_NCCL_H

#include "runtime/Status.h"
#include "runtime/cuda/CudaDriver.h"

#include <string>

namespace colm::dist {

using ncclResult = int;
using ncclComm = void *;
struct ncclUniqueId {
  char internal[128];
};
enum : int { kNcclSuccess = 0, kNcclInProgress = 7 };
enum : int { kNcclFloat32 = 7, kNcclFloat64 = 8 };
enum : int { kNcclSum = 0 };
enum : int { kNcclScalarHostImmediate = 1 };

struct NcclApi {
  ncclResult (*ncclGetVersion)(int *);
  ncclResult (*ncclGetUniqueId)(ncclUniqueId *);
  ncclResult (*ncclCommInitRank)(ncclComm *, int, ncclUniqueId, int);
  ncclResult (*ncclCommDestroy)(ncclComm);
  ncclResult (*ncclCommAbort)(ncclComm);
  ncclResult (*ncclCommGetAsyncError)(ncclComm, ncclResult *);
  const char *(*ncclGetErrorString)(ncclResult);
  ncclResult (*ncclAllReduce)(const void *, void *, size_t, int, int, ncclComm,
                              cuda::CUstream);
  ncclResult (*ncclReduceScatter)(const void *, void *, size_t, int, int,
                                  ncclComm, cuda::CUstream);
  ncclResult (*ncclAllGather)(const void *, void *, size_t, int, ncclComm,
                              cuda::CUstream);
  ncclResult (*ncclRedOpCreatePreMulSum)(int *, void *, int, int, ncclComm);
  ncclResult (*ncclRedOpDestroy)(int, ncclComm);
};

class Nccl {
public:
  /// Loaded once per process; the error says what is missing.
  static Result<const Nccl *> get();
  const NcclApi &api() const { return fns; }
  /// "what: <NCCL's message>" for a failed call, ok for success.
  Status check(ncclResult rc, const std::string &what) const;
  /// "2.28.9".
  std::string version() const;

private:
  NcclApi fns{};
  std::string path;
};

} // namespace colm::dist

#endif // COLM_RUNTIME_DIST_NCCL_H
