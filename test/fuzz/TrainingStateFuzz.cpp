//===- TrainingStateFuzz.cpp - libFuzzer target for training_state.json ---===//
//
// parseTrainingState() reads the JSON that `colm train --resume` trusts to
// restore a run. Whatever it accepts must be consistent, and must read back
// identically when written in the form saveCheckpoint() writes.
//
//===----------------------------------------------------------------------===//

#include "runtime/Checkpoint.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>

namespace {

/// training_state.json as saveCheckpoint() writes it (Checkpoint.h).
std::string writeState(const colm::TrainingState &s) {
  colm::JsonValue root = colm::JsonValue::object();
  root.set("format", colm::JsonValue::string("colm-training-state"));
  root.set("version", colm::JsonValue::integer(1));
  root.set("step", colm::JsonValue::integer(s.step));
  root.set("seed", colm::JsonValue::string(std::to_string(s.seed)));
  colm::JsonValue rng = colm::JsonValue::array();
  for (uint64_t w : s.samplerRng) {
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx",
                  static_cast<unsigned long long>(w));
    rng.push(colm::JsonValue::string(hex));
  }
  root.set("sampler_rng", std::move(rng));
  root.set("args", s.args);
  return colm::writeJson(root, 2);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  colm::TrainingState state;
  colm::Status st = colm::parseTrainingState(text, "fuzz", state);
  if (!st.isOk()) {
    if (st.message().empty())
      __builtin_trap(); // every error must say what went wrong
    return 0;
  }
  if (state.step < 0 || !state.args.isObject())
    __builtin_trap();
  colm::TrainingState back;
  colm::Status again = colm::parseTrainingState(writeState(state), "re", back);
  if (!again.isOk() || back.step != state.step || back.seed != state.seed ||
      back.samplerRng != state.samplerRng ||
      colm::writeJson(back.args) != colm::writeJson(state.args))
    __builtin_trap();
  return 0;
}
