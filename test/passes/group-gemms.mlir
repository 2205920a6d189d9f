// RUN: colm-opt %s -split-input-file --chain-fuse-gemm-swiglu --chain-group-gemms | FileCheck %s
// The pass is idempotent, and its output parses and verifies again.
// RUN: colm-opt %s -split-input-file --chain-fuse-gemm-swiglu --chain-group-gemms --chain-group-gemms | FileCheck %s
// RUN: colm-opt %s -split-input-file --chain-fuse-gemm-swiglu --chain-group-gemms | colm-opt -split-input-file | FileCheck %s
// Grouped graphs are still proven causal.
// RUN: colm-opt %s -split-input-file --chain-fuse-gemm-swiglu --chain-group-gemms --chain-verify-causality | FileCheck %s

// chain-group-gemms makes the forward products of one input one
// chain.fused grouped_gemm, and a gemm_swiglu whose gate reads the same
// input a grouped_gemm_swiglu.

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>
#k = #chain.blocks<[1, 1]>

// q/k/v: grouped at q, the later weights' parameters moved before it; q's
// RoPE-like reader in between is fine (it reads the group's result).
// CHECK-LABEL: func.func @qkv(
// CHECK-SAME:      %[[X:[^:]*]]: tensor<?x8xf32
// CHECK:         %[[WQ:.*]] = chain.param "q"
// CHECK:         %[[WK:.*]] = chain.param "k"
// CHECK:         %[[WV:.*]] = chain.param "v"
// CHECK:         %[[G:.*]]:3 = chain.fused grouped_gemm(%[[X]], %[[WQ]], %[[WK]], %[[WV]])
// CHECK-NEXT:    ^bb0(%[[A:.*]]: tensor<?x8xf32, {{.*}}>, %[[B0:.*]]: tensor<8x8xf32, {{.*}}>, %[[B1:.*]]: tensor<4x8xf32, {{.*}}>, %[[B2:.*]]: tensor<4x8xf32, {{.*}}>):
// CHECK-NEXT:      %[[Q:.*]] = chain.linear %[[A]], %[[B0]]
// CHECK-NEXT:      %[[K:.*]] = chain.linear %[[A]], %[[B1]]
// CHECK-NEXT:      %[[V:.*]] = chain.linear %[[A]], %[[B2]]
// CHECK-NEXT:      chain.yield %[[Q]], %[[K]], %[[V]]
// CHECK-NEXT:    }
// CHECK-NOT:     chain.linear
// CHECK:         chain.add %[[G]]#0, %[[G]]#0
// CHECK:         return %{{.*}}, %[[G]]#1, %[[G]]#2
func.func @qkv(%x: tensor<?x8xf32, #l>) -> (tensor<?x8xf32, #l>, tensor<?x4xf32, #l>, tensor<?x4xf32, #l>) {
  %wq = chain.param "q" : tensor<8x8xf32, #b>
  %q = chain.linear %x, %wq : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %q2 = chain.add %q, %q : tensor<?x8xf32, #l>
  %wk = chain.param "k" : tensor<4x8xf32, #k>
  %k = chain.linear %x, %wk : tensor<?x8xf32, #l>, tensor<4x8xf32, #k> -> tensor<?x4xf32, #l>
  %wv = chain.param "v" : tensor<4x8xf32, #k>
  %v = chain.linear %x, %wv : tensor<?x8xf32, #l>, tensor<4x8xf32, #k> -> tensor<?x4xf32, #l>
  return %q2, %k, %v : tensor<?x8xf32, #l>, tensor<?x4xf32, #l>, tensor<?x4xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>

// Gate and up: one GEMM with the SwiGLU in its epilogue; in inference it
// yields the SwiGLU and the gate only.
// CHECK-LABEL: func.func @mlp(
// CHECK-SAME:      %[[X:[^:]*]]: tensor<?x8xf32
// CHECK-NOT:     chain.fused gemm_swiglu
// CHECK:         %[[F:.*]]:2 = chain.fused grouped_gemm_swiglu(%[[X]], %{{.*}}, %{{.*}}) :
// CHECK-NEXT:    ^bb0(%[[A:.*]]: tensor<?x8xf32, {{.*}}>, %[[BG:.*]]: tensor<16x8xf32, {{.*}}>, %[[BU:.*]]: tensor<16x8xf32, {{.*}}>):
// CHECK-NEXT:      %[[G:.*]] = chain.linear %[[A]], %[[BG]]
// CHECK-NEXT:      %[[U:.*]] = chain.linear %[[A]], %[[BU]]
// CHECK-NEXT:      %[[S:.*]] = chain.swiglu %[[G]], %[[U]]
// CHECK-NEXT:      chain.yield %[[S]], %[[G]]
// CHECK-NEXT:    }
// CHECK-NOT:     chain.linear
// CHECK:         return %[[F]]#0
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

// Training: the SwiGLU's gradient reads gate and up after the group, so it
// yields up as well, and the later readers take the group's results.
// CHECK-LABEL: func.func @train(
// CHECK:         %[[F:.*]]:3 = chain.fused grouped_gemm_swiglu
// CHECK:           chain.yield %{{.*}}, %{{.*}}, %{{.*}} :
// CHECK:         chain.fused gemm_swiglu_grad(%{{.*}}, %{{.*}}, %[[F]]#1, %[[F]]#2)
// CHECK:         return %[[F]]#0
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

// Left alone: products of different inputs, and a product whose weight is
// computed after the first product (not a parameter that can move).
// CHECK-LABEL: func.func @apart(
// CHECK-NOT:     chain.fused
// CHECK:         chain.linear
// CHECK:         chain.linear
// CHECK:         chain.add
// CHECK:         chain.linear
// CHECK-NOT:     chain.fused
func.func @apart(%x: tensor<?x8xf32, #l>, %y: tensor<?x8xf32, #l>, %w: tensor<8x8xf32, #b>) -> (tensor<?x8xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>) {
  %a = chain.linear %x, %w : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %b = chain.linear %y, %w : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %w2 = chain.add %w, %w : tensor<8x8xf32, #b>
  %c = chain.linear %x, %w2 : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  return %a, %b, %c : tensor<?x8xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
}
