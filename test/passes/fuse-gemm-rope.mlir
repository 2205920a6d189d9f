// RUN: colm-opt %s -split-input-file --chain-group-gemms --chain-fuse-gemm-rope | FileCheck %s
// The pass is idempotent, and its output parses and verifies again.
// RUN: colm-opt %s -split-input-file --chain-group-gemms --chain-fuse-gemm-rope --chain-fuse-gemm-rope | FileCheck %s
// RUN: colm-opt %s -split-input-file --chain-group-gemms --chain-fuse-gemm-rope | colm-opt -split-input-file | FileCheck %s
// Fused graphs are still proven causal.
// RUN: colm-opt %s -split-input-file --chain-group-gemms --chain-fuse-gemm-rope --chain-verify-causality | FileCheck %s

// chain-fuse-gemm-rope moves the chain.rope that is a grouped product's only
// reader into the group, after the products.

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>

// q and k rotated at given positions (a decode step): the positions become
// the group's last input; v is yielded as it is.
// CHECK-LABEL: func.func @qkv(
// CHECK-SAME:      %[[X:[^:]*]]: tensor<?x8xf32, #layout>, %[[P:[^:]*]]: tensor<?xi32>
// CHECK-NOT:     chain.rope
// CHECK:         %[[F:.*]]:3 = chain.fused grouped_gemm(%[[X]], %{{.*}}, %{{.*}}, %{{.*}}, %[[P]]) :
// CHECK-NEXT:    ^bb0(%{{.*}}, %[[POS:[^:]*]]: tensor<?xi32>):
// CHECK-NEXT:      %[[Q:.*]] = chain.linear
// CHECK-NEXT:      %[[K:.*]] = chain.linear
// CHECK-NEXT:      %[[V:.*]] = chain.linear
// CHECK-NEXT:      %[[QR:.*]] = chain.rope %[[Q]] at %[[POS]] {head_dim = 4 : i64}
// CHECK-NEXT:      %[[KR:.*]] = chain.rope %[[K]] at %[[POS]] {head_dim = 4 : i64}
// CHECK-NEXT:      chain.yield %[[QR]], %[[KR]], %[[V]] :
// CHECK-NEXT:    }
// CHECK-NOT:     chain.rope
// CHECK:         return %[[F]]#0, %[[F]]#1, %[[F]]#2
func.func @qkv(%x: tensor<?x8xf32, #l>, %pos: tensor<?xi32>) -> (tensor<?x8xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>) {
  %wq = chain.param "q" : tensor<8x8xf32, #b>
  %q = chain.linear %x, %wq : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %qr = chain.rope %q at %pos {head_dim = 4 : i64} : tensor<?x8xf32, #l>, tensor<?xi32>
  %wk = chain.param "k" : tensor<8x8xf32, #b>
  %k = chain.linear %x, %wk : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %kr = chain.rope %k at %pos {head_dim = 4 : i64} : tensor<?x8xf32, #l>, tensor<?xi32>
  %wv = chain.param "v" : tensor<8x8xf32, #b>
  %v = chain.linear %x, %wv : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  return %qr, %kr, %v : tensor<?x8xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>

// Left in place: an inverse rope, a rope of another head size than the one
// fused first, and a rope whose product is read elsewhere too.
// CHECK-LABEL: func.func @apart(
// CHECK:         %[[F:.*]]:4 = chain.fused grouped_gemm(
// CHECK:           %[[R:.*]] = chain.rope %{{.*}} {head_dim = 2 : i64}
// CHECK-NEXT:      chain.yield %{{.*}}, %[[R]], %{{.*}}, %{{.*}} :
// CHECK:         chain.rope %[[F]]#0 {head_dim = 4 : i64, inverse}
// CHECK:         chain.rope %[[F]]#2 {head_dim = 4 : i64}
// CHECK:         chain.rope %[[F]]#3 {head_dim = 2 : i64}
// CHECK:         chain.add %[[F]]#3, %[[F]]#3
func.func @apart(%x: tensor<?x8xf32, #l>) -> (tensor<?x8xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>) {
  %w1 = chain.param "w1" : tensor<8x8xf32, #b>
  %a = chain.linear %x, %w1 : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %w2 = chain.param "w2" : tensor<8x8xf32, #b>
  %b2 = chain.linear %x, %w2 : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %w3 = chain.param "w3" : tensor<8x8xf32, #b>
  %c = chain.linear %x, %w3 : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %w4 = chain.param "w4" : tensor<8x8xf32, #b>
  %d = chain.linear %x, %w4 : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %ar = chain.rope %a {head_dim = 4 : i64, inverse} : tensor<?x8xf32, #l>
  %br = chain.rope %b2 {head_dim = 2 : i64} : tensor<?x8xf32, #l>
  %cr = chain.rope %c {head_dim = 4 : i64} : tensor<?x8xf32, #l>
  %dr = chain.rope %d {head_dim = 2 : i64} : tensor<?x8xf32, #l>
  %s = chain.add %d, %d : tensor<?x8xf32, #l>
  return %ar, %br, %cr, %dr, %s : tensor<?x8xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
}
