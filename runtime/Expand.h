//===- Expand.h - Chain expansion (progressive scaling) ---------*- C++ -*-===//
//
// spec/colm.md section 5: appending chains C -> C' = C ++ add to a model.
// The head size hd stays; h' = S' (the new chain sum), D' = hd * h',
// F' = F * S' / S (must be exact); CoLM: h_kv' = h_kv * S' / S (must be
// exact); CoLM-Air: h_kv stays and every new c_i must be a multiple of it.
// Old chain i owns the same index range in every new dimension, so each old
// tensor is the leading slice (prefix rows and columns) of its new tensor.
// New entries are initialised like initModel() (normal(0, 0.02), blocks above
// the chain diagonal zero, gains 1) except lm_head's new columns, which are
// exactly zero: the expanded model's full logits equal the original's.
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_EXPAND_H
#define COLM_RUNTIME_EXPAND_H

#include "runtime/Model.h"
#include "runtime/Status.h"

#include <cstdint>
#include <vector>

namespace colm {

/// The config of `config` with `addChains` appended (validated). A
/// "model_type": "llama" model becomes a "colm" one with `chains` written.
Result<ModelConfig> expandConfig(const ModelConfig &config,
                                 const std::vector<int64_t> &addChains);

/// Expands `model` (which must pass checkParams) by `addChains`; `seed`
/// seeds the new entries (per tensor name, as initModel()).
Result<Model> expandModel(const Model &model,
                          const std::vector<int64_t> &addChains, uint64_t seed);

} // namespace colm

#endif // COLM_RUNTIME_EXPAND_H
