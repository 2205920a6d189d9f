// RUN: colm-opt %s -split-input-file --chain-fuse-gemm-swiglu | FileCheck %s
// The pass is idempotent, and its output parses and verifies again.
// RUN: colm-opt %s -split-input-file --chain-fuse-gemm-swiglu --chain-fuse-gemm-swiglu | FileCheck %s
// RUN: colm-opt %s -split-input-file --chain-fuse-gemm-swiglu | colm-opt -split-input-file | FileCheck %s
// Fused graphs are still proven causal (the analysis reads group bodies).
// RUN: colm-opt %s -split-input-file --chain-fuse-gemm-swiglu --chain-verify-causality | FileCheck %s

// chain-fuse-gemm-swiglu moves chain.swiglu(g, up_proj(x)) into a
// chain.fused gemm_swiglu group, and chain.swiglu_grad(g, u, dh) with dh an
// input gradient into a gemm_swiglu_grad group.

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>

// Inference: nothing else reads u, so the group yields the SwiGLU only.
// CHECK-LABEL: func.func @mlp(
// CHECK-SAME:      %[[X:[^:]*]]: tensor<?x8xf32
// CHECK:         %[[G:.*]] = chain.linear %[[X]], %{{.*}}
// CHECK:         %[[WU:.*]] = chain.param "model.layers.0.mlp.up_proj.weight"
// CHECK-NOT:     chain.swiglu
// CHECK:         %[[Y:.*]] = chain.fused gemm_swiglu(%[[X]], %[[WU]], %[[G]]) : ({{.*}}) -> tensor<?x16xf32, {{.*}}> {
// CHECK-NEXT:    ^bb0(%[[A:.*]]: tensor<?x8xf32, {{.*}}>, %[[B:.*]]: tensor<16x8xf32, {{.*}}>, %[[GATE:.*]]: tensor<?x16xf32, {{.*}}>):
// CHECK-NEXT:      %[[U:.*]] = chain.linear %[[A]], %[[B]]
// CHECK-NEXT:      %[[S:.*]] = chain.swiglu %[[GATE]], %[[U]]
// CHECK-NEXT:      chain.yield %[[S]]
// CHECK-NEXT:    }
// CHECK:         return %[[Y]]
func.func @mlp(%x: tensor<?x8xf32, #l>) -> tensor<?x16xf32, #l> {
  %wg = chain.param "model.layers.0.mlp.gate_proj.weight" : tensor<16x8xf32, #b>
  %g = chain.linear %x, %wg : tensor<?x8xf32, #l>, tensor<16x8xf32, #b> -> tensor<?x16xf32, #l>
  %wu = chain.param "model.layers.0.mlp.up_proj.weight" : tensor<16x8xf32, #b>
  %u = chain.linear %x, %wu : tensor<?x8xf32, #l>, tensor<16x8xf32, #b> -> tensor<?x16xf32, #l>
  %m = chain.swiglu %g, %u : tensor<?x16xf32, #l>
  return %m : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>
// Training: the SwiGLU's gradient reads u too, so the group keeps it; the
// gradient of the down projection's input goes into a gemm_swiglu_grad.
// CHECK-LABEL: func.func @train(
// CHECK:         %[[F:.*]]:2 = chain.fused gemm_swiglu
// CHECK:           chain.yield %{{.*}}, %{{.*}} :
// CHECK:         %[[WD:.*]] = chain.param "model.layers.0.mlp.down_proj.weight"
// CHECK-NOT:     chain.linear_grad_x
// CHECK:         %[[D:.*]]:2 = chain.fused gemm_swiglu_grad(%{{.*}}, %[[WD]], %{{.*}}, %[[F]]#1)
// CHECK-NEXT:    ^bb0(%[[A:.*]]: tensor<?x8xf32, {{.*}}>, %[[B:.*]]: tensor<8x16xf32, {{.*}}>, %[[GATE:.*]]: tensor<?x16xf32, {{.*}}>, %[[UP:.*]]: tensor<?x16xf32, {{.*}}>):
// CHECK-NEXT:      %[[DH:.*]] = chain.linear_grad_x %[[A]], %[[B]]
// CHECK-NEXT:      %[[DG:.*]]:2 = chain.swiglu_grad %[[GATE]], %[[UP]], %[[DH]]
// CHECK-NEXT:      chain.yield %[[DG]]#0, %[[DG]]#1
// CHECK-NEXT:    }
// CHECK:         return %[[F]]#0, %[[D]]#0, %[[D]]#1
func.func @train(%x: tensor<?x8xf32, #l>, %dy: tensor<?x8xf32, #l>) -> (tensor<?x16xf32, #l>, tensor<?x16xf32, #l>, tensor<?x16xf32, #l>) {
  %wg = chain.param "model.layers.0.mlp.gate_proj.weight" : tensor<16x8xf32, #b>
  %g = chain.linear %x, %wg : tensor<?x8xf32, #l>, tensor<16x8xf32, #b> -> tensor<?x16xf32, #l>
  %wu = chain.param "model.layers.0.mlp.up_proj.weight" : tensor<16x8xf32, #b>
  %u = chain.linear %x, %wu : tensor<?x8xf32, #l>, tensor<16x8xf32, #b> -> tensor<?x16xf32, #l>
  %m = chain.swiglu %g, %u : tensor<?x16xf32, #l>
  %wd = chain.param "model.layers.0.mlp.down_proj.weight" : tensor<8x16xf32, #b>
  %dh = chain.linear_grad_x %dy, %wd : tensor<?x8xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x16xf32, #l>
  %dg, %du = chain.swiglu_grad %g, %u, %dh : tensor<?x16xf32, #l>
  return %m, %dg, %du : tensor<?x16xf32, #l>, tensor<?x16xf32, #l>, tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>
// Left alone: u read before the SwiGLU; dh read twice; a gate that is not a
// product is fine, a product that is no GEMM is not.
// CHECK-LABEL: func.func @unfusable(
// CHECK-NOT:     chain.fused
// CHECK:         chain.swiglu %
// CHECK:         chain.swiglu_grad
// CHECK:         chain.swiglu %
// CHECK-NOT:     chain.fused
func.func @unfusable(%x: tensor<?x8xf32, #l>, %g: tensor<?x16xf32, #l>, %dy: tensor<?x8xf32, #l>) -> (tensor<?x16xf32, #l>, tensor<?x16xf32, #l>, tensor<?x16xf32, #l>, tensor<?x16xf32, #l>, tensor<?x16xf32, #l>) {
  %wu = chain.param "up" : tensor<16x8xf32, #b>
  %u = chain.linear %x, %wu : tensor<?x8xf32, #l>, tensor<16x8xf32, #b> -> tensor<?x16xf32, #l>
  %early = chain.add %u, %g : tensor<?x16xf32, #l>
  %m = chain.swiglu %g, %u : tensor<?x16xf32, #l>
  %wd = chain.param "down" : tensor<8x16xf32, #b>
  %dh = chain.linear_grad_x %dy, %wd : tensor<?x8xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x16xf32, #l>
  %dg, %du = chain.swiglu_grad %g, %early, %dh : tensor<?x16xf32, #l>
  %n = chain.swiglu %g, %early : tensor<?x16xf32, #l>
  return %m, %dg, %du, %dh, %n : tensor<?x16xf32, #l>, tensor<?x16xf32, #l>, tensor<?x16xf32, #l>, tensor<?x16xf32, #l>, tensor<?x16xf32, #l>
}
