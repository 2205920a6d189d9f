//===- MpiCommunicator.cpp - The MPI plugin (libcolm-mpi.so) ----*- C++ -*-===//
//
// dist::Communicator over MPI_COMM_WORLD with MPI-3 nonblocking
// collectives, driven from one thread (MPI_THREAD_FUNNELED). Built as a
// plugin so that colm itself never links MPI: --distributed loads it.
//
// Notes: before a rank starts collective #k it tells rank 0 (and rank 0
// tells every rank) "I reached #k" on a second communicator, and repeats it
// while it waits, so a wait that times out can name the rank that never
// arrived or that went silent (hung or died) inside a collective.
//
//===----------------------------------------------------------------------===//
#include "runtime/dist/Communicator.h"

#include <mpi.h>

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <thread>

namespace colm::dist {
namespace {

std::string mpiError(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    return "MPI error " + std::to_string(code);
  return std::string(text, size_t(length));
}

class MpiCommunicator final : public Communicator {
public:
  static Communicator *open(std::string &error);
  ~MpiCommunicator() override;

  int rank() const override { return me; }
  int size() const override { return ranks; }
  std::string name() const override { return library; }

  Result<Request> reduceScatterSum(const float *send, float *recv,
                                   const std::vector<int64_t> &counts,
                                   const std::string &what) override;
  Result<Request> allGather(const float *mine, float *all,
                            const std::vector<int64_t> &counts,
                            const std::string &what) override;
  Result<Request> gather(const float *mine, float *all,
                         const std::vector<int64_t> &counts, int root,
                         const std::string &what) override;
  Result<Request> allReduceSum(double *data, int64_t n,
                               const std::string &what) override;
  Result<Request> broadcast(void *data, int64_t bytes, int root,
                            const std::string &what) override;
  void progress() override;
  Status wait(Request r) override;
  bool healthy() const override { return ok; }
  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

private:
  struct Pending {
    MPI_Request request = MPI_REQUEST_NULL;
    std::string what;
    int64_t sequence = 0;
    // Nonblocking vector collectives read these until they complete.
    std::vector<int> counts, displacements;
  };
  /// Counts as MPI ints, with displacements; false when one is too large.
  bool layout(const std::vector<int64_t> &counts, Pending &p,
              std::string &error) const;
  /// A collective about to start: its name, its counts (when given) and
  /// its sequence number, announced to the others.
  Result<Pending> prepare(const std::string &what,
                          const std::vector<int64_t> *counts);
  /// Tells the other side that this rank reached collective `sequence`.
  void announce(int64_t sequence);
  void pollArrivals();
  using Clock = std::chrono::steady_clock;
  Result<Request> started(Pending p, int code);

  int me = 0, ranks = 1;
  std::string library;
  MPI_Comm data = MPI_COMM_NULL, notes = MPI_COMM_NULL;
  int64_t sequence = 0;
  bool ok = true;
  Request nextId = 1;
  std::map<Request, Pending> pending;
  // Arrival notes: the last collective each rank reached (rank 0 hears
  // every rank; the others hear rank 0).
  std::vector<int64_t> lastSeen, inbox;
  std::vector<Clock::time_point> lastHeard;
  std::vector<MPI_Request> receives;
  std::deque<std::pair<MPI_Request, std::unique_ptr<int64_t>>> sends;
};

Communicator *MpiCommunicator::open(std::string &error) {
  // Open MPI's components look for libmpi's symbols in the global scope,
  // which a plugin dlopen'ed with RTLD_LOCAL does not give them.
  for (const char *soname : {"libmpi.so.40", "libmpi.so"})
    if (dlopen(soname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD))
      break;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) {
      error = "MPI_Init_thread failed: " + mpiError(rc);
      return nullptr;
    }
  }
  auto *c = new MpiCommunicator;
  MPI_Comm_rank(MPI_COMM_WORLD, &c->me);
  MPI_Comm_size(MPI_COMM_WORLD, &c->ranks);
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(version, &length);
  c->library.assign(version, size_t(length));
  if (size_t comma = c->library.find(','); comma != std::string::npos)
    c->library.resize(comma);
  MPI_Comm_dup(MPI_COMM_WORLD, &c->data);
  MPI_Comm_dup(MPI_COMM_WORLD, &c->notes);
  MPI_Comm_set_errhandler(c->data, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(c->notes, MPI_ERRORS_RETURN);
  c->lastSeen.assign(size_t(c->ranks), 0);
  c->lastHeard.assign(size_t(c->ranks), Clock::now());
  c->inbox.assign(size_t(c->ranks), 0);
  c->receives.assign(size_t(c->ranks), MPI_REQUEST_NULL);
  for (int r = 0; r < c->ranks; ++r)
    if (r != c->me && (c->me == 0 || r == 0))
      MPI_Irecv(&c->inbox[size_t(r)], 1, MPI_INT64_T, r, 0, c->notes,
                &c->receives[size_t(r)]);
  return c;
}

MpiCommunicator::~MpiCommunicator() {
  // Every rank gets here (an error every rank agreed on, or the end): the
  // notes still in flight are matched or cancelled before MPI_Finalize.
  // After a failed collective the others may never arrive: abort instead.
  if (!ok)
    abort(1);
  MPI_Barrier(notes);
  for (MPI_Request &r : receives)
    if (r != MPI_REQUEST_NULL) {
      MPI_Cancel(&r);
      MPI_Wait(&r, MPI_STATUS_IGNORE);
    }
  for (auto &[r, value] : sends)
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  for (auto &[id, p] : pending)
    if (p.request != MPI_REQUEST_NULL)
      MPI_Request_free(&p.request);
  MPI_Comm_free(&data);
  MPI_Comm_free(&notes);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized)
    MPI_Finalize();
}

bool MpiCommunicator::layout(const std::vector<int64_t> &counts, Pending &p,
                             std::string &error) const {
  if (counts.size() != size_t(ranks)) {
    error = "internal error: " + std::to_string(counts.size()) +
            " counts for " + std::to_string(ranks) + " ranks";
    return false;
  }
  int64_t at = 0;
  for (int64_t c : counts) {
    if (c < 0 || c > INT_MAX || at > INT_MAX) {
      error = "a collective of " + std::to_string(c) +
              " floats is beyond MPI's int counts (use smaller buckets)";
      return false;
    }
    p.counts.push_back(int(c));
    p.displacements.push_back(int(at));
    at += c;
  }
  return true;
}

Result<MpiCommunicator::Pending>
MpiCommunicator::prepare(const std::string &what,
                         const std::vector<int64_t> *counts) {
  Pending p;
  p.what = what;
  std::string error;
  if (counts && !layout(*counts, p, error))
    return Status::error(error);
  p.sequence = ++sequence;
  announce(p.sequence);
  return p;
}

void MpiCommunicator::announce(int64_t k) {
  for (int r = 0; r < ranks; ++r) {
    if (r == me || (me != 0 && r != 0))
      continue;
    auto value = std::make_unique<int64_t>(k);
    MPI_Request req;
    MPI_Isend(value.get(), 1, MPI_INT64_T, r, 0, notes, &req);
    sends.emplace_back(req, std::move(value));
  }
}

void MpiCommunicator::pollArrivals() {
  for (int r = 0; r < ranks; ++r) {
    MPI_Request &req = receives[size_t(r)];
    if (req == MPI_REQUEST_NULL)
      continue;
    int done = 0;
    // Several notes may be waiting: take them all.
    while (req != MPI_REQUEST_NULL &&
           MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && done) {
      lastSeen[size_t(r)] = std::max(lastSeen[size_t(r)], inbox[size_t(r)]);
      lastHeard[size_t(r)] = Clock::now();
      MPI_Irecv(&inbox[size_t(r)], 1, MPI_INT64_T, r, 0, notes, &req);
    }
  }
  while (!sends.empty()) {
    int done = 0;
    if (MPI_Test(&sends.front().first, &done, MPI_STATUS_IGNORE) !=
            MPI_SUCCESS ||
        !done)
      break;
    sends.pop_front();
  }
}

Result<Communicator::Request> MpiCommunicator::started(Pending p, int code) {
  if (code != MPI_SUCCESS)
    ok = false;
  if (code != MPI_SUCCESS)
    return Status::error("cannot start " + p.what + ": " + mpiError(code));
  Request id = nextId++;
  pending.emplace(id, std::move(p));
  return id;
}

Result<Communicator::Request>
MpiCommunicator::reduceScatterSum(const float *send, float *recv,
                                  const std::vector<int64_t> &counts,
                                  const std::string &what) {
  COLM_ASSIGN_OR_RETURN(Pending p, prepare(what, &counts));
  int code = MPI_Ireduce_scatter(send, recv, p.counts.data(), MPI_FLOAT,
                                 MPI_SUM, data, &p.request);
  return started(std::move(p), code);
}

Result<Communicator::Request>
MpiCommunicator::allGather(const float *mine, float *all,
                           const std::vector<int64_t> &counts,
                           const std::string &what) {
  COLM_ASSIGN_OR_RETURN(Pending p, prepare(what, &counts));
  int code = MPI_Iallgatherv(mine, p.counts[size_t(me)], MPI_FLOAT, all,
                             p.counts.data(), p.displacements.data(), MPI_FLOAT,
                             data, &p.request);
  return started(std::move(p), code);
}

Result<Communicator::Request>
MpiCommunicator::gather(const float *mine, float *all,
                        const std::vector<int64_t> &counts, int root,
                        const std::string &what) {
  COLM_ASSIGN_OR_RETURN(Pending p, prepare(what, &counts));
  int code =
      MPI_Igatherv(mine, p.counts[size_t(me)], MPI_FLOAT, all, p.counts.data(),
                   p.displacements.data(), MPI_FLOAT, root, data, &p.request);
  return started(std::move(p), code);
}

Result<Communicator::Request>
MpiCommunicator::allReduceSum(double *values, int64_t n,
                              const std::string &what) {
  if (n > INT_MAX)
    return Status::error("internal error: an all-reduce of " +
                         std::to_string(n) + " values");
  COLM_ASSIGN_OR_RETURN(Pending p, prepare(what, nullptr));
  int code = MPI_Iallreduce(MPI_IN_PLACE, values, int(n), MPI_DOUBLE, MPI_SUM,
                            data, &p.request);
  return started(std::move(p), code);
}

Result<Communicator::Request>
MpiCommunicator::broadcast(void *values, int64_t bytes, int root,
                           const std::string &what) {
  if (bytes > INT_MAX)
    return Status::error("internal error: a broadcast of " +
                         std::to_string(bytes) + " bytes");
  COLM_ASSIGN_OR_RETURN(Pending p, prepare(what, nullptr));
  int code = MPI_Ibcast(values, int(bytes), MPI_BYTE, root, data, &p.request);
  return started(std::move(p), code);
}

void MpiCommunicator::progress() {
  for (auto &[id, p] : pending)
    if (p.request != MPI_REQUEST_NULL) {
      int done = 0;
      MPI_Test(&p.request, &done, MPI_STATUS_IGNORE);
    }
  pollArrivals();
}

Status MpiCommunicator::wait(Request id) {
  auto it = pending.find(id);
  if (it == pending.end())
    return Status::error("internal error: waiting for an unknown collective");
  Pending &p = it->second;
  auto start = Clock::now(), lastNote = start;
  // While waiting, say so every so often: silence marks a hung rank.
  double every = std::min(1.0, timeoutSeconds / 4);
  // Rank 0 gives up first, so that its message (which names the rank that
  // did not arrive) is the one the job prints.
  double limit = me == 0 ? timeoutSeconds : timeoutSeconds * 1.1 + 2;
  for (int64_t spins = 0;; ++spins) {
    int done = 0;
    int code = p.request == MPI_REQUEST_NULL
                   ? MPI_SUCCESS
                   : MPI_Test(&p.request, &done, MPI_STATUS_IGNORE);
    if (p.request == MPI_REQUEST_NULL)
      done = 1;
    if (code != MPI_SUCCESS) {
      ok = false;
      std::string what = p.what;
      pending.erase(it);
      return Status::error(what + " failed: " + mpiError(code));
    }
    if (done) {
      pending.erase(it);
      return Status::ok();
    }
    if ((spins & 63) == 0)
      pollArrivals();
    auto now = Clock::now();
    double waited = std::chrono::duration<double>(now - start).count();
    if (std::chrono::duration<double>(now - lastNote).count() > every) {
      announce(sequence);
      lastNote = now;
    }
    if (waited > limit) {
      ok = false;
      std::string missing, silent;
      for (int r = 0; r < ranks; ++r) {
        if (r == me || (me != 0 && r != 0))
          continue;
        auto list = [&](std::string &s) {
          s += (s.empty() ? "" : ", ") + std::to_string(r);
        };
        if (lastSeen[size_t(r)] < p.sequence)
          list(missing);
        else if (std::chrono::duration<double>(now - lastHeard[size_t(r)])
                     .count() > timeoutSeconds / 2)
          list(silent);
      }
      auto ranksNamed = [](const std::string &list) {
        return (list.find(',') == std::string::npos ? "rank " : "ranks ") +
               list;
      };
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%.0f", timeoutSeconds);
      std::string head =
          p.what + " did not complete within " + seconds + " s: ";
      std::string tail = " (--collective-timeout sets the limit)";
      if (!missing.empty())
        return Status::error(head + ranksNamed(missing) +
                             " never reached it: died, hung or stuck before "
                             "it" +
                             tail);
      if (!silent.empty())
        return Status::error(head + ranksNamed(silent) +
                             " went silent inside it: died or hung" + tail);
      if (me != 0)
        return Status::error(head +
                             "rank 0 is alive and reached it, so "
                             "another rank failed (rank 0 names it)" +
                             tail);
      return Status::error(head +
                           "every rank reached it and is alive; the "
                           "transport failed" +
                           tail);
    }
    // Spin briefly (a step's collectives follow each other closely), then
    // let the cores go to whoever computes.
    if (spins > 2000)
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

} // namespace
} // namespace colm::dist

extern "C" colm::dist::Communicator *colm_mpi_open(char *error,
                                                   int64_t errorBytes) {
  std::string why;
  colm::dist::Communicator *c = colm::dist::MpiCommunicator::open(why);
  if (!c && errorBytes > 0)
    std::snprintf(error, size_t(errorBytes), "%s", why.c_str());
  return c;
}
