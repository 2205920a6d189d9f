//===- Communicator.cpp - Loading the MPI plugin, agreement -----*- C++ -*-===//
#include "runtime/dist/Communicator.h"

#include "runtime/DynamicLibrary.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sched.h>
#include <unistd.h>

namespace colm::dist {

Status Communicator::allReduceSumNow(double *data, int64_t n,
                                     const std::string &what) {
  COLM_ASSIGN_OR_RETURN(Request r, allReduceSum(data, n, what));
  return wait(r);
}

Status Communicator::broadcastNow(void *data, int64_t bytes, int root,
                                  const std::string &what) {
  COLM_ASSIGN_OR_RETURN(Request r, broadcast(data, bytes, root, what));
  return wait(r);
}

Result<Communicator::Request>
SoloCommunicator::reduceScatterSum(const float *send, float *recv,
                                   const std::vector<int64_t> &counts,
                                   const std::string &) {
  if (counts.size() != 1)
    return Status::error("internal error: one rank, several counts");
  if (send != recv)
    std::copy(send, send + counts[0], recv);
  return Request(0);
}

Result<Communicator::Request>
SoloCommunicator::allGather(const float *mine, float *all,
                            const std::vector<int64_t> &counts,
                            const std::string &what) {
  return reduceScatterSum(mine, all, counts, what);
}

Result<Communicator::Request>
SoloCommunicator::gather(const float *mine, float *all,
                         const std::vector<int64_t> &counts, int,
                         const std::string &what) {
  return reduceScatterSum(mine, all, counts, what);
}

void SoloCommunicator::abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}

Status agree(Communicator &comm, const Status &local, const std::string &what,
             bool loud) {
  std::vector<double> failed(size_t(comm.size()), 0.0);
  failed[size_t(comm.rank())] = local.isOk() ? 0.0 : 1.0;
  COLM_TRY(comm.allReduceSumNow(failed.data(), int64_t(failed.size()),
                                "the ranks' verdict on " + what));
  if (!local.isOk())
    return local;
  std::string ranks;
  int count = 0;
  for (size_t r = 0; r < failed.size(); ++r)
    if (failed[r] != 0) {
      ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
      ++count;
    }
  if (count == 0)
    return Status::ok();
  if (!loud)
    return Status::error("");
  return Status::error(std::string(count == 1 ? "rank " : "ranks ") + ranks +
                       " failed " + what);
}

namespace {

std::string pluginPath() {
  if (const char *env = std::getenv("COLM_MPI_PLUGIN"); env && *env)
    return env;
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    std::filesystem::path bin(std::string(exe, size_t(n)));
    std::error_code ec;
    for (const char *rel : {"../lib/libcolm-mpi.so", "libcolm-mpi.so"}) {
      std::filesystem::path candidate = bin.parent_path() / rel;
      if (std::filesystem::exists(candidate, ec))
        return candidate.lexically_normal().string();
    }
  }
  return "libcolm-mpi.so";
}

} // namespace

Result<std::shared_ptr<Communicator>> openMpi() {
  static Result<DynamicLibrary> plugin = DynamicLibrary::open(pluginPath());
  if (!plugin)
    return Status::error(
        "--distributed needs colm's MPI plugin, which did not load (" +
        plugin.status().message() +
        "); build colm with Open MPI installed (tools/setup.sh installs "
        "libopenmpi-dev), or point COLM_MPI_PLUGIN at libcolm-mpi.so");
  COLM_ASSIGN_OR_RETURN(OpenMpiFn * open,
                        plugin->function<OpenMpiFn>("colm_mpi_open"));
  char error[512] = {};
  Communicator *c = open(error, sizeof error);
  if (!c)
    return Status::error(std::string("--distributed: ") + error);
  return std::shared_ptr<Communicator>(c);
}

void shareCores() {
  if (const char *env = std::getenv("COLM_THREADS"); env && *env)
    return;
  int local = localRanks();
  if (local <= 1)
    return;
  cpu_set_t set;
  CPU_ZERO(&set);
  long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (sched_getaffinity(0, sizeof set, &set) != 0 || online <= 0 ||
      CPU_COUNT(&set) < online)
    return; // bound by the launcher: its cores are this rank's
  std::string n = std::to_string(std::max<long>(1, online / local));
  ::setenv("COLM_THREADS", n.c_str(), 1);
}

void pickLocalGpu() {
  if (const char *env = std::getenv("COLM_CUDA_DEVICE"); env && *env)
    return;
  for (const char *name :
       {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
    if (const char *v = std::getenv(name); v && *v) {
      ::setenv("COLM_CUDA_DEVICE", v, 1);
      return;
    }
}

int localRanks() {
  for (const char *name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                           "SLURM_NTASKS_PER_NODE"})
    if (const char *v = std::getenv(name); v && *v) {
      char *end = nullptr;
      long n = std::strtol(v, &end, 10);
      if (end && *end == 0 && n >= 1 && n <= 65536)
        return int(n);
    }
  return 1;
}

} // namespace colm::dist
