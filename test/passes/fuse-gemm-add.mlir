// RUN: colm-opt %s -split-input-file --chain-fuse-gemm-add | FileCheck %s
// The pass is idempotent, and its output parses and verifies again.
// RUN: colm-opt %s -split-input-file --chain-fuse-gemm-add --chain-fuse-gemm-add | FileCheck %s
// RUN: colm-opt %s -split-input-file --chain-fuse-gemm-add | colm-opt -split-input-file | FileCheck %s
// Fused graphs are still proven causal (the analysis reads group bodies).
// RUN: colm-opt %s -split-input-file --chain-fuse-gemm-add --chain-verify-causality | FileCheck %s

// chain-fuse-gemm-add moves chain.add(product, r) into a chain.fused
// gemm_add group when the product (linear, dense, linear_grad_x or
// dense_grad_x) has no other use.

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>

// The residual add after o_proj: either operand order.
// CHECK-LABEL: func.func @residual(
// CHECK-SAME:      %[[H:[^:]*]]: tensor<?x8xf32, {{.*}}>, %[[A:[^:]*]]: tensor<?x8xf32
// CHECK:         %[[W:.*]] = chain.param "model.layers.0.self_attn.o_proj.weight"
// CHECK-NOT:     chain.add
// CHECK:         %[[S:.*]] = chain.fused gemm_add(%[[A]], %[[W]], %[[H]])
// CHECK-NEXT:    ^bb0(%[[X:.*]]: tensor<?x8xf32, {{.*}}>, %[[WW:.*]]: tensor<8x8xf32, {{.*}}>, %[[R:.*]]: tensor<?x8xf32, {{.*}}>):
// CHECK-NEXT:      %[[Y:.*]] = chain.linear %[[X]], %[[WW]]
// CHECK-NEXT:      %[[SUM:.*]] = chain.add %[[R]], %[[Y]]
// CHECK-NEXT:      chain.yield %[[SUM]]
// CHECK-NEXT:    }
// CHECK:         return %[[S]]
func.func @residual(%h: tensor<?x8xf32, #l>, %a: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  %w = chain.param "model.layers.0.self_attn.o_proj.weight" : tensor<8x8xf32, #b>
  %y = chain.linear %a, %w : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %h2 = chain.add %h, %y : tensor<?x8xf32, #l>
  return %h2 : tensor<?x8xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>
// The product on the left, and a dense product (CoLM-Air's key/value
// projections are dense).
// CHECK-LABEL: func.func @dense_left(
// CHECK:         chain.fused gemm_add
// CHECK:           %[[Y:.*]] = chain.dense
// CHECK-NEXT:      chain.add %[[Y]], %{{.*}}
func.func @dense_left(%x: tensor<?x4xf32>, %r: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %w = chain.param "w" : tensor<8x4xf32>
  %y = chain.dense %x, %w : tensor<?x4xf32>, tensor<8x4xf32> -> tensor<?x8xf32>
  %s = chain.add %y, %r : tensor<?x8xf32>
  return %s : tensor<?x8xf32>
}

// -----

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>
// The input gradients of q, k and v: two groups, each adding into the GEMM
// computed last.
// CHECK-LABEL: func.func @grad_sum(
// CHECK-SAME:      %[[DQ:[^:]*]]: tensor<?x8xf32, {{.*}}>, %[[DK:[^:]*]]: tensor<?x8xf32, {{.*}}>, %[[DV:[^:]*]]: tensor<?x8xf32
// CHECK:         %[[GQ:.*]] = chain.linear_grad_x %[[DQ]]
// CHECK-NOT:     chain.add
// CHECK:         %[[S1:.*]] = chain.fused gemm_add(%[[DK]], %{{.*}}, %[[GQ]])
// CHECK:           chain.linear_grad_x
// CHECK:         %[[S2:.*]] = chain.fused gemm_add(%[[DV]], %{{.*}}, %[[S1]])
// CHECK:           chain.linear_grad_x
// CHECK:         return %[[S2]]
func.func @grad_sum(%dq: tensor<?x8xf32, #l>, %dk: tensor<?x8xf32, #l>, %dv: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  %wq = chain.param "q" : tensor<8x8xf32, #b>
  %wk = chain.param "k" : tensor<8x8xf32, #b>
  %wv = chain.param "v" : tensor<8x8xf32, #b>
  %gq = chain.linear_grad_x %dq, %wq : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %gk = chain.linear_grad_x %dk, %wk : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %s1 = chain.add %gq, %gk : tensor<?x8xf32, #l>
  %gv = chain.linear_grad_x %dv, %wv : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %s2 = chain.add %s1, %gv : tensor<?x8xf32, #l>
  return %s2 : tensor<?x8xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>
// A product with another use stays unfused: the group would have to store
// it twice. So does an add of two values no GEMM made.
// CHECK-LABEL: func.func @not_fused(
// CHECK-NOT:     chain.fused
// CHECK:         chain.linear
// CHECK:         chain.add
// CHECK:         chain.add
// CHECK-NOT:     chain.fused
func.func @not_fused(%x: tensor<?x8xf32, #l>, %r: tensor<?x8xf32, #l>) -> (tensor<?x8xf32, #l>, tensor<?x8xf32, #l>) {
  %w = chain.param "w" : tensor<8x8xf32, #b>
  %y = chain.linear %x, %w : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %s = chain.add %y, %r : tensor<?x8xf32, #l>
  %t = chain.add %x, %r : tensor<?x8xf32, #l>
  return %s, %y : tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
}
