//===- BuildColm.cpp - the standard CoLM / CoLM-Air graph -------*- C++ -*-===//
#include "compiler/BuildColm.h"

#include "mlir/IR/Verifier.h"

namespace colm {

using dsl::Scope;
using dsl::Value;

Value colmAttention(Scope &s, Value a, const ModelConfig &config,
                    KvStep *cache) {
  dsl::Graph &g = s.g();
  int64_t hd = config.headDim();
  // CoLM-Air: keys and values of every chain come from chain 1 alone.
  Value a1 = config.kvSharing ? g.prefix(a, 1, s.value("a_c1")) : Value();
  Value q = g.chainLinear(a, s.param("self_attn.q_proj.weight"),
                          config.qWidth(), s.value("q"));
  Value k, v;
  chain::KvMapping mapping;
  if (config.kvSharing) {
    k = g.dense(a1, s.param("self_attn.k_proj.weight"), config.kvWidth(),
                s.value("k"));
    v = g.dense(a1, s.param("self_attn.v_proj.weight"), config.kvWidth(),
                s.value("v"));
    mapping = chain::KvMapping::tiled;
  } else {
    k = g.chainLinear(a, s.param("self_attn.k_proj.weight"), config.kvWidth(),
                      s.value("k"));
    v = g.chainLinear(a, s.param("self_attn.v_proj.weight"), config.kvWidth(),
                      s.value("v"));
    mapping = chain::KvMapping::grouped;
  }
  Value positions = cache ? cache->positions : Value();
  q = g.rope(q, hd, config.ropeTheta, s.value("q_rope"), positions);
  k = g.rope(k, hd, config.ropeTheta, s.value("k_rope"), positions);
  if (cache) {
    // The new rows go to the runtime's cache; attention reads past + new.
    cache->kNew = k;
    cache->vNew = v;
    k = g.append(cache->kPast, k, s.value("k_all"));
    v = g.append(cache->vPast, v, s.value("v_all"));
  }
  Value o = g.attention(q, k, v, hd, mapping, s.value("attn"));
  return g.chainLinear(o, s.param("self_attn.o_proj.weight"), config.hiddenSize,
                       s.value("attn_out"));
}

Value colmFeedForward(Scope &s, Value b, const ModelConfig &config) {
  dsl::Graph &g = s.g();
  Value gate = g.chainLinear(b, s.param("mlp.gate_proj.weight"),
                             config.intermediateSize, s.value("gate"));
  Value up = g.chainLinear(b, s.param("mlp.up_proj.weight"),
                           config.intermediateSize, s.value("up"));
  Value act = g.swiglu(gate, up, s.value("act"));
  return g.chainLinear(act, s.param("mlp.down_proj.weight"), config.hiddenSize,
                       s.value("ffn_out"));
}

Result<mlir::OwningOpRef<mlir::ModuleOp>> buildColm(mlir::MLIRContext &context,
                                                    const ModelConfig &config) {
  COLM_TRY(validateConfig(config));
  dsl::Graph g(context, "forward", config.chains);
  double eps = config.rmsNormEps;
  Value x = g.embed("model.embed_tokens.weight", config.vocabSize,
                    config.hiddenSize, g.inputTokens());
  for (int l = 0; l < config.numLayers; ++l) {
    Scope s(g, "model.layers", l);
    Value a =
        g.chainNorm(x, s.param("input_layernorm.weight"), eps, s.value("a"));
    x = g.add(x, colmAttention(s, a, config), s.value("x_attn"));
    Value b = g.chainNorm(x, s.param("post_attention_layernorm.weight"), eps,
                          s.value("b"));
    x = g.add(x, colmFeedForward(s, b, config), s.value("x"));
  }
  Value h = g.chainNorm(x, "model.norm.weight", eps, "h");
  g.output({g.lmHead(h, "lm_head.weight", config.vocabSize)});
  if (mlir::failed(mlir::verify(g.module())))
    return Status::error("internal error: the built graph does not verify");
  return g.take();
}

Result<mlir::OwningOpRef<mlir::ModuleOp>>
buildColmStep(mlir::MLIRContext &context, const ModelConfig &config,
              bool withLogits) {
  COLM_TRY(validateConfig(config));
  dsl::Graph g(context, "step", config.chains);
  double eps = config.rmsNormEps;
  Value tokens = g.inputTokens();
  Value positions =
      g.input(mlir::RankedTensorType::get({mlir::ShapedType::kDynamic},
                                          mlir::IntegerType::get(&context, 32)),
              "positions");
  // CoLM's keys and values are chained (the k-chain cache is a prefix);
  // CoLM-Air's come from chain 1 and serve every sub-model.
  mlir::RankedTensorType kvType = config.kvSharing
                                      ? g.plain(config.kvWidth())
                                      : g.chained(config.kvWidth());
  std::vector<KvStep> caches(config.numLayers);
  for (int l = 0; l < config.numLayers; ++l) {
    std::string i = std::to_string(l);
    caches[l].positions = positions;
    caches[l].kPast = g.input(kvType, "k_past" + i);
    caches[l].vPast = g.input(kvType, "v_past" + i);
  }
  Value x = g.embed("model.embed_tokens.weight", config.vocabSize,
                    config.hiddenSize, tokens);
  for (int l = 0; l < config.numLayers; ++l) {
    Scope s(g, "model.layers", l);
    Value a =
        g.chainNorm(x, s.param("input_layernorm.weight"), eps, s.value("a"));
    x = g.add(x, colmAttention(s, a, config, &caches[l]), s.value("x_attn"));
    if (!withLogits && l + 1 == config.numLayers)
      break; // only the keys and values are wanted
    Value b = g.chainNorm(x, s.param("post_attention_layernorm.weight"), eps,
                          s.value("b"));
    x = g.add(x, colmFeedForward(s, b, config), s.value("x"));
  }
  std::vector<Value> results;
  if (withLogits) {
    Value h = g.chainNorm(x, "model.norm.weight", eps, "h");
    results.push_back(g.lmHead(h, "lm_head.weight", config.vocabSize));
  }
  for (KvStep &c : caches) {
    results.push_back(c.kNew);
    results.push_back(c.vNew);
  }
  g.output(results);
  mlir::ModuleOp module = g.module();
  // The last layer's attention output is dead when only keys and values are
  // returned.
  for (bool changed = true; changed;) {
    changed = false;
    std::vector<mlir::Operation *> dead;
    module.walk([&](mlir::Operation *op) {
      if (op->getNumResults() && op->use_empty() && mlir::isPure(op))
        dead.push_back(op);
    });
    for (mlir::Operation *op : dead)
      op->erase();
    changed = !dead.empty();
  }
  if (mlir::failed(mlir::verify(module)))
    return Status::error("internal error: the built step graph does not "
                         "verify");
  return g.take();
}

} // namespace colm
