//===- AdamW.h - AdamW over flat parameter memory ---------------*- C++ -*-===//
//
// One pass of runtime/Optimizer's AdamW over every parameter at once: the
// parameters, gradients and moments are flat float arrays and the spec's
// segments say where each parameter lies, whether it decays (matrices) and
// whether it has a trainable mask (frozen chains, zero blocks). Values are
// computed in double per element and stored as float exactly as
// Optimizer::step does, so the result is bit-identical to it.
//
// The clipping factor needs the global norm first: the SumSquares mode
// writes one partial sum per fixed block of entries (the blocks depend only
// on the segments, not on the thread count), and colmAdamWSumPartials adds
// them in block order.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_COMPILER_CODEGEN_ADAMW_H
#define COLM_COMPILER_CODEGEN_ADAMW_H

#include "runtime/Status.h"
#include "runtime/abi/AdamWAbi.h"

#include <cstdint>
#include <string>
#include <vector>

namespace colm::codegen {

/// Entries [offset, offset + size) of the flat arrays are one parameter.
struct AdamWSegment {
  int64_t offset = 0, size = 0;
  /// Decoupled weight decay applies (rank-2 parameters only).
  bool decay = false;
  /// args.masks[segment index] says which entries train; unmasked
  /// segments train whole.
  bool masked = false;
  bool operator==(const AdamWSegment &) const = default;
};

enum class AdamWMode { Update, SumSquares };

struct AdamWSpec {
  AdamWMode mode = AdamWMode::Update;
  /// In ascending offset order, disjoint (gaps are never touched).
  std::vector<AdamWSegment> segments;
  /// SumSquares: entries per partial sum; each segment is cut into
  /// ceil(size / blockSize) blocks of its own.
  int64_t blockSize = 4096;

  /// e.g. "adamw_update_s12_n83456_1f2e", "adamw_sumsq_s12_n83456_b4096_..".
  std::string name() const;
  /// Entries covered by the segments.
  int64_t numEntries() const;
  /// SumSquares: the number of partials written.
  int64_t numBlocks() const;
};

/// The segments as the renderers' C++ initializers, one per segment:
/// {offset, size, decay, masked, start in the segments' concatenation,
/// first SumSquares block}; `entries` and `blocks` receive the totals.
std::string adamWSegmentTable(const AdamWSpec &spec, int64_t &entries,
                              int64_t &blocks);

/// Checks: segments non-empty, positive sizes, non-negative ascending
/// disjoint offsets, a positive block size.
Status validateAdamW(const AdamWSpec &spec);

/// The reference, plain loops in the order and the expressions of
/// Optimizer::step: Update changes param/exp_avg/exp_avg_sq; SumSquares
/// writes the partials of every block, each summed in ascending order.
void adamWReference(const AdamWSpec &spec, const ColmAdamWArgs &args);

/// The global sum of squares in one ascending pass over all trainable
/// entries (what Optimizer::step sums).
double adamWSumSquaresReference(const AdamWSpec &spec,
                                const ColmAdamWArgs &args);

} // namespace colm::codegen

#endif // COLM_COMPILER_CODEGEN_ADAMW_H
