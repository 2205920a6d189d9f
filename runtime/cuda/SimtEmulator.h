//===- SimtEmulator.h - CUDA thread blocks as fibers on the host -*- C++
//-*-===//
//
// The host SIMT emulator: a CUDA kernel source, compiled as host C++ against
// colm_cuda.h, runs here. Blocks run one at a time per host thread; the
// threads of a block are fibers (boost.context's fcontext: a switch costs
// tens of nanoseconds) switched only at __syncthreads and at warp
// collectives, where all participants meet at one point and exchange.
//
// What it checks, reporting the kernel's source line: a barrier that some
// threads of a block never reach (or reach at another line), a warp
// collective whose lanes do not all arrive (a shuffle deadlock), and
// threads that all wait with nothing to release them. The schedule (which
// ready fiber runs next) is a choice, so that missing barriers show up:
// round robin keeps warps close to lockstep and hides write-after-read
// races; greedy (lowest thread first) and reversed (highest first) let one
// warp run ahead of the others.
//
// Header-only, so that a kernel library compiled by the JIT carries its own
// emulator (link with -lboost_context). Not thread-safe across launches
// that share a host thread; each host thread runs its own blocks.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_RUNTIME_CUDA_SIMTEMULATOR_H
#define COLM_RUNTIME_CUDA_SIMTEMULATOR_H

#include <boost/context/detail/fcontext.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

// ThreadSanitizer builds (tests at tiny shapes): every CUDA thread is a
// TSan fiber, so that two threads of a block touching the same memory with
// no barrier between them is a reported race, whatever the schedule. The
// emulator's own bookkeeping is ignored; __syncthreads() and colm_syncwarp
// are release/acquire pairs, the launch orders the host's writes before the
// threads and theirs before the host's later reads. Other warp collectives
// (shuffles) do not order memory, as in CUDA. TSan instruments no
// thread_local access, so shared memory is a plain static there and the
// blocks of a launch run in order on one host thread (races between blocks
// are not checked). ldmatrix reads shared memory in the scheduler, unseen.
#if defined(__SANITIZE_THREAD__)
#define COLM_SIMT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define COLM_SIMT_TSAN 1
#endif
#endif
#ifdef COLM_SIMT_TSAN
extern "C" {
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
void AnnotateNewMemory(const char *file, int line, const volatile void *mem,
                       size_t size);
void AnnotateIgnoreSyncBegin(const char *file, int line);
void AnnotateIgnoreSyncEnd(const char *file, int line);
}
#endif

namespace colm::simt {

namespace ctx = boost::context::detail;

#ifdef COLM_SIMT_TSAN
/// The emulator's own memory accesses, unseen by TSan while it lives.
struct TsanIgnore {
  TsanIgnore() {
    AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
  }
  ~TsanIgnore() {
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
  }
};
inline void tsanAcquire(void *p) { __tsan_acquire(p); }
inline void tsanRelease(void *p) { __tsan_release(p); }
#else
struct TsanIgnore {};
inline void tsanAcquire(void *) {}
inline void tsanRelease(void *) {}
#endif

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
  unsigned count() const { return x * y * z; }
};

/// Which ready thread of a block runs next.
enum class Schedule { RoundRobin, Greedy, Reversed };

inline const char *scheduleName(Schedule s) {
  return s == Schedule::RoundRobin ? "round-robin"
         : s == Schedule::Greedy   ? "greedy"
                                   : "reversed";
}

constexpr unsigned kWarpSize = 32;

/// A warp collective a lane waits in.
enum class Collective {
  ShflIdx,
  ShflUp,
  ShflDown,
  ShflXor,
  Ballot,
  Any,
  All,
  Mma,      // mma.sync m16n8k16, bf16 inputs, f32 accumulators
  Ldmatrix, // ldmatrix.sync m8n8 .b16, x1/x2/x4, optionally .trans
};

struct Fiber {
  enum class State { Ready, Barrier, Warp, Done };
  unsigned linear = 0; // threadIdx.x + blockDim.x * (y + blockDim.y * z)
  Dim3 idx;
  ctx::fcontext_t context = nullptr;
  State state = State::Ready;
  int line = 0; // where it waits
  // A warp collective: its mask, operation, operand and result.
  Collective op = Collective::ShflIdx;
  uint32_t mask = 0;
  uint64_t value = 0, result = 0;
  int lane = 0, width = kWarpSize; // source lane or delta, segment width
  // mma: a[4], b[2] (bf16 pairs), c[4] (f32 bits) in; d[4] out.
  // ldmatrix: the row address this lane supplies; r[matrices] out.
  uint32_t words[10] = {};
  uint32_t out[4] = {};
  const void *address = nullptr;
  int matrices = 0;
  bool transposed = false;
  void *tsan = nullptr;   // its TSan fiber (TSan builds)
  unsigned barriers = 0;  // __syncthreads() passed
  unsigned warpSyncs = 0; // colm_syncwarp() passed
};

/// One block's fibers and its scheduler's state (per host thread).
struct BlockState {
  Dim3 blockIdx, blockDim, gridDim;
  std::vector<Fiber> fibers;
  ctx::fcontext_t scheduler = nullptr;
  Fiber *current = nullptr;
  void (*body)(void *) = nullptr;
  void *closure = nullptr;
  std::string error;
  // TSan: the scheduler's fiber, and the synchronisation objects: the
  // launch, the block's end, a barrier's two alternating episodes (no thread
  // is more than one barrier ahead of another), each warp's syncwarp pair.
  void *tsanScheduler = nullptr;
  char tsanLaunch = 0, tsanDone = 0, tsanBarrier[2] = {};
  std::vector<char> tsanWarp;
};

inline thread_local BlockState *tlBlock = nullptr;

inline Fiber &self() { return *tlBlock->current; }

/// Fiber stacks, kept per host thread for its next blocks: 64 KiB each
/// (4 KiB overflowed at -O0), allocated a block's worth at a time in one
/// mapping with a guard page below it. A guard page per stack would cost two
/// memory mappings per stack, per host thread, per kernel library (each has
/// its own emulator), and a model's hundred kernels on a few threads reach
/// the kernel's limit of 65530; instead each stack's lowest bytes hold a
/// canary that runBlock checks after every block.
class Stacks {
public:
  static constexpr size_t kSize = 64 * 1024;
  static constexpr uint64_t kCanary = 0x6b617473666f6c63ull;
  static constexpr int kCanaryWords = 8;
  /// Stack i's top; the first call of a block asks for its last stack, so
  /// that a block's stacks come in one mapping.
  void *top(size_t i) {
    if (i >= tops.size() && !grow(i + 1))
      return nullptr;
    return tops[i];
  }
  /// Whether stack i's canary is intact (nothing ran past its bottom).
  bool intact(size_t i) const {
    const uint64_t *w = reinterpret_cast<const uint64_t *>(
        static_cast<char *>(tops[i]) - kSize);
    for (int k = 0; k < kCanaryWords; ++k)
      if (w[k] != kCanary)
        return false;
    return true;
  }
  ~Stacks() {
    for (auto [p, bytes] : maps)
      munmap(p, bytes);
  }

private:
  bool grow(size_t n) {
    size_t page = size_t(sysconf(_SC_PAGESIZE)), k = n - tops.size();
    size_t bytes = page + k * kSize;
    void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      return false;
    mprotect(p, page, PROT_NONE);
    maps.push_back({p, bytes});
    for (size_t j = 0; j < k; ++j) {
      char *base = static_cast<char *>(p) + page + j * kSize;
      uint64_t *w = reinterpret_cast<uint64_t *>(base);
      for (int c = 0; c < kCanaryWords; ++c)
        w[c] = kCanary;
      tops.push_back(base + kSize);
    }
    return true;
  }
  std::vector<void *> tops;
  std::vector<std::pair<void *, size_t>> maps;
};

inline Stacks &stacks() {
  static thread_local Stacks s;
  return s;
}

/// Back to the scheduler; returns when this fiber is resumed. Called with no
/// TsanIgnore alive (a thread may never resume: a deadlock).
inline void yield() {
  BlockState *b;
  ctx::fcontext_t to;
  void *tsanScheduler;
  {
    TsanIgnore ignore;
    b = tlBlock;
    to = b->scheduler;
    tsanScheduler = b->tsanScheduler;
  }
#ifdef COLM_SIMT_TSAN
  __tsan_switch_to_fiber(tsanScheduler, 1); // no synchronisation
#endif
  (void)tsanScheduler;
  ctx::transfer_t t = ctx::jump_fcontext(to, nullptr);
  TsanIgnore ignore;
  b->scheduler = t.fctx;
}

inline void fiberEntry(ctx::transfer_t t) {
  BlockState *bp;
  {
    TsanIgnore ignore;
    bp = tlBlock;
    bp->scheduler = t.fctx;
  }
  BlockState &b = *bp;
  tsanAcquire(&b.tsanLaunch);
  b.body(b.closure);
  ctx::fcontext_t scheduler;
  void *tsanScheduler;
  {
    TsanIgnore ignore; // ended before the last switch: it never returns
    b.current->state = Fiber::State::Done;
    scheduler = b.scheduler;
    tsanScheduler = b.tsanScheduler;
  }
  tsanRelease(&b.tsanDone);
#ifdef COLM_SIMT_TSAN
  __tsan_switch_to_fiber(tsanScheduler, 1);
#endif
  (void)tsanScheduler;
  ctx::jump_fcontext(scheduler, nullptr);
  __builtin_unreachable();
}

/// "0-15, 17" for the threads in `ids` (ascending).
inline std::string ranges(const std::vector<unsigned> &ids) {
  std::string out;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1)
      ++j;
    out += (out.empty() ? "" : ", ") + std::to_string(ids[i]) +
           (j > i ? "-" + std::to_string(ids[j]) : "");
    i = j + 1;
  }
  return out;
}

inline float bf16Low(uint32_t w) {
  uint32_t u = w << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}
inline float bf16High(uint32_t w) {
  uint32_t u = w & 0xffff0000u;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

/// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 for the warp from
/// lane `first`, with the PTX ISA's fragment layouts (groupID = lane / 4,
/// t = lane % 4): A (16 x 16) a0..a7 at row groupID (+8 for a2, a3, a6,
/// a7), column 2t + (i & 1) (+8 for a4..a7); B (16 x 8) b0..b3 at row
/// 2t + (i & 1) (+8 for b2, b3), column groupID; C and D (16 x 8) c0..c3 at
/// row groupID (+8 for c2, c3), column 2t + (i & 1). Each element of D is
/// C plus the exact sum of its 16 products, rounded once to f32 (tensor
/// cores round differently: compare with a tolerance).
inline bool mmaWarp(BlockState &b, unsigned first) {
  float a[16][16], bm[16][8], c[16][8];
  for (unsigned l = 0; l < kWarpSize; ++l) {
    const uint32_t *w = b.fibers[first + l].words;
    unsigned g = l / 4, t = l % 4;
    for (unsigned i = 0; i < 8; ++i) {
      unsigned row = g + ((i & 2) ? 8 : 0),
               col = 2 * t + (i & 1) + (i >= 4 ? 8 : 0);
      a[row][col] = (i & 1) ? bf16High(w[i / 2]) : bf16Low(w[i / 2]);
    }
    for (unsigned i = 0; i < 4; ++i) {
      unsigned row = 2 * t + (i & 1) + (i >= 2 ? 8 : 0);
      bm[row][g] = (i & 1) ? bf16High(w[4 + i / 2]) : bf16Low(w[4 + i / 2]);
    }
    for (unsigned i = 0; i < 4; ++i) {
      float x;
      std::memcpy(&x, &w[6 + i], 4);
      c[g + (i >= 2 ? 8 : 0)][2 * t + (i & 1)] = x;
    }
  }
  for (unsigned l = 0; l < kWarpSize; ++l) {
    unsigned g = l / 4, t = l % 4;
    for (unsigned i = 0; i < 4; ++i) {
      unsigned row = g + (i >= 2 ? 8 : 0), col = 2 * t + (i & 1);
      double acc = c[row][col];
      for (unsigned k = 0; k < 16; ++k)
        acc += double(a[row][k]) * double(bm[k][col]);
      float d = float(acc);
      std::memcpy(&b.fibers[first + l].out[i], &d, 4);
    }
  }
  return true;
}

/// ldmatrix.sync.aligned.m8n8.x{1,2,4}[.trans].shared.b16 for the warp from
/// lane `first`: lanes 8j .. 8j + 7 supply the row addresses of matrix j
/// (16-byte aligned); lane l receives, in r[j], the pair of row l / 4,
/// columns 2 (l % 4) and 2 (l % 4) + 1 of matrix j (of its transpose with
/// .trans).
inline bool ldmatrixWarp(BlockState &b, unsigned first) {
  const Fiber &leader = b.fibers[first];
  int count = leader.matrices;
  for (unsigned l = 0; l < unsigned(8 * count); ++l) {
    const Fiber &f = b.fibers[first + l];
    if (f.matrices != count || f.transposed != leader.transposed) {
      b.error = "line " + std::to_string(f.line) +
                ": the lanes of a warp ask ldmatrix for different shapes";
      return false;
    }
    if (reinterpret_cast<uintptr_t>(f.address) % 16 != 0) {
      b.error = "line " + std::to_string(f.line) + ": lane " +
                std::to_string(l) +
                "'s ldmatrix row address is not 16-byte aligned";
      return false;
    }
  }
  auto at = [&](int j, unsigned row, unsigned col) {
    uint16_t h;
    std::memcpy(
        &h,
        static_cast<const char *>(b.fibers[first + 8 * j + row].address) +
            2 * col,
        2);
    return uint32_t(h);
  };
  for (unsigned l = 0; l < kWarpSize; ++l)
    for (int j = 0; j < count; ++j) {
      unsigned r = l / 4, c = 2 * (l % 4);
      uint32_t lo = leader.transposed ? at(j, c, r) : at(j, r, c);
      uint32_t hi = leader.transposed ? at(j, c + 1, r) : at(j, r, c + 1);
      b.fibers[first + l].out[j] = lo | hi << 16;
    }
  return true;
}

/// The result of a collective for every lane of warp `w` whose mask names
/// it, once all of them wait in it; false while some still run. An error
/// (lanes that exited or wait elsewhere, masks that disagree) goes to
/// b.error.
inline bool resolveWarp(BlockState &b, unsigned w) {
  unsigned first = w * kWarpSize;
  unsigned end = std::min<unsigned>(first + kWarpSize, b.fibers.size());
  Fiber *leader = nullptr;
  for (unsigned i = first; i < end; ++i)
    if (b.fibers[i].state == Fiber::State::Warp) {
      leader = &b.fibers[i];
      break;
    }
  if (!leader)
    return false;
  uint32_t mask = leader->mask;
  std::vector<unsigned> missing;
  for (unsigned l = 0; l < kWarpSize; ++l) {
    if (!(mask >> l & 1))
      continue;
    if (first + l >= end) {
      b.error = "line " + std::to_string(leader->line) +
                ": a warp collective's mask names lane " + std::to_string(l) +
                ", past the block's threads";
      return false;
    }
    const Fiber &f = b.fibers[first + l];
    if (f.state == Fiber::State::Ready)
      return false; // not there yet
    if (f.state != Fiber::State::Warp || f.line != leader->line ||
        f.mask != mask || f.op != leader->op)
      missing.push_back(first + l);
  }
  if (!missing.empty())
    return false; // reported as a deadlock once nothing else can run
  if (leader->op == Collective::Mma || leader->op == Collective::Ldmatrix) {
    if (mask != 0xffffffffu) {
      b.error = "line " + std::to_string(leader->line) +
                ": mma and ldmatrix need the whole warp (mask 0xffffffff)";
      return false;
    }
    if (!(leader->op == Collective::Mma ? mmaWarp(b, first)
                                        : ldmatrixWarp(b, first)))
      return false;
    for (unsigned l = 0; l < kWarpSize; ++l)
      b.fibers[first + l].state = Fiber::State::Ready;
    return true;
  }
  for (unsigned l = 0; l < kWarpSize; ++l) {
    if (!(mask >> l & 1))
      continue;
    Fiber &f = b.fibers[first + l];
    unsigned width = unsigned(f.width), base = l / width * width;
    auto laneValue = [&](unsigned src) {
      return (mask >> src & 1) ? b.fibers[first + src].value : f.value;
    };
    switch (f.op) {
    case Collective::ShflIdx:
      f.result = laneValue(base + unsigned(f.lane) % width);
      break;
    case Collective::ShflUp:
      f.result = l - base >= unsigned(f.lane) ? laneValue(l - unsigned(f.lane))
                                              : f.value;
      break;
    case Collective::ShflDown:
      f.result = l - base + unsigned(f.lane) < width
                     ? laneValue(l + unsigned(f.lane))
                     : f.value;
      break;
    case Collective::ShflXor: {
      unsigned src = l ^ unsigned(f.lane);
      f.result = src >= base && src < base + width ? laneValue(src) : f.value;
      break;
    }
    case Collective::Mma:
    case Collective::Ldmatrix:
      break; // whole-warp operations, above
    case Collective::Ballot:
    case Collective::Any:
    case Collective::All: {
      uint32_t votes = 0;
      for (unsigned s = 0; s < kWarpSize; ++s)
        if ((mask >> s & 1) && b.fibers[first + s].value)
          votes |= 1u << s;
      f.result = f.op == Collective::Ballot ? votes
                 : f.op == Collective::Any  ? votes != 0
                                            : votes == mask;
      break;
    }
    }
  }
  for (unsigned l = 0; l < kWarpSize; ++l)
    if (mask >> l & 1)
      b.fibers[first + l].state = Fiber::State::Ready;
  return true;
}

/// Releases the barrier when every thread of the block waits in it at one
/// line; reports threads that exited or wait at another line.
inline bool resolveBarrier(BlockState &b) {
  std::vector<unsigned> waiting, exited, elsewhere;
  int line = 0;
  for (Fiber &f : b.fibers) {
    if (f.state == Fiber::State::Ready || f.state == Fiber::State::Warp)
      return false;
    if (f.state == Fiber::State::Done) {
      exited.push_back(f.linear);
    } else if (waiting.empty() || f.line == line) {
      line = f.line;
      waiting.push_back(f.linear);
    } else {
      elsewhere.push_back(f.linear);
    }
  }
  if (waiting.empty())
    return false;
  if (!exited.empty() || !elsewhere.empty()) {
    int other = 0;
    for (Fiber &f : b.fibers)
      if (f.state == Fiber::State::Barrier && f.line != line)
        other = f.line;
    b.error = "line " + std::to_string(line) + ": __syncthreads() reached by " +
              "threads " + ranges(waiting) + " only; " +
              (exited.empty() ? "" : "threads " + ranges(exited) + " exited") +
              (!exited.empty() && !elsewhere.empty() ? ", " : "") +
              (elsewhere.empty() ? ""
                                 : "threads " + ranges(elsewhere) +
                                       " wait at the barrier of line " +
                                       std::to_string(other));
    return false;
  }
  for (Fiber &f : b.fibers)
    f.state = Fiber::State::Ready;
  return true;
}

/// What every thread still waits in, when none can run: a deadlock.
inline std::string deadlock(const BlockState &b) {
  std::string out = "deadlock:";
  for (unsigned w = 0; w * kWarpSize < b.fibers.size(); ++w) {
    std::vector<unsigned> waiting, missing;
    const Fiber *at = nullptr;
    for (unsigned l = 0; l < kWarpSize && w * kWarpSize + l < b.fibers.size();
         ++l) {
      const Fiber &f = b.fibers[w * kWarpSize + l];
      if (f.state == Fiber::State::Warp) {
        waiting.push_back(l);
        at = at ? at : &f;
      }
    }
    if (!at)
      continue;
    for (unsigned l = 0; l < kWarpSize; ++l)
      if ((at->mask >> l & 1) &&
          (w * kWarpSize + l >= b.fibers.size() ||
           b.fibers[w * kWarpSize + l].state != Fiber::State::Warp ||
           b.fibers[w * kWarpSize + l].line != at->line))
        missing.push_back(l);
    out += " line " + std::to_string(at->line) + ": lanes " + ranges(waiting) +
           " of warp " + std::to_string(w) +
           " wait in a warp collective for lanes " + ranges(missing) +
           " (exited or elsewhere);";
  }
  for (const Fiber &f : b.fibers)
    if (f.state == Fiber::State::Barrier) {
      out += " threads wait at the barrier of line " + std::to_string(f.line) +
             ";";
      break;
    }
  return out;
}

/// Runs one block to its end; returns false with b.error set on a
/// divergent barrier or a deadlock.
inline bool runBlock(BlockState &b, Schedule schedule) {
#ifdef COLM_SIMT_TSAN
  // Shared memory is one static per kernel here (colm_cuda.h): launches
  // of a kernel from several host threads take turns, through a lock TSan
  // does not count as synchronisation.
  static std::mutex turn;
  struct Turn {
    Turn() {
      AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
      turn.lock();
      AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
    }
    ~Turn() {
      AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
      turn.unlock();
      AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
    }
  } hold;
#endif
  // The scheduler's own accesses (and the threads' ids it writes) are the
  // emulator's, not the kernel's.
  TsanIgnore ignore;
  unsigned n = b.blockDim.count();
  b.fibers.assign(n, Fiber{});
  if (!stacks().top(n - 1)) {
    b.error = "out of memory for fiber stacks";
    return false;
  }
#ifdef COLM_SIMT_TSAN
  b.tsanScheduler = __tsan_get_current_fiber();
  b.tsanWarp.assign(2 * ((n + kWarpSize - 1) / kWarpSize), 0);
  tsanRelease(&b.tsanLaunch); // the host's writes before the threads
#endif
  for (unsigned i = 0; i < n; ++i) {
    Fiber &f = b.fibers[i];
    f.linear = i;
    f.idx = {i % b.blockDim.x, i / b.blockDim.x % b.blockDim.y,
             i / (b.blockDim.x * b.blockDim.y)};
    void *top = stacks().top(i);
    if (!top) {
      b.error = "out of memory for fiber stacks";
      return false;
    }
    f.context = ctx::make_fcontext(top, Stacks::kSize, fiberEntry);
#ifdef COLM_SIMT_TSAN
    // A fresh thread on a reused stack.
    AnnotateNewMemory(__FILE__, __LINE__,
                      static_cast<char *>(top) - Stacks::kSize, Stacks::kSize);
    f.tsan = __tsan_create_fiber(0);
#endif
  }
  BlockState *outer = tlBlock;
  tlBlock = &b;
  {
    unsigned next = 0; // round robin's position
    for (;;) {
      // Release what can be released: warp collectives, then the barrier.
      for (unsigned w = 0; w * kWarpSize < n; ++w)
        resolveWarp(b, w);
      resolveBarrier(b);
      if (!b.error.empty())
        break;
      Fiber *run = nullptr;
      for (unsigned k = 0; k < n && !run; ++k) {
        unsigned i = schedule == Schedule::RoundRobin ? (next + k) % n
                     : schedule == Schedule::Greedy   ? k
                                                      : n - 1 - k;
        if (b.fibers[i].state == Fiber::State::Ready)
          run = &b.fibers[i];
      }
      if (!run) {
        bool done = true;
        for (const Fiber &f : b.fibers)
          done = done && f.state == Fiber::State::Done;
        if (!done)
          b.error = deadlock(b);
        break;
      }
      next = (run->linear + 1) % n;
      b.current = run;
#ifdef COLM_SIMT_TSAN
      __tsan_switch_to_fiber(run->tsan, 1);
#endif
      ctx::transfer_t t = ctx::jump_fcontext(run->context, nullptr);
      run->context = t.fctx;
    }
  }
#ifdef COLM_SIMT_TSAN
  for (Fiber &f : b.fibers) {
    if (f.state != Fiber::State::Done) {
      // A thread left waiting (the block failed): what it did is done.
      __tsan_switch_to_fiber(f.tsan, 1);
      tsanRelease(&b.tsanDone);
      __tsan_switch_to_fiber(b.tsanScheduler, 1);
    }
    __tsan_destroy_fiber(f.tsan);
  }
  tsanAcquire(&b.tsanDone); // the threads' writes before the host's reads
#endif
  tlBlock = outer;
  for (unsigned i = 0; i < n && b.error.empty(); ++i)
    if (!stacks().intact(i))
      b.error = "thread " + std::to_string(i) + " overflowed its " +
                std::to_string(Stacks::kSize / 1024) +
                " KiB fiber stack (large local arrays?)";
  return b.error.empty();
}

/// Runs blocks host_thread, host_thread + host_threads, ... of `grid`,
/// each thread of a block calling body(closure). Returns "" or the first
/// error, naming the block.
inline std::string runGrid(Dim3 grid, Dim3 block, Schedule schedule,
                           void (*body)(void *), void *closure,
                           int hostThread = 0, int hostThreads = 1) {
  if (block.count() == 0 || block.count() > 1024)
    return "a block of " + std::to_string(block.count()) +
           " threads (1 to 1024)";
#ifdef COLM_SIMT_TSAN
  // Shared memory is one static per kernel in TSan builds: every block on
  // the first host thread, in order. TSan then checks the threads of a
  // block against each other (missing barriers), not blocks.
  if (hostThread != 0)
    return "";
  hostThreads = 1;
#endif
  BlockState b;
  b.blockDim = block;
  b.gridDim = grid;
  b.body = body;
  b.closure = closure;
  for (unsigned i = unsigned(hostThread); i < grid.count();
       i += unsigned(hostThreads)) {
    b.blockIdx = {i % grid.x, i / grid.x % grid.y, i / (grid.x * grid.y)};
    b.error.clear();
    if (!runBlock(b, schedule))
      return "block (" + std::to_string(b.blockIdx.x) + ", " +
             std::to_string(b.blockIdx.y) + ", " +
             std::to_string(b.blockIdx.z) + "), " + scheduleName(schedule) +
             " schedule: " + b.error;
  }
  return "";
}

/// runGrid over a callable (a lambda that calls the kernel).
template <class F>
std::string launch(Dim3 grid, Dim3 block, Schedule schedule, F &kernel,
                   int hostThread = 0, int hostThreads = 1) {
  return runGrid(
      grid, block, schedule, [](void *f) { (*static_cast<F *>(f))(); }, &kernel,
      hostThread, hostThreads);
}

// What the kernel's CUDA builtins become.

inline void syncthreads(int line) {
  BlockState &b = *tlBlock;
  unsigned episode;
  {
    TsanIgnore ignore;
    Fiber &f = self();
    f.state = Fiber::State::Barrier;
    f.line = line;
    episode = f.barriers++ % 2;
  }
  tsanRelease(&b.tsanBarrier[episode]);
  yield();
  tsanAcquire(&b.tsanBarrier[episode]);
}

template <class T>
T collective(int line, Collective op, uint32_t mask, T value, int lane,
             int width) {
  static_assert(sizeof(T) <= 8, "warp collectives move up to 64 bits");
  {
    TsanIgnore ignore;
    Fiber &f = self();
    f.state = Fiber::State::Warp;
    f.line = line;
    f.op = op;
    f.mask = mask;
    f.value = 0;
    std::memcpy(&f.value, &value, sizeof(T));
    f.lane = lane;
    f.width = width;
  }
  yield();
  TsanIgnore ignore;
  T out;
  std::memcpy(&out, &self().result, sizeof(T));
  return out;
}

inline void mma16816(int line, float d[4], const uint32_t a[4],
                     const uint32_t bfrag[2], const float c[4]) {
  {
    TsanIgnore ignore;
    Fiber &f = self();
    f.state = Fiber::State::Warp;
    f.line = line;
    f.op = Collective::Mma;
    f.mask = 0xffffffffu;
    std::memcpy(f.words, a, 16);
    std::memcpy(f.words + 4, bfrag, 8);
    std::memcpy(f.words + 6, c, 16);
  }
  yield();
  uint32_t out[4];
  {
    TsanIgnore ignore;
    std::memcpy(out, self().out, 16);
  }
  std::memcpy(d, out, 16); // the kernel's registers: seen by TSan
}

inline void ldmatrix(int line, uint32_t *r, const void *row, int matrices,
                     bool transposed) {
  {
    TsanIgnore ignore;
    Fiber &f = self();
    f.state = Fiber::State::Warp;
    f.line = line;
    f.op = Collective::Ldmatrix;
    f.mask = 0xffffffffu;
    f.address = row;
    f.matrices = matrices;
    f.transposed = transposed;
  }
  yield();
  uint32_t out[4];
  {
    TsanIgnore ignore;
    std::memcpy(out, self().out, sizeof out);
  }
  std::memcpy(r, out, sizeof(uint32_t) * size_t(matrices));
}

} // namespace colm::simt

#endif // COLM_RUNTIME_CUDA_SIMTEMULATOR_H
