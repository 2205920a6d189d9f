// RUN: colm-opt %s -split-input-file -allow-unregistered-dialect -verify-diagnostics --chain-verify-causality | FileCheck %s

// chain-verify-causality proves that chain i of every value depends only on
// chains 1..i of the inputs and parameters (spec/colm.md section 2). Graphs
// that obey the rule come out unchanged; the first op that breaks it is
// reported with the chains and the reason.

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>

// One CoLM layer (spec section 3) with two chains, D = 16, h = 2, hd = 8,
// h_kv = 2, F = 32, and the LM head of the 1-chain and 2-chain sub-models.
// CHECK-LABEL: func.func @colm_layer(
// CHECK-COUNT-3: chain.linear
// CHECK: chain.attention {{.*}} kv_mapping grouped
// CHECK-COUNT-4: chain.linear
// CHECK: chain.lm_head {{.*}} chains 1
// CHECK: chain.cross_entropy
func.func @colm_layer(%tokens: tensor<?xi32>, %targets: tensor<?xi32>) -> (tensor<f32>, tensor<?x32xf32>) {
  %emb = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %g1 = chain.param "model.layers.0.input_layernorm.weight" : tensor<16xf32, #l>
  %a = chain.norm %x, %g1 : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %wq = chain.param "model.layers.0.self_attn.q_proj.weight" : tensor<16x16xf32, #b>
  %wk = chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<16x16xf32, #b>
  %wv = chain.param "model.layers.0.self_attn.v_proj.weight" : tensor<16x16xf32, #b>
  %q0 = chain.linear %a, %wq : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %k0 = chain.linear %a, %wk : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %v = chain.linear %a, %wv : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %q = chain.rope %q0 {head_dim = 8} : tensor<?x16xf32, #l>
  %k = chain.rope %k0 {head_dim = 8} : tensor<?x16xf32, #l>
  %att = chain.attention %q, %k, %v kv_mapping grouped {head_dim = 8} : tensor<?x16xf32, #l>, tensor<?x16xf32, #l>, tensor<?x16xf32, #l>
  %wo = chain.param "model.layers.0.self_attn.o_proj.weight" : tensor<16x16xf32, #b>
  %o = chain.linear %att, %wo : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %x1 = chain.add %x, %o : tensor<?x16xf32, #l>
  %g2 = chain.param "model.layers.0.post_attention_layernorm.weight" : tensor<16xf32, #l>
  %bn = chain.norm %x1, %g2 : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %wg = chain.param "model.layers.0.mlp.gate_proj.weight" : tensor<32x16xf32, #b>
  %wu = chain.param "model.layers.0.mlp.up_proj.weight" : tensor<32x16xf32, #b>
  %wd = chain.param "model.layers.0.mlp.down_proj.weight" : tensor<16x32xf32, #b>
  %gt = chain.linear %bn, %wg : tensor<?x16xf32, #l>, tensor<32x16xf32, #b> -> tensor<?x32xf32, #l>
  %up = chain.linear %bn, %wu : tensor<?x16xf32, #l>, tensor<32x16xf32, #b> -> tensor<?x32xf32, #l>
  %h = chain.swiglu %gt, %up : tensor<?x32xf32, #l>
  %d = chain.linear %h, %wd : tensor<?x32xf32, #l>, tensor<16x32xf32, #b> -> tensor<?x16xf32, #l>
  %x2 = chain.add %x1, %d : tensor<?x16xf32, #l>
  %gf = chain.param "model.norm.weight" : tensor<16xf32, #l>
  %xf = chain.norm %x2, %gf : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %we = chain.param "lm_head.weight" : tensor<32x16xf32, #l>
  %small = chain.lm_head %xf, %we chains 1 : tensor<?x16xf32, #l>, tensor<32x16xf32, #l> -> tensor<?x32xf32>
  %full = chain.lm_head %xf, %we : tensor<?x16xf32, #l>, tensor<32x16xf32, #l> -> tensor<?x32xf32>
  %loss = chain.cross_entropy %small, %targets : tensor<?x32xf32>, tensor<?xi32> -> tensor<f32>
  return %loss, %full : tensor<f32>, tensor<?x32xf32>
}

// -----

#l = #chain.layout<[1, 1, 2]>
#b = #chain.blocks<[1, 1, 2]>
#l1 = #chain.layout<[1]>

// One CoLM-Air layer: chains [1, 1, 2], D = 16, h = 4, hd = 4, h_kv = 1.
// Keys and values are dense projections of chain 1 (unchained parameters
// belong to chain 1), read through the tiled mapping.
// CHECK-LABEL: func.func @colm_air_layer(
// CHECK: chain.prefix {{.*}} chains 1
// CHECK-COUNT-2: chain.dense
// CHECK: chain.attention {{.*}} kv_mapping tiled
func.func @colm_air_layer(%x: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  %g1 = chain.param "model.layers.0.input_layernorm.weight" : tensor<16xf32, #l>
  %a = chain.norm %x, %g1 : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %wq = chain.param "model.layers.0.self_attn.q_proj.weight" : tensor<16x16xf32, #b>
  %q0 = chain.linear %a, %wq : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %a1 = chain.prefix %a chains 1 : tensor<?x16xf32, #l> -> tensor<?x4xf32, #l1>
  %wk = chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<4x4xf32>
  %wv = chain.param "model.layers.0.self_attn.v_proj.weight" : tensor<4x4xf32>
  %k0 = chain.dense %a1, %wk : tensor<?x4xf32, #l1>, tensor<4x4xf32> -> tensor<?x4xf32>
  %v = chain.dense %a1, %wv : tensor<?x4xf32, #l1>, tensor<4x4xf32> -> tensor<?x4xf32>
  %q = chain.rope %q0 {head_dim = 4} : tensor<?x16xf32, #l>
  %k = chain.rope %k0 {head_dim = 4} : tensor<?x4xf32>
  %att = chain.attention %q, %k, %v kv_mapping tiled {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x4xf32>, tensor<?x4xf32>
  %wo = chain.param "model.layers.0.self_attn.o_proj.weight" : tensor<16x16xf32, #b>
  %o = chain.linear %att, %wo : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %x1 = chain.add %x, %o : tensor<?x16xf32, #l>
  return %x1 : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// Grouped GQA on chained CoLM keys: 4 query heads, 2 key/value heads; query
// heads 0, 1 (chain 1) read kv head 0 (chain 1).
// CHECK-LABEL: func.func @grouped_kv_heads(
func.func @grouped_kv_heads(%q: tensor<?x16xf32, #l>, %k: tensor<?x8xf32, #l>) -> tensor<?x16xf32, #l> {
  %y = chain.attention %q, %k, %k kv_mapping grouped {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  return %y : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// Statistics finer than the chains are fine.
// CHECK-LABEL: func.func @fine_stats(
func.func @fine_stats(%x: tensor<?x8xf32, #l>, %g: tensor<8xf32, #l>) -> tensor<?x8xf32, #l> {
  %y = chain.norm %x, %g stats(#chain.layout<[1, 1, 1, 1]>) : tensor<?x8xf32, #l>, tensor<8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// A dense linear whose weight is masked block lower-triangular obeys the
// rule: block (1, 2) of the mask is zero.
// CHECK-LABEL: func.func @masked_dense(
// CHECK: chain.dense
func.func @masked_dense(%x: tensor<?x4xf32, #l>) -> tensor<?x4xf32, #l> {
  %w = chain.param "w" : tensor<4x4xf32>
  %m = arith.constant dense<[[1.0, 1.0, 0.0, 0.0],
                             [1.0, 1.0, 0.0, 0.0],
                             [1.0, 1.0, 1.0, 1.0],
                             [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>
  %wm = chain.mul %m, %w : tensor<4x4xf32>
  %y = chain.dense %x, %wm : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  return %y : tensor<?x4xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// A lowered chain linear (what chain-fold-masks produces) obeys the rule.
// CHECK-LABEL: func.func @lowered_linear(
// CHECK: chain.concat
func.func @lowered_linear(%x: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  %w = chain.param "w" : tensor<8x8xf32, #chain.blocks<[1, 1]>>
  %x1 = chain.prefix %x chains 1 : tensor<?x8xf32, #l> -> tensor<?x4xf32, #chain.layout<[1]>>
  %w1 = chain.weight_block %w out_chain 1 : tensor<8x8xf32, #chain.blocks<[1, 1]>> -> tensor<4x4xf32>
  %y1 = chain.dense %x1, %w1 : tensor<?x4xf32, #chain.layout<[1]>>, tensor<4x4xf32> -> tensor<?x4xf32>
  %w2 = chain.weight_block %w out_chain 2 : tensor<8x8xf32, #chain.blocks<[1, 1]>> -> tensor<4x8xf32>
  %y2 = chain.dense %x, %w2 : tensor<?x8xf32, #l>, tensor<4x8xf32> -> tensor<?x4xf32>
  %y = chain.concat %y1, %y2 : tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

func.func @unmasked_dense(%x: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  %w = chain.param "w" : tensor<8x8xf32>
  // expected-error @+1 {{breaks the chain causal rule: chain 1 of the result depends on chain 2 (weight block (1, 2) of this dense linear is not masked to zero)}}
  %y = chain.dense %x, %w : tensor<?x8xf32, #l>, tensor<8x8xf32> -> tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// The mask is 1 in block (1, 2), above the chain diagonal.
func.func @mask_upper_block(%x: tensor<?x4xf32, #l>) -> tensor<?x4xf32, #l> {
  %w = chain.param "w" : tensor<4x4xf32>
  %m = arith.constant dense<[[1.0, 1.0, 0.0, 1.0],
                             [1.0, 1.0, 0.0, 0.0],
                             [1.0, 1.0, 1.0, 1.0],
                             [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>
  %wm = chain.mul %w, %m : tensor<4x4xf32>
  // expected-error @+1 {{chain 1 of the result depends on chain 2 (weight block (1, 2) of this dense linear is not masked to zero)}}
  %y = chain.dense %x, %wm : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  return %y : tensor<?x4xf32, #l>
}

// -----

#l = #chain.layout<[1, 1, 2]>

// Three chains: block (2, 3) is the one left unmasked.
func.func @mask_upper_block_3(%x: tensor<?x4xf32, #l>) -> tensor<?x4xf32, #l> {
  %w = chain.param "w" : tensor<4x4xf32>
  %m = arith.constant dense<[[1.0, 0.0, 0.0, 0.0],
                             [1.0, 1.0, 1.0, 0.0],
                             [1.0, 1.0, 1.0, 1.0],
                             [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>
  %wm = chain.mul %w, %m : tensor<4x4xf32>
  // expected-error @+1 {{chain 2 of the result depends on chain 3 (weight block (2, 3) of this dense linear is not masked to zero)}}
  %y = chain.dense %x, %wm : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  return %y : tensor<?x4xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// One RMSNorm over the whole vector: chain 1 is scaled by chain 2's entries.
func.func @norm_stats_span_chains(%x: tensor<?x16xf32, #l>, %g: tensor<16xf32, #l>) -> tensor<?x16xf32, #l> {
  // expected-error @+1 {{chain 1 of the result depends on chain 2 (its normalisation statistics span entries [0, 16), which include chain 2)}}
  %y = chain.norm %x, %g stats(#chain.layout<[1]>) : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  return %y : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 3]>

// Groups [1, 1] over chains [1, 3]: group 1 is entries [0, 8), chain 1 only
// [0, 4).
func.func @norm_stats_misaligned(%x: tensor<?x16xf32, #l>, %g: tensor<16xf32, #l>) -> tensor<?x16xf32, #l> {
  // expected-error @+1 {{chain 1 of the result depends on chain 2 (its normalisation statistics span entries [0, 8), which include chain 2)}}
  %y = chain.norm %x, %g stats(#chain.layout<[1, 1]>) : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  return %y : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// q is 16 wide with chains of 8, but head_dim 16: head 0 straddles both.
func.func @attention_head_straddles(%q: tensor<?x16xf32, #l>, %k: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  // expected-error @+1 {{chain 1 of the result depends on chain 2 (attention head 0 reads queries of chain 2)}}
  %y = chain.attention %q, %k, %k kv_mapping grouped {head_dim = 16} : tensor<?x16xf32, #l>, tensor<?x16xf32, #l>, tensor<?x16xf32, #l>
  return %y : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

func.func @rope_head_straddles(%q: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  // expected-error @+1 {{chain 1 of the result depends on chain 2 (head 0 rotates entries of chain 2)}}
  %y = chain.rope %q {head_dim = 16} : tensor<?x16xf32, #l>
  return %y : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// Tiled mapping on chained CoLM keys: 4 query heads, 2 kv heads (one per
// chain). Query head 1 belongs to chain 1 but reads kv head 1 mod 2 = 1,
// which is chain 2's.
func.func @tiled_kv_crosses_chains(%q: tensor<?x16xf32, #l>, %k: tensor<?x8xf32, #l>) -> tensor<?x16xf32, #l> {
  // expected-error @+1 {{chain 1 of the result depends on chain 2 (query head 1 reads key/value head 1 (tiled mapping), which depends on chain 2)}}
  %y = chain.attention %q, %k, %k kv_mapping tiled {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  return %y : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 3]>

// Grouped mapping with a kv head that straddles chains: 4 query heads over
// chains [1, 3], 2 kv heads of width 4 over [1, 3] (chain 1 owns entries
// [0, 2) of the keys, so kv head 0 is half chain 2).
func.func @grouped_kv_straddles(%q: tensor<?x16xf32, #l>, %k: tensor<?x8xf32, #l>) -> tensor<?x16xf32, #l> {
  // expected-error @+1 {{chain 1 of the result depends on chain 2 (query head 0 reads key/value head 0 (grouped mapping), which depends on chain 2)}}
  %y = chain.attention %q, %k, %k kv_mapping grouped {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  return %y : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// CoLM-Air keys computed from all of `a` instead of its chain-1 prefix. The
// keys are unchained (one range), and the reason names the level they depend
// on (chain 2), not the position of that range.
func.func @air_keys_from_all_chains(%a: tensor<?x16xf32, #l>, %q: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  %wk = chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<8x16xf32>
  %k = chain.dense %a, %wk : tensor<?x16xf32, #l>, tensor<8x16xf32> -> tensor<?x8xf32>
  // expected-error @+1 {{chain 1 of the result depends on chain 2 (query head 0 reads key/value head 0 (tiled mapping), which depends on chain 2)}}
  %y = chain.attention %q, %k, %k kv_mapping tiled {head_dim = 8} : tensor<?x16xf32, #l>, tensor<?x8xf32>, tensor<?x8xf32>
  return %y : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// A concat that puts chain 2's part first.
func.func @concat_swapped(%x: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  %w = chain.param "w" : tensor<8x8xf32, #chain.blocks<[1, 1]>>
  %x1 = chain.prefix %x chains 1 : tensor<?x8xf32, #l> -> tensor<?x4xf32, #chain.layout<[1]>>
  %w1 = chain.weight_block %w out_chain 1 : tensor<8x8xf32, #chain.blocks<[1, 1]>> -> tensor<4x4xf32>
  %y1 = chain.dense %x1, %w1 : tensor<?x4xf32, #chain.layout<[1]>>, tensor<4x4xf32> -> tensor<?x4xf32>
  %w2 = chain.weight_block %w out_chain 2 : tensor<8x8xf32, #chain.blocks<[1, 1]>> -> tensor<4x8xf32>
  %y2 = chain.dense %x, %w2 : tensor<?x8xf32, #l>, tensor<4x8xf32> -> tensor<?x4xf32>
  // expected-error @+1 {{chain 1 of the result depends on chain 2 (through chain 1 of operand #0)}}
  %y = chain.concat %y2, %y1 : tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// An op the analysis does not know may mix all chains of its operands: it
// is named as unsupported, not claimed to break the rule.
func.func @unknown_op(%x: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  // expected-error @+1 {{cannot prove the chain causal rule: 'test.mix' is an op the causality analysis does not support (chain 1 of its result may depend on chain 2, through operand #0)}}
  %y = "test.mix"(%x) : (tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// An unknown op with several results: each chained result may depend on
// every chain of the operands.
func.func private @mix(tensor<?x8xf32, #l>) -> (tensor<?x8xf32, #l>, tensor<?x8xf32, #l>)
func.func @unknown_op_two_results(%x: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  // expected-error @+1 {{cannot prove the chain causal rule: 'func.call' is an op the causality analysis does not support (chain 1 of result #0 may depend on chain 2, through operand #0)}}
  %a:2 = func.call @mix(%x) : (tensor<?x8xf32, #l>) -> (tensor<?x8xf32, #l>, tensor<?x8xf32, #l>)
  %y = chain.add %a#0, %x : tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// The same when only chain 1 of a result is used: the op is reported, not
// read past the end of its levels.
func.func private @mix(tensor<?x8xf32, #l>) -> (tensor<?x8xf32, #l>, tensor<?x8xf32, #l>)
func.func @unknown_op_two_results_prefix(%x: tensor<?x8xf32, #l>) -> tensor<?x4xf32, #chain.layout<[1]>> {
  // expected-error @+1 {{cannot prove the chain causal rule: 'test.mix2' is an op the causality analysis does not support (chain 1 of result #0 may depend on chain 2, through operand #0)}}
  %a:2 = "test.mix2"(%x) : (tensor<?x8xf32, #l>) -> (tensor<?x8xf32, #l>, tensor<?x8xf32, #l>)
  %y = chain.prefix %a#0 chains 1 : tensor<?x8xf32, #l> -> tensor<?x4xf32, #chain.layout<[1]>>
  return %y : tensor<?x4xf32, #chain.layout<[1]>>
}

// -----

#l = #chain.layout<[1, 1]>

// An unknown op with several results whose operands depend on chain 1 only
// is accepted, and its results carry level 1.
// CHECK-LABEL: func.func @unknown_op_two_results_chain1(
func.func @unknown_op_two_results_chain1(%x: tensor<?x8xf32, #l>) -> tensor<?x4xf32, #chain.layout<[1]>> {
  %x1 = chain.prefix %x chains 1 : tensor<?x8xf32, #l> -> tensor<?x4xf32, #chain.layout<[1]>>
  %a:2 = "test.mix2"(%x1) : (tensor<?x4xf32, #chain.layout<[1]>>) -> (tensor<?x4xf32, #chain.layout<[1]>>, tensor<?x4xf32>)
  %y = chain.add %a#0, %a#0 : tensor<?x4xf32, #chain.layout<[1]>>
  return %y : tensor<?x4xf32, #chain.layout<[1]>>
}

// -----

#l = #chain.layout<[1, 1]>

// A violation propagates: the residual add inherits it, but the first op
// that breaks the rule is the one reported.
func.func @first_violation_reported(%x: tensor<?x8xf32, #l>, %g: tensor<8xf32, #l>) -> tensor<?x8xf32, #l> {
  // expected-error @+1 {{normalisation statistics span entries [0, 8)}}
  %n = chain.norm %x, %g stats(#chain.layout<[1]>) : tensor<?x8xf32, #l>, tensor<8xf32, #l>
  %y = chain.add %x, %n : tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}

// -----

// Block arguments of a nested region may carry any chain: keys that arrive
// through one are assumed to depend on every chain.
#l = #chain.layout<[1, 1]>
func.func @keys_through_a_region(%x: tensor<?x16xf32, #l>, %q: tensor<?x16xf32, #l>) {
  "test.region"(%x) ({
  ^bb0(%k: tensor<?x8xf32>):
    // expected-error @+1 {{chain 1 of the result depends on chain 2 (query head 0 reads key/value head 0 (tiled mapping), which depends on chain 2)}}
    %y = chain.attention %q, %k, %k kv_mapping tiled {head_dim = 8} : tensor<?x16xf32, #l>, tensor<?x8xf32>, tensor<?x8xf32>
    "test.yield"(%y) : (tensor<?x16xf32, #l>) -> ()
  }) : (tensor<?x16xf32, #l>) -> ()
  return
}

// -----

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>

// The backward ops of a training step (chain-autodiff's output): chain 1 of
// a gradient depends on chain 2 by construction, so gradients, and values
// computed from them, are exempt from the rule.
// CHECK-LABEL: func.func @backward_ops(
// CHECK: chain.linear_grad_x
// CHECK: chain.linear_grad_w
func.func @backward_ops(%x: tensor<?x8xf32, #l>, %dy: tensor<?x8xf32, #l>) -> (tensor<?x8xf32, #l>, tensor<8x8xf32, #b>) {
  %w = chain.param "w" : tensor<8x8xf32, #b>
  %dx = chain.linear_grad_x %dy, %w : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %dw = chain.linear_grad_w %dy, %x from_chain 2 : tensor<?x8xf32, #l>, tensor<?x8xf32, #l> -> tensor<8x8xf32, #b>
  %dx2 = chain.add %dx, %dx : tensor<?x8xf32, #l>
  %g = chain.param "g" : tensor<8xf32, #l>
  %dn:2 = chain.norm_grad %x, %g, %dx2 : tensor<?x8xf32, #l>, tensor<8xf32, #l>
  return %dn#0, %dw : tensor<?x8xf32, #l>, tensor<8x8xf32, #b>
}

// -----

#l = #chain.layout<[1, 1]>

// The forward values of a training step are still checked.
func.func @forward_part_of_a_step(%x: tensor<?x8xf32, #l>, %g: tensor<8xf32, #l>, %t: tensor<?xi32>) -> tensor<?x10xf32> {
  // expected-error @+1 {{breaks the chain causal rule: chain 1 of the result depends on chain 2 (its normalisation statistics span entries [0, 8), which include chain 2)}}
  %n = chain.norm %x, %g stats(#chain.layout<[1]>) : tensor<?x8xf32, #l>, tensor<8xf32, #l>
  %w = chain.param "lm_head.weight" : tensor<10x8xf32, #l>
  %logits = chain.lm_head %n, %w : tensor<?x8xf32, #l>, tensor<10x8xf32, #l> -> tensor<?x10xf32>
  %d = chain.cross_entropy_grad %logits, %t : tensor<?x10xf32>, tensor<?xi32> -> tensor<?x10xf32>
  return %d : tensor<?x10xf32>
}

// -----

// Values that are not ranked tensors (found by hand; crashed the analysis):
// they carry no chains.
// CHECK-LABEL: func.func @not_tensors(
func.func @not_tensors(%a: i32, %t: tensor<*xf32>) -> (i32, tensor<*xf32>) {
  %c = "test.op"(%a) : (i32) -> i32
  %u = "test.op"(%t) : (tensor<*xf32>) -> tensor<*xf32>
  return %c, %u : i32, tensor<*xf32>
}

// -----

#b = #chain.blocks<[1, 1]>

// A norm over a chain-block value (read past the end of the chain ranges):
// its chains are the block columns, and one statistics group spans both.
func.func @norm_on_blocks(%x: tensor<8x8xf32, #b>, %g: tensor<8xf32>) -> tensor<8x8xf32, #b> {
  // expected-error @+1 {{breaks the chain causal rule: chain 1 of the result depends on chain 2 (its normalisation statistics span entries [0, 8), which include chain 2)}}
  %y = chain.norm %x, %g : tensor<8x8xf32, #b>, tensor<8xf32>
  return %y : tensor<8x8xf32, #b>
}

// -----

// Inside a fusion group the analysis reads the group's inputs: the unmasked
// dense is found in the body.
#l = #chain.layout<[1, 1]>

func.func @fused_unmasked_dense(%x: tensor<?x8xf32, #l>, %r: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  %w = chain.param "w" : tensor<8x8xf32>
  %s = chain.fused gemm_add(%x, %w, %r) : (tensor<?x8xf32, #l>, tensor<8x8xf32>, tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  ^bb0(%a: tensor<?x8xf32, #l>, %b: tensor<8x8xf32>, %c: tensor<?x8xf32, #l>):
    // expected-error @+1 {{breaks the chain causal rule: chain 1 of the result depends on chain 2 (weight block (1, 2) of this dense linear is not masked to zero)}}
    %y = chain.dense %a, %b : tensor<?x8xf32, #l>, tensor<8x8xf32> -> tensor<?x8xf32, #l>
    %z = chain.add %y, %c : tensor<?x8xf32, #l>
    chain.yield %z : tensor<?x8xf32, #l>
  }
  return %s : tensor<?x8xf32, #l>
}
