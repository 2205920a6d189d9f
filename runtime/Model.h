//===- Model.h - CoLM parameters and the model directory --------*- C++ -*-===//
//
// A model directory holds config.json and model.safetensors (spec/colm.md
// section 6). Loading checks the tensors against the config: names, shapes,
// and the zero blocks above the chain diagonal of every chain linear.
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_MODEL_H
#define COLM_RUNTIME_MODEL_H

#include "runtime/Config.h"
#include "runtime/Safetensors.h"
#include "runtime/Status.h"

#include <cstdint>
#include <string>
#include <vector>

namespace colm {

enum class ParamKind {
  /// [out, in], block lower-triangular by C on both dimensions.
  ChainLinear,
  /// CoLM-Air k/v projections: dense [h_kv*hd, D_1], owned by chain 1.
  Dense,
  /// embed_tokens and lm_head: [V, D], the last dimension split by C.
  ChainedColumns,
  /// [D] norm gains.
  Gain,
};

const char *paramKindName(ParamKind kind);

struct ParamSpec {
  std::string name;
  std::vector<int64_t> shape;
  ParamKind kind;
};

/// Every parameter of the model, in the order and with the names of spec
/// section 6. The config must be valid.
std::vector<ParamSpec> modelParams(const ModelConfig &config);

struct Model {
  ModelConfig config;
  TensorMap params;
};

/// Checks that every entry of `t` in a block above the chain diagonal is
/// exactly zero (a NaN counts as non-zero); the error names the tensor, the
/// block and the first offending entry.
Status checkBlockLowerTriangular(const ModelConfig &config,
                                 const std::string &name, const Tensor &t);

/// Sets the blocks above the chain diagonal of an [out, in] tensor to zero.
void applyChainMask(const ModelConfig &config, Tensor &t);

/// Checks `params` against modelParams(config): missing, unexpected and
/// mis-shaped tensors, non-finite values (a NaN or Inf weight is damage, never
/// a model), and the zero blocks of chain linears. `source` names the file in
/// errors.
Status checkParams(const ModelConfig &config, const TensorMap &params,
                   const std::string &source);

/// The error for the first NaN or Inf of `t`, naming the tensor and the index.
Status checkFinite(const std::string &name, const Tensor &t);

/// The number of parameters of `config` as stored (dense, zero blocks
/// included), computed without building the list; a double, so that absurd
/// configs cannot overflow.
double modelParamCount(const ModelConfig &config);

/// An error naming the estimate when `copies` fp32 copies of the parameters
/// plus `extraBytes` do not fit in the available memory; `what` says what
/// needs it ("colm init", "training with --batch 8 --seq 128").
Status checkModelFits(const ModelConfig &config, double copies,
                      double extraBytes, const std::string &what);

/// Reads dir/config.json and dir/model.safetensors, validates the config and
/// checks the parameters (their memory is checked before they are read).
Result<Model> loadModel(const std::string &dir);

/// Creates `dir` if needed and writes config.json and model.safetensors
/// (parameters stored as `dtype`), each atomically.
Status saveModel(const std::string &dir, const Model &model,
                 DType dtype = DType::F32);

/// Fresh weights (spec section 7): linears and embeddings normal(0, 0.02)
/// with the blocks above the chain diagonal zero, norm gains 1. Each tensor
/// draws from its own stream derived from (seed, name). The config must be
/// valid.
Model initModel(const ModelConfig &config, uint64_t seed);

} // namespace colm

#endif // COLM_RUNTIME_MODEL_H
