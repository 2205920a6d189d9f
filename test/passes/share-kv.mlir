// RUN: colm-opt %s -split-input-file -verify-diagnostics --chain-share-kv | FileCheck %s
// RUN: colm-opt %s -split-input-file -verify-diagnostics --chain-share-kv | FileCheck %s --check-prefix=GONE
// The CoLM-Air graph obeys the causal rule, also once its chain linears are
// lowered block-wise.
// RUN: colm-opt %s -split-input-file -verify-diagnostics --chain-share-kv --chain-verify-causality | FileCheck %s --check-prefix=AIR
// RUN: colm-opt %s -split-input-file -verify-diagnostics --chain-share-kv --chain-fold-masks --chain-verify-causality | FileCheck %s --check-prefix=AIR
// The chain-1 sub-model of CoLM-Air computes its keys from all of its input.
// RUN: colm-opt %s -split-input-file -verify-diagnostics --chain-share-kv --chain-slice=chains=1 | FileCheck %s --check-prefix=K1

// chain-share-kv turns CoLM attention (keys and values from chain linears of
// the normalised input `a`) into CoLM-Air: keys and values are dense
// projections of chain 1 of `a`, the parameters keep their names and become
// [h_kv*hd, D_1], and the kv heads are tiled (spec/colm.md section 3).

#l = #chain.layout<[2, 2]>
#b = #chain.blocks<[2, 2]>

// Chains [2, 2], D = 16, h = 4, hd = 4, h_kv = 2: D_1 = 8, Wk/Wv [8, 8].
// CHECK-LABEL: func.func @colm_attention(
// AIR-LABEL: func.func @colm_attention(
// K1-LABEL: func.func @colm_attention(
func.func @colm_attention(%tokens: tensor<?xi32>) -> tensor<?x16xf32, #l> {
  // The chain-1 prefix of `a` comes right after the norm that defines it.
  // CHECK: %[[A:.*]] = chain.norm
  // CHECK-NEXT: %[[A1:.*]] = chain.prefix %[[A]] chains 1 : tensor<?x16xf32, #[[L:layout[0-9]*]]> -> tensor<?x8xf32, #[[L1:layout[0-9]*]]>
  // CHECK: %[[WQ:.*]] = chain.param "model.layers.0.self_attn.q_proj.weight" : tensor<16x16xf32, #blocks>
  // CHECK: %[[Q0:.*]] = chain.linear %[[A]], %[[WQ]]
  // CHECK-DAG: %[[WK:.*]] = chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<8x8xf32>
  // CHECK-DAG: %[[WV:.*]] = chain.param "model.layers.0.self_attn.v_proj.weight" : tensor<8x8xf32>
  // CHECK-DAG: %[[K0:.*]] = chain.dense %[[A1]], %[[WK]] : tensor<?x8xf32, #[[L1]]>, tensor<8x8xf32> -> tensor<?x8xf32>
  // CHECK-DAG: %[[V:.*]] = chain.dense %[[A1]], %[[WV]] : tensor<?x8xf32, #[[L1]]>, tensor<8x8xf32> -> tensor<?x8xf32>
  // CHECK: %[[K:.*]] = chain.rope %[[K0]] {head_dim = 4 : i64} : tensor<?x8xf32>
  // CHECK: chain.attention %{{.*}}, %[[K]], %[[V]] kv_mapping tiled {head_dim = 4 : i64} : tensor<?x16xf32, #[[L]]>, tensor<?x8xf32>, tensor<?x8xf32>
  // CHECK: chain.linear %{{.*}}, %{{.*}} : tensor<?x16xf32, #[[L]]>, tensor<16x16xf32, #blocks> -> tensor<?x16xf32, #[[L]]>
  // CHECK: return
  // No chain linear produces keys or values any more ([8, 16] chain-block
  // weights), and no attention is grouped.
  // GONE-NOT: tensor<8x16xf32, #blocks>
  // GONE-NOT: tensor<?x8xf32, #layout>
  // GONE-NOT: grouped
  // AIR: kv_mapping tiled
  // K1-NOT: chain.prefix
  // K1: chain.dense %{{.*}}, %{{.*}} : tensor<?x8xf32, #{{layout[0-9]*}}>, tensor<8x8xf32> -> tensor<?x8xf32>
  // K1: chain.attention {{.*}} kv_mapping tiled {head_dim = 4 : i64} : tensor<?x8xf32, #{{layout[0-9]*}}>, tensor<?x8xf32>, tensor<?x8xf32>
  %emb = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %g = chain.param "model.layers.0.input_layernorm.weight" : tensor<16xf32, #l>
  %a = chain.norm %x, %g : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %wq = chain.param "model.layers.0.self_attn.q_proj.weight" : tensor<16x16xf32, #b>
  %q0 = chain.linear %a, %wq : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %wk = chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<8x16xf32, #b>
  %wv = chain.param "model.layers.0.self_attn.v_proj.weight" : tensor<8x16xf32, #b>
  %k0 = chain.linear %a, %wk : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %v = chain.linear %a, %wv : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %q = chain.rope %q0 {head_dim = 4} : tensor<?x16xf32, #l>
  %k = chain.rope %k0 {head_dim = 4} : tensor<?x8xf32, #l>
  %att = chain.attention %q, %k, %v kv_mapping grouped {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  %wo = chain.param "model.layers.0.self_attn.o_proj.weight" : tensor<16x16xf32, #b>
  %o = chain.linear %att, %wo : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  return %o : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[2, 2]>
#b = #chain.blocks<[2, 2]>

// Parameters declared before the norm that defines `a`: the prefix still
// goes after the norm (it used to go at the k projection's parameter, before
// `a` was defined).
// CHECK-LABEL: func.func @params_before_norm(
// CHECK-SAME:      %[[X:.*]]: tensor<?x16xf32, #{{layout[0-9]*}}>)
// CHECK: %[[G:.*]] = chain.param "g"
// CHECK-DAG: %[[WK:.*]] = chain.param "k" : tensor<8x8xf32>
// CHECK-DAG: %[[WV:.*]] = chain.param "v" : tensor<8x8xf32>
// CHECK: %[[A:.*]] = chain.norm %[[X]], %[[G]]
// CHECK-NEXT: %[[A1:.*]] = chain.prefix %[[A]] chains 1 : tensor<?x16xf32, #{{layout[0-9]*}}> -> tensor<?x8xf32, #{{layout[0-9]*}}>
// CHECK-DAG: %[[K:.*]] = chain.dense %[[A1]], %[[WK]]
// CHECK-DAG: %[[V:.*]] = chain.dense %[[A1]], %[[WV]]
// CHECK: chain.attention %[[A]], %[[K]], %[[V]] kv_mapping tiled
// AIR-LABEL: func.func @params_before_norm(
func.func @params_before_norm(%x: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  %g = chain.param "g" : tensor<16xf32, #l>
  %wk = chain.param "k" : tensor<8x16xf32, #b>
  %wv = chain.param "v" : tensor<8x16xf32, #b>
  %a = chain.norm %x, %g : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %k = chain.linear %a, %wk : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %v = chain.linear %a, %wv : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %att = chain.attention %a, %k, %v kv_mapping grouped {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  return %att : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 1, 2]>
#b = #chain.blocks<[1, 1, 2]>

// Three chains [1, 1, 2], D = 16, h = 4, hd = 4, multi-head (h_kv = h = 4,
// keys without RoPE): every chain ratio must be a multiple of h_kv, so this
// is rejected ...
func.func @mha_rejected(%a: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  %wk = chain.param "k" : tensor<16x16xf32, #b>
  %wv = chain.param "v" : tensor<16x16xf32, #b>
  %k = chain.linear %a, %wk : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %v = chain.linear %a, %wv : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  // expected-error @+1 {{chain-share-kv: chain 1 has 1 query heads, not a multiple of num_kv_heads 4 (CoLM-Air needs every chain ratio to be a multiple of num_key_value_heads)}}
  %att = chain.attention %a, %k, %v kv_mapping grouped {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x16xf32, #l>, tensor<?x16xf32, #l>
  return %att : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 1, 2]>
#b = #chain.blocks<[1, 1, 2]>

// ... while one kv head works: D_1 = 4, Wk/Wv [4, 4].
// CHECK-LABEL: func.func @mqa(
// CHECK: %[[A1:.*]] = chain.prefix %{{.*}} chains 1 : tensor<?x16xf32, #{{layout[0-9]*}}> -> tensor<?x4xf32, #{{layout[0-9]*}}>
// CHECK-DAG: chain.param "k" : tensor<4x4xf32>
// CHECK-DAG: chain.param "v" : tensor<4x4xf32>
// CHECK-DAG: chain.dense %[[A1]], %{{.*}} -> tensor<?x4xf32>
// CHECK-DAG: chain.dense %[[A1]], %{{.*}} -> tensor<?x4xf32>
// CHECK-NOT: chain.linear
// CHECK: chain.attention {{.*}} kv_mapping tiled
// AIR-LABEL: func.func @mqa(
func.func @mqa(%tokens: tensor<?xi32>) -> tensor<?x16xf32, #l> {
  %emb = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #l>
  %a = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %wk = chain.param "k" : tensor<4x16xf32, #b>
  %wv = chain.param "v" : tensor<4x16xf32, #b>
  %k = chain.linear %a, %wk : tensor<?x16xf32, #l>, tensor<4x16xf32, #b> -> tensor<?x4xf32, #l>
  %v = chain.linear %a, %wv : tensor<?x16xf32, #l>, tensor<4x16xf32, #b> -> tensor<?x4xf32, #l>
  %att = chain.attention %a, %k, %v kv_mapping grouped {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x4xf32, #l>, tensor<?x4xf32, #l>
  return %att : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 3]>
#b = #chain.blocks<[1, 3]>

// Chains [1, 3] with 2 kv heads: chain 1 has a single query head.
func.func @ratio_not_multiple(%a: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  %wk = chain.param "k" : tensor<8x16xf32, #b>
  %wv = chain.param "v" : tensor<8x16xf32, #b>
  %k = chain.linear %a, %wk : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %v = chain.linear %a, %wv : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  // expected-error @+1 {{chain-share-kv: chain 1 has 1 query heads, not a multiple of num_kv_heads 2}}
  %att = chain.attention %a, %k, %v kv_mapping grouped {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  return %att : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

func.func @kv_not_projections(%q: tensor<?x16xf32, #l>, %k: tensor<?x8xf32, #l>) -> tensor<?x16xf32, #l> {
  // expected-error @+1 {{chain-share-kv: keys and values must be chain linears (keys optionally through chain.rope) of one normalised input}}
  %att = chain.attention %q, %k, %k kv_mapping grouped {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  return %att : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>

// Keys and values from two different inputs.
func.func @kv_different_inputs(%a: tensor<?x16xf32, #l>, %c: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  %wk = chain.param "k" : tensor<8x16xf32, #b>
  %wv = chain.param "v" : tensor<8x16xf32, #b>
  %k = chain.linear %a, %wk : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %v = chain.linear %c, %wv : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  // expected-error @+1 {{chain-share-kv: keys and values must be chain linears}}
  %att = chain.attention %a, %k, %v kv_mapping grouped {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  return %att : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// Attention that is already tiled is left alone.
// CHECK-LABEL: func.func @already_air(
// CHECK: chain.attention {{.*}} kv_mapping tiled
// AIR-LABEL: func.func @already_air(
func.func @already_air(%tokens: tensor<?xi32>) -> tensor<?x16xf32, #l> {
  %emb = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #l>
  %q = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %q1 = chain.prefix %q chains 1 : tensor<?x16xf32, #l> -> tensor<?x8xf32, #chain.layout<[1]>>
  %wk = chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<8x8xf32>
  %k = chain.dense %q1, %wk : tensor<?x8xf32, #chain.layout<[1]>>, tensor<8x8xf32> -> tensor<?x8xf32>
  %att = chain.attention %q, %k, %k kv_mapping tiled {head_dim = 8} : tensor<?x16xf32, #l>, tensor<?x8xf32>, tensor<?x8xf32>
  return %att : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>

// GraphFuzz's check that a pass leaves valid IR caught this: rotated
// keys that are also returned (the rewrite changed their type).
func.func @rotated_keys_used_twice(%a: tensor<?x16xf32, #l>) -> (tensor<?x16xf32, #l>, tensor<?x8xf32, #l>) {
  %wk = chain.param "k" : tensor<8x16xf32, #b>
  %wv = chain.param "v" : tensor<8x16xf32, #b>
  %k0 = chain.linear %a, %wk : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  // expected-error @+1 {{chain-share-kv: these rotated keys/values have other uses than the attention}}
  %k = chain.rope %k0 {head_dim = 4} : tensor<?x8xf32, #l>
  %v = chain.linear %a, %wv : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %att = chain.attention %a, %k, %v kv_mapping grouped {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  return %att, %k : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>
}
