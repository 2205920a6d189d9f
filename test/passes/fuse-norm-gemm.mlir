// RUN: colm-opt %s -split-input-file --chain-fuse-gemm-swiglu --chain-group-gemms --chain-fuse-norm-gemm | FileCheck %s
// The pass is idempotent, and its output parses and verifies again.
// RUN: colm-opt %s -split-input-file --chain-fuse-gemm-swiglu --chain-group-gemms --chain-fuse-norm-gemm --chain-fuse-norm-gemm | FileCheck %s
// RUN: colm-opt %s -split-input-file --chain-fuse-gemm-swiglu --chain-group-gemms --chain-fuse-norm-gemm | colm-opt -split-input-file | FileCheck %s
// Fused graphs are still proven causal.
// RUN: colm-opt %s -split-input-file --chain-fuse-gemm-swiglu --chain-group-gemms --chain-fuse-norm-gemm --chain-verify-causality | FileCheck %s

// chain-fuse-norm-gemm moves the chain.norm that a grouped GEMM reads into
// the group, as the GEMM's prologue.

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>

// q/k/v of a norm: norm_grouped_gemm; nothing else reads the norm, so it is
// not yielded.
// CHECK-LABEL: func.func @qkv(
// CHECK-SAME:      %[[X:[^:]*]]: tensor<?x8xf32
// CHECK:         %[[G:.*]] = chain.param "gain"
// CHECK-NOT:     chain.norm
// CHECK:         %[[F:.*]]:3 = chain.fused norm_grouped_gemm(%[[X]], %[[G]], %{{.*}}, %{{.*}}, %{{.*}}) :
// CHECK-NEXT:    ^bb0(%[[A:.*]]: tensor<?x8xf32, {{.*}}>, %[[GAIN:.*]]: tensor<8xf32, {{.*}}>, %[[B0:.*]]: tensor<8x8xf32, {{.*}}>, %[[B1:.*]]: tensor<8x8xf32, {{.*}}>, %[[B2:.*]]: tensor<8x8xf32, {{.*}}>):
// CHECK-NEXT:      %[[Y:.*]] = chain.norm %[[A]], %[[GAIN]]
// CHECK-NEXT:      %[[Q:.*]] = chain.linear %[[Y]], %[[B0]]
// CHECK-NEXT:      %[[K:.*]] = chain.linear %[[Y]], %[[B1]]
// CHECK-NEXT:      %[[V:.*]] = chain.linear %[[Y]], %[[B2]]
// CHECK-NEXT:      chain.yield %[[Q]], %[[K]], %[[V]] :
// CHECK-NEXT:    }
// CHECK:         return %[[F]]#0, %[[F]]#1, %[[F]]#2
func.func @qkv(%x: tensor<?x8xf32, #l>) -> (tensor<?x8xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>) {
  %g = chain.param "gain" : tensor<8xf32, #l>
  %y = chain.norm %x, %g {eps = 1.0e-05 : f64} : tensor<?x8xf32, #l>, tensor<8xf32, #l>
  %wq = chain.param "q" : tensor<8x8xf32, #b>
  %q = chain.linear %y, %wq : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %wk = chain.param "k" : tensor<8x8xf32, #b>
  %k = chain.linear %y, %wk : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %wv = chain.param "v" : tensor<8x8xf32, #b>
  %v = chain.linear %y, %wv : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  return %q, %k, %v : tensor<?x8xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>

// Gate and up of a norm that something else reads afterwards (a weight
// gradient): norm_grouped_gemm_swiglu yields the norm last.
// CHECK-LABEL: func.func @mlp(
// CHECK:         %[[F:.*]]:3 = chain.fused norm_grouped_gemm_swiglu(
// CHECK:           %[[Y:.*]] = chain.norm
// CHECK:           chain.swiglu
// CHECK-NEXT:      chain.yield %{{.*}}, %{{.*}}, %[[Y]] :
// CHECK:         chain.linear_grad_w %{{.*}}, %[[F]]#2
func.func @mlp(%x: tensor<?x8xf32, #l>, %dy: tensor<?x16xf32, #l>) -> (tensor<?x16xf32, #l>, tensor<16x8xf32, #b>) {
  %g = chain.param "gain" : tensor<8xf32, #l>
  %y = chain.norm %x, %g {eps = 1.0e-05 : f64} : tensor<?x8xf32, #l>, tensor<8xf32, #l>
  %wg = chain.param "gate" : tensor<16x8xf32, #b>
  %gt = chain.linear %y, %wg : tensor<?x8xf32, #l>, tensor<16x8xf32, #b> -> tensor<?x16xf32, #l>
  %wu = chain.param "up" : tensor<16x8xf32, #b>
  %u = chain.linear %y, %wu : tensor<?x8xf32, #l>, tensor<16x8xf32, #b> -> tensor<?x16xf32, #l>
  %m = chain.swiglu %gt, %u : tensor<?x16xf32, #l>
  %dw = chain.linear_grad_w %dy, %y : tensor<?x16xf32, #l>, tensor<?x8xf32, #l> -> tensor<16x8xf32, #b>
  return %m, %dw : tensor<?x16xf32, #l>, tensor<16x8xf32, #b>
}

// -----

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>

// Left alone: a norm read before the group (its reader would lose it), and
// a single product (no grouped GEMM to take the prologue).
// CHECK-LABEL: func.func @apart(
// CHECK:         chain.norm
// CHECK:         chain.add
// CHECK:         chain.fused grouped_gemm(
// CHECK:         chain.norm
// CHECK:         chain.linear
// CHECK-NOT:     norm_grouped
func.func @apart(%x: tensor<?x8xf32, #l>) -> (tensor<?x8xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>) {
  %g = chain.param "gain" : tensor<8xf32, #l>
  %y = chain.norm %x, %g {eps = 1.0e-05 : f64} : tensor<?x8xf32, #l>, tensor<8xf32, #l>
  %s = chain.add %y, %y : tensor<?x8xf32, #l>
  %w1 = chain.param "w1" : tensor<8x8xf32, #b>
  %a = chain.linear %y, %w1 : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %w2 = chain.param "w2" : tensor<8x8xf32, #b>
  %b2 = chain.linear %y, %w2 : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %y2 = chain.norm %x, %g {eps = 1.0e-05 : f64} : tensor<?x8xf32, #l>, tensor<8xf32, #l>
  %c = chain.linear %y2, %w1 : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  return %s, %a, %b2, %c : tensor<?x8xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
}
