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
#include <functional>
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
/// With `keepOtherFiles` false nothing of the old directory survives (a fresh
/// run that replaces an older one with --force).
Status saveCheckpoint(const std::string &dir, const Model &model,
                      const TrainingState &state,
                      const Tokenizer &tokenizer = Tokenizer(),
                      bool keepOtherFiles = true);

/// Writes a model directory as a whole: `write` fills a temporary sibling
/// directory, which then replaces `dir` atomically, so nothing of an older
/// model (training_state.*, a log) survives. An existing non-empty `dir` is
/// refused unless `replace` (--force); one that is not a model directory (no
/// config.json) is refused always.
Status
writeModelDirectory(const std::string &dir, bool replace,
                    const std::function<Status(const std::string &)> &write);

/// The checks of writeModelDirectory() alone, to fail before long work.
Status checkModelDirectoryWritable(const std::string &dir, bool replace);

/// writeModelDirectory() with config.json, model.safetensors and
/// tokenizer.json.
Status saveModelDirectory(const std::string &dir, const Model &model,
                          const Tokenizer &tokenizer, bool replace);

/// Reads a checkpoint written by saveCheckpoint(). A model directory without
/// training state is an error ("DIR is a model, not a training checkpoint").
Result<Checkpoint> loadCheckpoint(const std::string &dir);

/// An exclusive lock on writing a directory, held while a process may write
/// it (a whole training run, or one model save). It is an flock() on the
/// sibling file `.NAME.lock`, which survives the directory swaps of the
/// saves and is removed on release; the kernel drops the lock when the
/// process dies, so a crash never leaves a stale lock (at most the file).
class DirectoryLock {
public:
  /// Takes the lock of `dir` or fails at once with a message that names the
  /// holder (its pid and what it is, from `holder` of the other process).
  static Result<DirectoryLock> acquire(const std::string &dir,
                                       const std::string &holder);
  DirectoryLock(DirectoryLock &&other) noexcept
      : fd(other.fd), path(std::move(other.path)) {
    other.fd = -1;
  }
  DirectoryLock &operator=(DirectoryLock &&other) noexcept;
  DirectoryLock(const DirectoryLock &) = delete;
  DirectoryLock &operator=(const DirectoryLock &) = delete;
  ~DirectoryLock();

private:
  DirectoryLock(int fd, std::string path) : fd(fd), path(std::move(path)) {}
  void release();
  int fd = -1;
  std::string path;
};

/// Reads the text of training_state.json (as loadCheckpoint() does) into
/// the step, seed, sampler stream and args of `state`; `path` names the file
/// in errors. The optimizer tensors are left as they are.
Status parseTrainingState(std::string_view text, const std::string &path,
                          TrainingState &state);

/// Whether `dir` (or its interrupted-save backup) holds training state.
bool isTrainingCheckpoint(const std::string &dir);

} // namespace colm

#endif // COLM_RUNTIME_CHECKPOINT_H
