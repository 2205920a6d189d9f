//===- Checkpoint.h - Training checkpoints, written atomically --*- C++ -*-===//
//
// A training checkpoint is a model directory (spec/colm.md section 6:
// config.json, model.safetensors, plus tokenizer.json) with two more files:
//   training_state.safetensors  the optimizer state (Optimizer::stateTensors)
//   training_state.json         {"format": "colm-training-state",
//                                "version": 1, "step": <completed steps>,
//                                "seed": "<uint64, decimal>",
//                                "sampler_rng": ["<16 hex digits>" x4],
//                                "args": {the run's flags}}
// so `colm forward` reads it as a model and `colm train --resume` continues
// exactly where it stopped.
//
// The directory is replaced as a whole: everything is written into the
// sibling `.NAME.tmp`, synced, and swapped in (one atomic exchange where the
// file system supports it; otherwise NAME -> `.NAME.old`, `.NAME.tmp` ->
// NAME, then `.NAME.old` is deleted). A crash leaves the old checkpoint or
// the new one, never a mix; a crash between the two renames leaves the old
// one at `.NAME.old`, which loadCheckpoint() reads and the next
// saveCheckpoint() moves back.
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_CHECKPOINT_H
#define COLM_RUNTIME_CHECKPOINT_H

#include "runtime/Json.h"
#include "runtime/Model.h"
#include "runtime/Safetensors.h"
#include "runtime/Status.h"
#include "runtime/Tokenizer.h"

#include <array>
#include <cstdint>
#include <string>

namespace colm {

struct TrainingState {
  /// Steps completed; a resumed run continues with step + 1.
  int64_t step = 0;
  /// The run's --seed.
  uint64_t seed = 0;
  /// The random sampler's stream (Sampler::state()).
  std::array<uint64_t, 4> samplerRng{};
  /// Optimizer::stateTensors().
  TensorMap optimizer;
  /// The run's flags (optimizer config, batch, seq, sampler, chain loss,
  /// freeze-chains, data path, ...) as a JSON object, so --resume can
  /// restore them. The runtime stores it and does not interpret it.
  JsonValue args = JsonValue::object();
};

struct Checkpoint {
  Model model;
  Tokenizer tokenizer;
  TrainingState state;
};

/// Writes the checkpoint to `dir` atomically as a whole (see above). Parent
/// directories are created. An existing `dir` must be a model directory (it
/// has config.json) or empty; other regular files in it (a log, a plot) are
/// carried into the new version as hard links. Parameters are stored as F32.
Status saveCheckpoint(const std::string &dir, const Model &model,
                      const TrainingState &state,
                      const Tokenizer &tokenizer = Tokenizer());

/// Reads a checkpoint written by saveCheckpoint(). A model directory without
/// training state is an error ("DIR is a model, not a training checkpoint").
Result<Checkpoint> loadCheckpoint(const std::string &dir);

/// Whether `dir` (or its interrupted-save backup) holds training state.
bool isTrainingCheckpoint(const std::string &dir);

} // namespace colm

#endif // COLM_RUNTIME_CHECKPOINT_H
