//===- FakeNccl.cpp - A libnccl.so.2 stand-in for tests -------------------===//
//
// What dist::GpuExchange calls, on the fake driver's "device" memory (host
// memory): collectives go through MPI when the process runs under MPI (the
// ranks of a test job), and are local for a single rank without MPI (unit
// tests). It counts the floats it reduced (fakeNcclFloatsReduced) so tests
// can check what travels.
//
//===----------------------------------------------------------------------===//
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

namespace {

struct Comm {
  int rank = 0, ranks = 1;
  std::map<int, float> scalars; ///< pre-multiplied sums by op
  int nextOp = 100;
};
int64_t reduced = 0;

bool underMpi() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

} // namespace

extern "C" {

struct FakeUniqueId {
  char internal[128];
};

int ncclGetVersion(int *v) {
  *v = 22809;
  return 0;
}
int ncclGetUniqueId(FakeUniqueId *id) {
  std::memset(id, 0, sizeof *id);
  std::snprintf(id->internal, sizeof id->internal, "fake-nccl");
  return 0;
}
int ncclCommInitRank(void **comm, int ranks, FakeUniqueId id, int rank) {
  if (std::strcmp(id.internal, "fake-nccl") != 0)
    return 4; // ncclInvalidArgument: the id did not travel
  int worldRank = 0, worldSize = 1;
  if (underMpi()) {
    MPI_Comm_rank(MPI_COMM_WORLD, &worldRank);
    MPI_Comm_size(MPI_COMM_WORLD, &worldSize);
  }
  if (ranks != worldSize || rank != worldRank)
    return 4;
  auto *c = new Comm;
  c->rank = rank;
  c->ranks = ranks;
  *comm = c;
  return 0;
}
int ncclCommDestroy(void *comm) {
  delete static_cast<Comm *>(comm);
  return 0;
}
int ncclCommAbort(void *comm) { return ncclCommDestroy(comm); }
int ncclCommGetAsyncError(void *, int *error) {
  *error = 0;
  return 0;
}
const char *ncclGetErrorString(int) { return "fake NCCL error"; }
int ncclRedOpCreatePreMulSum(int *op, void *scalar, int type, int residence,
                             void *comm) {
  auto *c = static_cast<Comm *>(comm);
  if (type != 7 || residence != 1)
    return 4;
  *op = c->nextOp++;
  c->scalars[*op] = *static_cast<float *>(scalar);
  return 0;
}
int ncclRedOpDestroy(int op, void *comm) {
  return static_cast<Comm *>(comm)->scalars.erase(op) ? 0 : 4;
}
int ncclAllReduce(const void *send, void *recv, size_t count, int type, int op,
                  void *comm, void *) {
  auto *c = static_cast<Comm *>(comm);
  if (type != 7 || !c->scalars.count(op))
    return 4;
  float scalar = c->scalars[op];
  std::vector<float> x(count);
  for (size_t i = 0; i < count; ++i)
    x[i] = static_cast<const float *>(send)[i] * scalar;
  if (c->ranks > 1 &&
      MPI_Allreduce(MPI_IN_PLACE, x.data(), int(count), MPI_FLOAT, MPI_SUM,
                    MPI_COMM_WORLD) != MPI_SUCCESS)
    return 2; // ncclSystemError
  std::memcpy(recv, x.data(), count * sizeof(float));
  reduced += int64_t(count);
  return 0;
}
int ncclReduceScatter(const void *send, void *recv, size_t count, int type,
                      int op, void *comm, void *) {
  auto *c = static_cast<Comm *>(comm);
  if (type != 7 || !c->scalars.count(op))
    return 4;
  float scalar = c->scalars[op];
  size_t all = count * size_t(c->ranks);
  std::vector<float> x(all);
  for (size_t i = 0; i < all; ++i)
    x[i] = static_cast<const float *>(send)[i] * scalar;
  if (c->ranks > 1) {
    if (MPI_Reduce_scatter_block(x.data(), recv, int(count), MPI_FLOAT, MPI_SUM,
                                 MPI_COMM_WORLD) != MPI_SUCCESS)
      return 2;
  } else {
    std::memcpy(recv, x.data(), count * sizeof(float));
  }
  reduced += int64_t(all);
  return 0;
}
int ncclAllGather(const void *send, void *recv, size_t count, int type,
                  void *comm, void *) {
  auto *c = static_cast<Comm *>(comm);
  if (type != 7)
    return 4;
  if (c->ranks == 1) {
    std::memmove(recv, send, count * sizeof(float));
    return 0;
  }
  std::vector<float> mine(static_cast<const float *>(send),
                          static_cast<const float *>(send) + count);
  return MPI_Allgather(mine.data(), int(count), MPI_FLOAT, recv, int(count),
                       MPI_FLOAT, MPI_COMM_WORLD) == MPI_SUCCESS
             ? 0
             : 2;
}
int64_t fakeNcclFloatsReduced() { return reduced; }

} // extern "C"
