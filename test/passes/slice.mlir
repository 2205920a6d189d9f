// RUN: colm-opt %s --chain-slice=chains=1 | FileCheck %s --check-prefixes=CHECK,K1
// RUN: colm-opt %s --chain-slice=chains=2 | FileCheck %s --check-prefixes=CHECK,K2
// RUN: colm-opt %s --chain-slice=chains=3 | FileCheck %s --check-prefixes=CHECK,K3
// The k-chain sub-model obeys the causal rule as the full model does.
// RUN: colm-opt %s --chain-slice=chains=1 --chain-verify-causality | FileCheck %s --check-prefixes=CHECK,K1
// RUN: colm-opt %s --chain-slice=chains=2 --chain-verify-causality | FileCheck %s --check-prefixes=CHECK,K2
// Slicing also works after chain-fold-masks (chain linears lowered to one
// dense per output chain over chain.weight_block), and the two orders agree.
// RUN: colm-opt %s --chain-fold-masks --chain-slice=chains=1 --chain-verify-causality | FileCheck %s --check-prefix=FK1
// RUN: colm-opt %s --chain-fold-masks --chain-slice=chains=2 --chain-verify-causality | FileCheck %s --check-prefix=FK2
// RUN: colm-opt %s --chain-fold-masks --chain-slice=chains=1 > %t.fold-slice
// RUN: colm-opt %s --chain-slice=chains=1 --chain-fold-masks > %t.slice-fold
// RUN: diff %t.fold-slice %t.slice-fold
// RUN: colm-opt %s --chain-fold-masks --chain-slice=chains=2 > %t.fold-slice
// RUN: colm-opt %s --chain-slice=chains=2 --chain-fold-masks > %t.slice-fold
// RUN: diff %t.fold-slice %t.slice-fold
// RUN: not colm-opt %s --mlir-disable-threading --chain-slice=chains=0 2>&1 | FileCheck %s --check-prefix=ZERO
// RUN: not colm-opt %s --mlir-disable-threading --chain-slice=chains=4 2>&1 | FileCheck %s --check-prefix=FOUR
// RUN: not colm-opt %s --mlir-disable-threading --chain-slice=chains=65 2>&1 | FileCheck %s --check-prefix=SIXTYFIVE
// RUN: echo 'func.func @plain(%%x: tensor<?x8xf32>) -> tensor<?x8xf32> { return %%x : tensor<?x8xf32> }' \
// RUN:   | colm-opt --chain-slice=chains=1 2>&1 | FileCheck %s --check-prefix=PLAIN
// A `stats` group that crosses the sliced width: chains [1, 1, 2] over 16,
// stats groups [0, 4) and [4, 16); k = 2 keeps [0, 8). Chain 2 depends on
// chain 3, so the graph is refused as not causal.
// RUN: echo '#l = #chain.layout<[1, 1, 2]> func.func @f(%%x: tensor<?x16xf32, #l>, %%g: tensor<16xf32, #l>) -> tensor<?x16xf32, #l> {' \
// RUN:      '%%y = chain.norm %%x, %%g stats(#chain.layout<[1, 3]>) : tensor<?x16xf32, #l>, tensor<16xf32, #l> return %%y : tensor<?x16xf32, #l> }' \
// RUN:   | not colm-opt --chain-slice=chains=2 2>&1 | FileCheck %s --check-prefix=CROSS

// chain-slice=k rewrites a function into the k-chain sub-model: every
// chained dimension shrinks to its prefix k, parameters to their leading
// slices (same names), LM heads to at most k chains.
//
// Chains [1, 1, 2] over D = 16: prefixes 4, 8, 16. Keys/values 8 wide:
// prefixes 2, 4, 8. h = 8 query heads of size 2, h_kv = 4.

// `chains=` prints as a number (65 is not the byte `A`).
// ZERO: error: chain-slice: chains=0 is outside 1..3
// FOUR: error: chain-slice: chains=4 is outside 1..3
// SIXTYFIVE: error: chain-slice: chains=65 is outside 1..3
// A function without chains is its own sub-model: left as it is.
// PLAIN: func.func @plain(%arg0: tensor<?x8xf32>) -> tensor<?x8xf32>
// CROSS: error: chain-slice: refusing an op that breaks the chain causal rule: chain 2 of the result depends on chain 3 (its normalisation statistics span entries [4, 16), which include chain 3)

// The encodings of the sub-model (aliases print first).
// K1-DAG: #[[L:layout[0-9]*]] = #chain.layout<[1]>
// K1-DAG: #[[B:blocks[0-9]*]] = #chain.blocks<[1]>
// K2-DAG: #[[L:layout[0-9]*]] = #chain.layout<[1, 1]>
// K2-DAG: #[[B:blocks[0-9]*]] = #chain.blocks<[1, 1]>
// K3-DAG: #[[L:layout[0-9]*]] = #chain.layout<[1, 1, 2]>
// K3-DAG: #[[B:blocks[0-9]*]] = #chain.blocks<[1, 1, 2]>

#l = #chain.layout<[1, 1, 2]>
#b = #chain.blocks<[1, 1, 2]>

// CHECK-LABEL: func.func @colm(
// CHECK-SAME:    %{{.*}}: tensor<?xi32>) -> (tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>)
func.func @colm(%tokens: tensor<?xi32>) -> (tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>) {
  // K1: chain.param "model.embed_tokens.weight" : tensor<32x4xf32, #[[L]]>
  // K1: chain.embed {{.*}} -> tensor<?x4xf32, #[[L]]>
  // K2: chain.param "model.embed_tokens.weight" : tensor<32x8xf32, #[[L]]>
  // K2: chain.embed {{.*}} -> tensor<?x8xf32, #[[L]]>
  // K3: chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #[[L]]>
  // K3: chain.embed {{.*}} -> tensor<?x16xf32, #[[L]]>
  %emb = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  // K1: chain.param "model.layers.0.input_layernorm.weight" : tensor<4xf32, #[[L]]>
  // K2: chain.param "model.layers.0.input_layernorm.weight" : tensor<8xf32, #[[L]]>
  // K3: chain.param "model.layers.0.input_layernorm.weight" : tensor<16xf32, #[[L]]>
  %g = chain.param "model.layers.0.input_layernorm.weight" : tensor<16xf32, #l>
  %a = chain.norm %x, %g : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  // K1: chain.param "model.layers.0.self_attn.q_proj.weight" : tensor<4x4xf32, #[[B]]>
  // K1: chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<2x4xf32, #[[B]]>
  // K2: chain.param "model.layers.0.self_attn.q_proj.weight" : tensor<8x8xf32, #[[B]]>
  // K2: chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<4x8xf32, #[[B]]>
  // K3: chain.param "model.layers.0.self_attn.q_proj.weight" : tensor<16x16xf32, #[[B]]>
  // K3: chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<8x16xf32, #[[B]]>
  %wq = chain.param "model.layers.0.self_attn.q_proj.weight" : tensor<16x16xf32, #b>
  %wk = chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<8x16xf32, #b>
  %wv = chain.param "model.layers.0.self_attn.v_proj.weight" : tensor<8x16xf32, #b>
  %q0 = chain.linear %a, %wq : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %k0 = chain.linear %a, %wk : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %v = chain.linear %a, %wv : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %q = chain.rope %q0 {head_dim = 2} : tensor<?x16xf32, #l>
  %k = chain.rope %k0 {head_dim = 2} : tensor<?x8xf32, #l>
  // K1: chain.attention {{.*}} kv_mapping grouped {head_dim = 2 : i64} : tensor<?x4xf32, #[[L]]>, tensor<?x2xf32, #[[L]]>, tensor<?x2xf32, #[[L]]>
  // K2: chain.attention {{.*}} kv_mapping grouped {head_dim = 2 : i64} : tensor<?x8xf32, #[[L]]>, tensor<?x4xf32, #[[L]]>, tensor<?x4xf32, #[[L]]>
  // K3: chain.attention {{.*}} kv_mapping grouped {head_dim = 2 : i64} : tensor<?x16xf32, #[[L]]>, tensor<?x8xf32, #[[L]]>, tensor<?x8xf32, #[[L]]>
  %att = chain.attention %q, %k, %v kv_mapping grouped {head_dim = 2} : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  %wo = chain.param "model.layers.0.self_attn.o_proj.weight" : tensor<16x16xf32, #b>
  %o = chain.linear %att, %wo : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %x1 = chain.add %x, %o : tensor<?x16xf32, #l>
  // FFN 32 wide: prefixes 8, 16, 32.
  // K1: chain.param "model.layers.0.mlp.gate_proj.weight" : tensor<8x4xf32, #[[B]]>
  // K1: chain.param "model.layers.0.mlp.down_proj.weight" : tensor<4x8xf32, #[[B]]>
  // K1: chain.swiglu {{.*}} : tensor<?x8xf32, #[[L]]>
  // K2: chain.param "model.layers.0.mlp.gate_proj.weight" : tensor<16x8xf32, #[[B]]>
  // K2: chain.param "model.layers.0.mlp.down_proj.weight" : tensor<8x16xf32, #[[B]]>
  // K2: chain.swiglu {{.*}} : tensor<?x16xf32, #[[L]]>
  // K3: chain.param "model.layers.0.mlp.gate_proj.weight" : tensor<32x16xf32, #[[B]]>
  // K3: chain.param "model.layers.0.mlp.down_proj.weight" : tensor<16x32xf32, #[[B]]>
  // K3: chain.swiglu {{.*}} : tensor<?x32xf32, #[[L]]>
  %wg = chain.param "model.layers.0.mlp.gate_proj.weight" : tensor<32x16xf32, #b>
  %wd = chain.param "model.layers.0.mlp.down_proj.weight" : tensor<16x32xf32, #b>
  %gt = chain.linear %x1, %wg : tensor<?x16xf32, #l>, tensor<32x16xf32, #b> -> tensor<?x32xf32, #l>
  %h = chain.swiglu %gt, %gt : tensor<?x32xf32, #l>
  %d = chain.linear %h, %wd : tensor<?x32xf32, #l>, tensor<16x32xf32, #b> -> tensor<?x16xf32, #l>
  %x2 = chain.add %x1, %d : tensor<?x16xf32, #l>
  %gf = chain.param "model.norm.weight" : tensor<16xf32, #l>
  %xf = chain.norm %x2, %gf : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  // The head keeps [V, D_k]; `chains` clamps to k, absent stays absent.
  // K1: %[[HEAD:.*]] = chain.param "lm_head.weight" : tensor<32x4xf32, #[[L]]>
  // K1: chain.lm_head %{{.*}}, %[[HEAD]] : tensor<?x4xf32, #[[L]]>, tensor<32x4xf32, #[[L]]> -> tensor<?x32xf32>
  // K1: chain.lm_head %{{.*}}, %[[HEAD]] chains 1 :
  // K1: chain.lm_head %{{.*}}, %[[HEAD]] chains 1 :
  // K2: %[[HEAD:.*]] = chain.param "lm_head.weight" : tensor<32x8xf32, #[[L]]>
  // K2: chain.lm_head %{{.*}}, %[[HEAD]] : tensor<?x8xf32, #[[L]]>, tensor<32x8xf32, #[[L]]> -> tensor<?x32xf32>
  // K2: chain.lm_head %{{.*}}, %[[HEAD]] chains 2 :
  // K2: chain.lm_head %{{.*}}, %[[HEAD]] chains 1 :
  // K3: %[[HEAD:.*]] = chain.param "lm_head.weight" : tensor<32x16xf32, #[[L]]>
  // K3: chain.lm_head %{{.*}}, %[[HEAD]] : tensor<?x16xf32, #[[L]]>, tensor<32x16xf32, #[[L]]> -> tensor<?x32xf32>
  // K3: chain.lm_head %{{.*}}, %[[HEAD]] chains 2 :
  // K3: chain.lm_head %{{.*}}, %[[HEAD]] chains 1 :
  %we = chain.param "lm_head.weight" : tensor<32x16xf32, #l>
  %l3 = chain.lm_head %xf, %we : tensor<?x16xf32, #l>, tensor<32x16xf32, #l> -> tensor<?x32xf32>
  %l2 = chain.lm_head %xf, %we chains 2 : tensor<?x16xf32, #l>, tensor<32x16xf32, #l> -> tensor<?x32xf32>
  %l1 = chain.lm_head %xf, %we chains 1 : tensor<?x16xf32, #l>, tensor<32x16xf32, #l> -> tensor<?x32xf32>
  // CHECK: return
  return %l3, %l2, %l1 : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>
}

// CoLM-Air keys: the chain-1 prefix is the whole sub-model at k = 1, so the
// prefix op vanishes; the dense weight [h_kv*hd, D_1] keeps its shape.
// CHECK-LABEL: func.func @colm_air_keys(
func.func @colm_air_keys(%tokens: tensor<?xi32>) -> tensor<?x4xf32> {
  %emb = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  // K1-NOT: chain.prefix
  // K1: %[[X:.*]] = chain.embed {{.*}} -> tensor<?x4xf32, #[[L]]>
  // K1-NOT: chain.prefix
  // K1: chain.dense %[[X]], %{{.*}} : tensor<?x4xf32, #[[L]]>, tensor<4x4xf32> -> tensor<?x4xf32>
  // K2: %[[X:.*]] = chain.embed {{.*}} -> tensor<?x8xf32, #[[L]]>
  // K2: %[[X1:.*]] = chain.prefix %[[X]] chains 1 : tensor<?x8xf32, #[[L]]> -> tensor<?x4xf32, #{{layout[0-9]*}}>
  // K2: chain.dense %[[X1]], %{{.*}} : tensor<?x4xf32, #{{layout[0-9]*}}>, tensor<4x4xf32> -> tensor<?x4xf32>
  %x1 = chain.prefix %x chains 1 : tensor<?x16xf32, #l> -> tensor<?x4xf32, #chain.layout<[1]>>
  %wk = chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<4x4xf32>
  %k = chain.dense %x1, %wk : tensor<?x4xf32, #chain.layout<[1]>>, tensor<4x4xf32> -> tensor<?x4xf32>
  return %k : tensor<?x4xf32>
}

// Prefixes with chains >= k vanish; smaller ones stay.
// CHECK-LABEL: func.func @prefixes(
func.func @prefixes(%tokens: tensor<?xi32>) -> (tensor<?x4xf32, #chain.layout<[1]>>, tensor<?x8xf32, #chain.layout<[1, 1]>>) {
  // K1-NOT: chain.prefix
  // K2: chain.prefix %{{.*}} chains 1 : tensor<?x8xf32, #[[L]]> -> tensor<?x4xf32, #{{layout[0-9]*}}>
  // K2-NOT: chain.prefix
  // K3: chain.prefix %{{.*}} chains 1 : tensor<?x16xf32, #[[L]]> -> tensor<?x4xf32, #{{layout[0-9]*}}>
  // K3: chain.prefix %{{.*}} chains 2 : tensor<?x16xf32, #[[L]]> -> tensor<?x8xf32, #{{layout[0-9]*}}>
  // K1: return %[[X:.*]], %[[X]] : tensor<?x4xf32, #[[L]]>, tensor<?x4xf32, #[[L]]>
  // K2: return %{{.*}}, %{{.*}} : tensor<?x4xf32, #{{layout[0-9]*}}>, tensor<?x8xf32, #[[L]]>
  %emb = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %p1 = chain.prefix %x chains 1 : tensor<?x16xf32, #l> -> tensor<?x4xf32, #chain.layout<[1]>>
  %p2 = chain.prefix %x chains 2 : tensor<?x16xf32, #l> -> tensor<?x8xf32, #chain.layout<[1, 1]>>
  return %p1, %p2 : tensor<?x4xf32, #chain.layout<[1]>>, tensor<?x8xf32, #chain.layout<[1, 1]>>
}

// A masked dense linear: the parameter and the constant mask both shrink to
// their leading [out_k, in_k] slice.
// CHECK-LABEL: func.func @masked_dense(
func.func @masked_dense(%tokens: tensor<?xi32>) -> tensor<?x4xf32, #l> {
  // K1: chain.param "w" : tensor<1x1xf32>
  // K1: arith.constant dense<1.000000e+00> : tensor<1x1xf32>
  // K1: chain.dense {{.*}} : tensor<?x1xf32, #[[L]]>, tensor<1x1xf32> -> tensor<?x1xf32, #[[L]]>
  // K2: chain.param "w" : tensor<2x2xf32>
  // K2: arith.constant dense<{{\[}}[1.000000e+00, 0.000000e+00], [1.000000e+00, 1.000000e+00]]> : tensor<2x2xf32>
  // K2: chain.dense {{.*}} : tensor<?x2xf32, #[[L]]>, tensor<2x2xf32> -> tensor<?x2xf32, #[[L]]>
  %emb = chain.param "e" : tensor<32x4xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x4xf32, #l>, tensor<?xi32> -> tensor<?x4xf32, #l>
  %w = chain.param "w" : tensor<4x4xf32>
  %m = arith.constant dense<[[1.0, 0.0, 0.0, 0.0],
                             [1.0, 1.0, 0.0, 0.0],
                             [1.0, 1.0, 1.0, 1.0],
                             [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>
  %wm = chain.mul %w, %m : tensor<4x4xf32>
  %y = chain.dense %x, %wm : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  return %y : tensor<?x4xf32, #l>
}

// A chain linear lowered by hand into one dense per output chain: concat
// keeps its first k inputs, and the parts of the dropped chains vanish.
// CHECK-LABEL: func.func @lowered_by_chain(
func.func @lowered_by_chain(%tokens: tensor<?xi32>) -> tensor<?x8xf32, #l> {
  // K1-NOT: "w3"
  // K1-NOT: "w2"
  // K1: %[[Y1:.*]] = chain.dense %{{.*}}, %{{.*}} : tensor<?x4xf32, #[[L]]>, tensor<2x4xf32> -> tensor<?x2xf32>
  // K1-NOT: chain.dense
  // K1: chain.concat %[[Y1]] : tensor<?x2xf32> -> tensor<?x2xf32, #[[L]]>
  // K2-NOT: "w3"
  // K2: %[[Y1:.*]] = chain.dense {{.*}} -> tensor<?x2xf32>
  // K2: %[[Y2:.*]] = chain.dense %{{.*}}, %{{.*}} : tensor<?x8xf32, #[[L]]>, tensor<2x8xf32> -> tensor<?x2xf32>
  // K2-NOT: chain.dense
  // K2: chain.concat %[[Y1]], %[[Y2]] : tensor<?x2xf32>, tensor<?x2xf32> -> tensor<?x4xf32, #[[L]]>
  // K3: chain.concat %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x4xf32> -> tensor<?x8xf32, #[[L]]>
  %emb = chain.param "e" : tensor<32x16xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %x1 = chain.prefix %x chains 1 : tensor<?x16xf32, #l> -> tensor<?x4xf32, #chain.layout<[1]>>
  %w1 = chain.param "w1" : tensor<2x4xf32>
  %y1 = chain.dense %x1, %w1 : tensor<?x4xf32, #chain.layout<[1]>>, tensor<2x4xf32> -> tensor<?x2xf32>
  %x2 = chain.prefix %x chains 2 : tensor<?x16xf32, #l> -> tensor<?x8xf32, #chain.layout<[1, 1]>>
  %w2 = chain.param "w2" : tensor<2x8xf32>
  %y2 = chain.dense %x2, %w2 : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<2x8xf32> -> tensor<?x2xf32>
  %w3 = chain.param "w3" : tensor<4x16xf32>
  %y3 = chain.dense %x, %w3 : tensor<?x16xf32, #l>, tensor<4x16xf32> -> tensor<?x4xf32>
  %y = chain.concat %y1, %y2, %y3 : tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x4xf32> -> tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}

// The same after chain-fold-masks, with chain.weight_block: the blocks of
// output chains > k and their denses vanish with the concat inputs they fed.
// FK1-LABEL: func.func @chain_linear(
// FK1: %[[X:.*]] = chain.embed {{.*}} -> tensor<?x4xf32, #[[L:layout[0-9]*]]>
// FK1: %[[W:.*]] = chain.param "w" : tensor<2x4xf32, #[[B:blocks[0-9]*]]>
// FK1-NOT: chain.prefix
// FK1: %[[W1:.*]] = chain.weight_block %[[W]] out_chain 1 : tensor<2x4xf32, #[[B]]> -> tensor<2x4xf32>
// FK1: %[[Y1:.*]] = chain.dense %[[X]], %[[W1]] : tensor<?x4xf32, #[[L]]>, tensor<2x4xf32> -> tensor<?x2xf32>
// FK1-NOT: chain.weight_block
// FK1-NOT: chain.dense
// FK1: %[[Y:.*]] = chain.concat %[[Y1]] : tensor<?x2xf32> -> tensor<?x2xf32, #[[L]]>
// FK1: return %[[Y]] : tensor<?x2xf32, #[[L]]>
// FK2-LABEL: func.func @chain_linear(
// FK2: %[[X:.*]] = chain.embed {{.*}} -> tensor<?x8xf32, #[[L:layout[0-9]*]]>
// FK2: %[[W:.*]] = chain.param "w" : tensor<4x8xf32, #[[B:blocks[0-9]*]]>
// FK2: %[[X1:.*]] = chain.prefix %[[X]] chains 1 : tensor<?x8xf32, #[[L]]> -> tensor<?x4xf32, #{{layout[0-9]*}}>
// FK2: %[[W1:.*]] = chain.weight_block %[[W]] out_chain 1 : tensor<4x8xf32, #[[B]]> -> tensor<2x4xf32>
// FK2: %[[Y1:.*]] = chain.dense %[[X1]], %[[W1]] : tensor<?x4xf32, #{{layout[0-9]*}}>, tensor<2x4xf32> -> tensor<?x2xf32>
// FK2: %[[W2:.*]] = chain.weight_block %[[W]] out_chain 2 : tensor<4x8xf32, #[[B]]> -> tensor<2x8xf32>
// FK2: %[[Y2:.*]] = chain.dense %[[X]], %[[W2]] : tensor<?x8xf32, #[[L]]>, tensor<2x8xf32> -> tensor<?x2xf32>
// FK2-NOT: chain.weight_block
// FK2-NOT: chain.dense
// FK2: %[[Y:.*]] = chain.concat %[[Y1]], %[[Y2]] : tensor<?x2xf32>, tensor<?x2xf32> -> tensor<?x4xf32, #[[L]]>
// FK2: return %[[Y]] : tensor<?x4xf32, #[[L]]>
// CHECK-LABEL: func.func @chain_linear(
func.func @chain_linear(%tokens: tensor<?xi32>) -> tensor<?x8xf32, #l> {
  %emb = chain.param "e" : tensor<32x16xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %w = chain.param "w" : tensor<8x16xf32, #b>
  %y = chain.linear %x, %w : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}

// Chained arguments: the function type is sliced with the block arguments.
// CHECK-LABEL: func.func @chained_arguments(
// K1-SAME: %{{.*}}: tensor<?x4xf32, #[[L]]>, %{{.*}}: tensor<4x4xf32, #[[B]]>) -> tensor<?x4xf32, #[[L]]>
// K2-SAME: %{{.*}}: tensor<?x8xf32, #[[L]]>, %{{.*}}: tensor<8x8xf32, #[[B]]>) -> tensor<?x8xf32, #[[L]]>
// K3-SAME: %{{.*}}: tensor<?x16xf32, #[[L]]>, %{{.*}}: tensor<16x16xf32, #[[B]]>) -> tensor<?x16xf32, #[[L]]>
// K1: chain.linear %{{.*}}, %{{.*}} : tensor<?x4xf32, #[[L]]>, tensor<4x4xf32, #[[B]]> -> tensor<?x4xf32, #[[L]]>
// K2: chain.linear %{{.*}}, %{{.*}} : tensor<?x8xf32, #[[L]]>, tensor<8x8xf32, #[[B]]> -> tensor<?x8xf32, #[[L]]>
func.func @chained_arguments(%x: tensor<?x16xf32, #l>, %w: tensor<16x16xf32, #b>) -> tensor<?x16xf32, #l> {
  %y = chain.linear %x, %w : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  return %y : tensor<?x16xf32, #l>
}

// An explicit `stats` layout is sliced to the groups inside the new width,
// so the sub-model normalises as the full model's first k chains do:
// [1, 1, 2] (groups 4, 4, 8) becomes [1, 1] at k = 2 and [1] at k = 1;
// [1, 1, 1, 1] (groups 4, 4, 4, 4) becomes [1, 1] and [1].
// CHECK-LABEL: func.func @norm_stats(
// K1: chain.norm %{{.*}}, %{{.*}} stats(#[[L]]) : tensor<?x4xf32, #[[L]]>, tensor<4xf32, #[[L]]>
// K1: chain.norm %{{.*}}, %{{.*}} stats(#[[L]]) : tensor<?x4xf32, #[[L]]>, tensor<4xf32, #[[L]]>
// K2: chain.norm %{{.*}}, %{{.*}} stats(#[[L]]) : tensor<?x8xf32, #[[L]]>, tensor<8xf32, #[[L]]>
// K2: chain.norm %{{.*}}, %{{.*}} stats(#[[L]]) : tensor<?x8xf32, #[[L]]>, tensor<8xf32, #[[L]]>
// K3: chain.norm %{{.*}}, %{{.*}} stats(#[[L]]) : tensor<?x16xf32, #[[L]]>, tensor<16xf32, #[[L]]>
// K3: chain.norm %{{.*}}, %{{.*}} stats(#{{layout[0-9]*}}) : tensor<?x16xf32, #[[L]]>, tensor<16xf32, #[[L]]>
func.func @norm_stats(%tokens: tensor<?xi32>) -> tensor<?x16xf32, #l> {
  %emb = chain.param "e" : tensor<32x16xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %g = chain.param "g" : tensor<16xf32, #l>
  %y = chain.norm %x, %g stats(#chain.layout<[1, 1, 2]>) : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %z = chain.norm %y, %g stats(#chain.layout<[1, 1, 1, 1]>) : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  return %z : tensor<?x16xf32, #l>
}
