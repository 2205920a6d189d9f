// RUN: colm-opt %s -split-input-file -verify-diagnostics --chain-autodiff="chain-loss=all freeze-chains=1" | FileCheck %s
// RUN: colm-opt %s -split-input-file -verify-diagnostics --chain-autodiff | FileCheck %s --check-prefix=FULL
// The training step proves causal: chain-verify-causality knows the
// backward ops (gradients are exempt from the rule, the forward part is not).
// RUN: colm-opt %s -split-input-file -verify-diagnostics --chain-autodiff="chain-loss=all freeze-chains=1" --chain-verify-causality | FileCheck %s
// RUN: colm-opt %s -split-input-file -verify-diagnostics --chain-autodiff --chain-verify-causality | FileCheck %s --check-prefix=FULL
// RUN: not colm-opt %s -split-input-file --chain-autodiff="chain-loss=1,2,3" 2>&1 | FileCheck %s --check-prefix=COUNT
// RUN: not colm-opt %s -split-input-file --chain-autodiff="freeze-chains=2" 2>&1 | FileCheck %s --check-prefix=FROZEN

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>
#l1 = #chain.layout<[1]>

// A one-layer CoLM-Air in miniature: embedding, norm, chain-1 keys, SwiGLU.
// CHECK-LABEL: func.func @forward(
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %{{.*}}: tensor<?xi32>, %{{.*}}: tensor<?xi32>)
// CHECK-SAME: {chain.output = "loss"}
// CHECK-SAME: {chain.output = "ce.1"}
// CHECK-SAME: {chain.output = "ce.2"}
// CHECK-SAME: {chain.output = "grad.e"}
// CHECK-NOT: grad.wk
// CHECK-SAME: {chain.output = "grad.wg"}
// The sub-model losses, weighted 1/2 each.
// CHECK: %[[L1:.*]] = chain.lm_head {{.*}} chains 1
// CHECK: chain.cross_entropy %[[L1]]
// CHECK: chain.weighted_sum {{.*}} weights [5.000000e-01, 5.000000e-01]
// Weight gradients skip the frozen chain 1; chain 1's dense keys get none.
// CHECK: chain.linear_grad_w {{.*}} from_chain 2 {{.*}} -> tensor<8x8xf32, #blocks>
// CHECK-NOT: chain.dense_grad_w
// CHECK: chain.rope {{.*}} inverse
// CHECK: chain.extend {{.*}} -> tensor<?x8xf32, #layout>
// CHECK: chain.embed_grad {{.*}} from_chain 2
// CHECK: return

// Without options: the full model's loss only, every parameter trained.
// FULL-LABEL: func.func @train_step(
// FULL-SAME: {chain.output = "ce.2"}
// FULL-NOT: "ce.1"
// FULL-SAME: {chain.output = "grad.wk"}
// FULL: chain.dense_grad_w
// FULL-NOT: from_chain

// COUNT: error: chain-autodiff: chain-loss '1,2,3' gives 3 weights for a model with 2 chains
// FROZEN: error: chain-autodiff: freeze-chains=2 leaves nothing to train in a model with 2 chains
func.func @forward(%t: tensor<?xi32>) -> tensor<?x10xf32> {
  %e = chain.param "e" : tensor<10x8xf32, #l>
  %x = chain.embed %e[%t] : tensor<10x8xf32, #l>, tensor<?xi32> -> tensor<?x8xf32, #l>
  %g = chain.param "g" : tensor<8xf32, #l>
  %a = chain.norm %x, %g : tensor<?x8xf32, #l>, tensor<8xf32, #l>
  %wq = chain.param "wq" : tensor<8x8xf32, #b>
  %q = chain.linear %a, %wq : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %a1 = chain.prefix %a chains 1 : tensor<?x8xf32, #l> -> tensor<?x4xf32, #l1>
  %wk = chain.param "wk" : tensor<2x4xf32>
  %k = chain.dense %a1, %wk : tensor<?x4xf32, #l1>, tensor<2x4xf32> -> tensor<?x2xf32>
  %qr = chain.rope %q {head_dim = 2 : i64} : tensor<?x8xf32, #l>
  %kr = chain.rope %k {head_dim = 2 : i64} : tensor<?x2xf32>
  %o = chain.attention %qr, %kr, %k kv_mapping tiled {head_dim = 2 : i64} : tensor<?x8xf32, #l>, tensor<?x2xf32>, tensor<?x2xf32>
  %h = chain.add %x, %o : tensor<?x8xf32, #l>
  %wg = chain.param "wg" : tensor<8x8xf32, #b>
  %gate = chain.linear %h, %wg : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %act = chain.swiglu %gate, %h : tensor<?x8xf32, #l>
  %w = chain.param "lm_head.weight" : tensor<10x8xf32, #l>
  %logits = chain.lm_head %act, %w : tensor<?x8xf32, #l>, tensor<10x8xf32, #l> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}

// -----

// expected-error @+1 {{chain-autodiff: the function must return the logits of a chain.lm_head}}
func.func @forward(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>) -> tensor<?x8xf32, #chain.layout<[1, 1]>> {
  return %x : tensor<?x8xf32, #chain.layout<[1, 1]>>
}

// -----

func.func @forward(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>) -> tensor<?x10xf32> {
  %m = chain.mul %x, %x : tensor<?x8xf32, #chain.layout<[1, 1]>>
  %w = chain.param "lm_head.weight" : tensor<10x8xf32, #chain.layout<[1, 1]>>
  // expected-error @-2 {{chain-autodiff: cannot differentiate chain.mul}}
  %logits = chain.lm_head %m, %w : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<10x8xf32, #chain.layout<[1, 1]>> -> tensor<?x10xf32>
  return %logits : tensor<?x10xf32>
}
