// RUN: colm-opt %s -split-input-file -allow-unregistered-dialect -verify-diagnostics --chain-slice=chains=1 | FileCheck %s

// chain-slice computes the k-chain sub-model only where it can prove that
// the result is exactly the first k chains of the original: graphs that
// break the causal rule, ops it does not know, values without chains that
// depend on chains above k, and attentions whose heads it would re-pair are
// refused with an error instead of being sliced into something else.

#l = #chain.layout<[1, 1]>

// The dense weight's block (1, 2) is not masked: slicing would drop it
// silently.
func.func @unmasked_dense(%x: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  %w = chain.param "w" : tensor<8x8xf32>
  // expected-error @+1 {{chain-slice: refusing an op that breaks the chain causal rule: chain 1 of the result depends on chain 2 (weight block (1, 2) of this dense linear is not masked to zero)}}
  %y = chain.dense %x, %w : tensor<?x8xf32, #l>, tensor<8x8xf32> -> tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// A value without chains computed from both chains: the 1-chain sub-model
// would compute it from chain 1 only.
func.func @unchained_from_all_chains(%x: tensor<?x8xf32, #l>) -> tensor<?x8xf32> {
  %w = chain.param "w" : tensor<8x8xf32>
  // expected-error @+1 {{chain-slice: this value has no chains but depends on chain 2, so the 1-chain sub-model cannot compute it (slicing would drop what chains 2..2 contribute)}}
  %y = chain.dense %x, %w : tensor<?x8xf32, #l>, tensor<8x8xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

#l = #chain.layout<[1, 1]>

// ... but one whose columns of chain 2 are masked to zero depends on
// chain 1 only, and is kept.
// CHECK-LABEL: func.func @unchained_from_chain_1(
// CHECK-DAG: arith.constant dense<1.000000e+00> : tensor<2x4xf32>
// CHECK-DAG: chain.param "w" : tensor<2x4xf32>
// CHECK: chain.dense {{.*}} -> tensor<?x2xf32>
func.func @unchained_from_chain_1(%x: tensor<?x8xf32, #l>) -> tensor<?x2xf32> {
  %w = chain.param "w" : tensor<2x8xf32>
  %m = arith.constant dense<[[1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
                             [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<2x8xf32>
  %wm = chain.mul %w, %m : tensor<2x8xf32>
  %y = chain.dense %x, %wm : tensor<?x8xf32, #l>, tensor<2x8xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

#l = #chain.layout<[1, 1]>

// Grouped mapping over key/value heads without chains: 4 query heads, 2
// key/value heads, so query head 1 reads head 0. With 2 query heads left it
// would read head 1.
func.func @grouped_kv_remapped(%q: tensor<?x8xf32, #l>, %k: tensor<?x4xf32>) -> tensor<?x8xf32, #l> {
  // expected-error @+1 {{chain-slice: in the 1-chain sub-model query head 1 would read key/value head 1 instead of 0 (grouped mapping over key/value heads that do not shrink with the queries)}}
  %o = chain.attention %q, %k, %k kv_mapping grouped {head_dim = 2 : i64} : tensor<?x8xf32, #l>, tensor<?x4xf32>, tensor<?x4xf32>
  return %o : tensor<?x8xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// The tiled mapping (CoLM-Air) does not change: j mod h_kv.
// CHECK-LABEL: func.func @tiled_kv_kept(
// CHECK: chain.attention {{.*}} kv_mapping tiled {{.*}} : tensor<?x4xf32, #{{.*}}>, tensor<?x4xf32>, tensor<?x4xf32>
func.func @tiled_kv_kept(%q: tensor<?x8xf32, #l>, %k: tensor<?x4xf32>) -> tensor<?x8xf32, #l> {
  %o = chain.attention %q, %k, %k kv_mapping tiled {head_dim = 2 : i64} : tensor<?x8xf32, #l>, tensor<?x4xf32>, tensor<?x4xf32>
  return %o : tensor<?x8xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>
#l1 = #chain.layout<[1]>

// An op chain-slice does not know, reached by chains: its sub-model is
// unknown (here it reads chain 1 only, so the graph is causal).
func.func @unknown_op_with_chains(%x: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  %x1 = chain.prefix %x chains 1 : tensor<?x8xf32, #l> -> tensor<?x4xf32, #l1>
  // expected-error @+1 {{chain-slice: cannot slice 'test.widen', an op it does not know, whose operands or results carry chains}}
  %y = "test.widen"(%x1) : (tensor<?x4xf32, #l1>) -> tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// A graph through an op the causality analysis does not support.
func.func @unknown_op_mixing(%x: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  // expected-error @+1 {{chain-slice: refusing a graph whose causality it cannot prove: 'test.mix' is an op the causality analysis does not support (chain 1 of its result may depend on chain 2, through operand #0)}}
  %y = "test.mix"(%x) : (tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// Chained constants are sliced with the values they hold.
// CHECK-LABEL: func.func @chained_constant(
// CHECK: arith.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32, #{{.*}}>
func.func @chained_constant(%x: tensor<?x4xf32, #l>) -> tensor<?x4xf32, #l> {
  %g = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32, #l>
  %y = chain.norm %x, %g : tensor<?x4xf32, #l>, tensor<4xf32, #l>
  return %y : tensor<?x4xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// Arguments of later blocks would keep their chains (the same input as
// chain-autodiff's several-blocks case in autodiff-refuses.mlir).
// expected-error @+1 {{chain-slice: cannot slice a function of several blocks}}
func.func @several_blocks(%x: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  "test.br"()[^bb1] : () -> ()
^bb1:
  return %x : tensor<?x8xf32, #l>
}
