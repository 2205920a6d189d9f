// Pass inputs found by an adversarial hunt: clear errors or correct output.
// RUN: not colm-opt %s -split-input-file --chain-share-kv 2>&1 | FileCheck %s --check-prefix=SHARE
// RUN: not colm-opt %s -split-input-file --chain-slice=chains=1 2>&1 | FileCheck %s --check-prefix=SLICE
// RUN: not colm-opt %s -split-input-file --chain-autodiff 2>&1 | FileCheck %s --check-prefix=AD

// SLICE-DAG: func.func private @external
func.func private @external(tensor<4x8xf32, #chain.layout<[1,1]>>) -> tensor<4x8xf32, #chain.layout<[1,1]>>

// -----

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>
func.func @unchained_queries(%a: tensor<?x8xf32, #l>, %q: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %wk = chain.param "wk" : tensor<8x8xf32, #b>
  %wv = chain.param "wv" : tensor<8x8xf32, #b>
  %k = chain.linear %a, %wk : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %v = chain.linear %a, %wv : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  // SHARE: error: chain-share-kv: queries and the normalised input must be chained
  %o = chain.attention %q, %k, %v kv_mapping grouped {head_dim = 2 : i64} : tensor<?x8xf32>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  return %o : tensor<?x8xf32>
}

// -----

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>
func.func @same_projection(%a: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  %wq = chain.param "wq" : tensor<8x8xf32, #b>
  %wk = chain.param "wk" : tensor<2x8xf32, #b>
  %q = chain.linear %a, %wq : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %k = chain.linear %a, %wk : tensor<?x8xf32, #l>, tensor<2x8xf32, #b> -> tensor<?x2xf32, #l>
  // SHARE: error: chain-share-kv: keys and values come from the same projection
  %o = chain.attention %q, %k, %k kv_mapping grouped {head_dim = 1 : i64} : tensor<?x8xf32, #l>, tensor<?x2xf32, #l>, tensor<?x2xf32, #l>
  return %o : tensor<?x8xf32, #l>
}

// -----

// Slicing to one chain leaves 2 query heads over 4 key/value heads.
// SLICE-DAG: error: 'chain.attention' op num_heads 2 is not a multiple of num_kv_heads 4
// SLICE-DAG: error: chain-slice: the 1-chain sub-model of this function is not well-formed
#l = #chain.layout<[1, 1]>
func.func @slice_breaks_heads(%q: tensor<?x8xf32, #l>, %k: tensor<?x8xf32>) -> tensor<?x8xf32, #l> {
  %o = chain.attention %q, %k, %k kv_mapping grouped {head_dim = 2 : i64} : tensor<?x8xf32, #l>, tensor<?x8xf32>, tensor<?x8xf32>
  return %o : tensor<?x8xf32, #l>
}

// -----

// A parameter referenced twice: its gradient is the sum of both uses.
// AD-LABEL: func.func @train_step
// AD: %[[G1:.*]] = chain.linear_grad_w
// AD: %[[G2:.*]] = chain.linear_grad_w
// AD: %[[SUM:.*]] = chain.add %[[G1]], %[[G2]]
// AD: return {{.*}}%[[SUM]]
#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>
func.func @forward(%x: tensor<?x8xf32, #l>) -> tensor<?x10xf32> {
  %w1 = chain.param "w" : tensor<8x8xf32, #b>
  %a = chain.linear %x, %w1 : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %w2 = chain.param "w" : tensor<8x8xf32, #b>
  %c = chain.linear %a, %w2 : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %w = chain.param "lm_head.weight" : tensor<10x8xf32, #l>
  %logits = chain.lm_head %c, %w : tensor<?x8xf32, #l>, tensor<10x8xf32, #l> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}
