// RUN: colm-opt %s -split-input-file -verify-diagnostics --chain-fold-masks=lower-linears=false | FileCheck %s --check-prefix=FOLD
// RUN: colm-opt %s -split-input-file -verify-diagnostics --chain-fold-masks | FileCheck %s --check-prefix=LOWER
// Both forms obey the causal rule (graphs that break it are refused).
// RUN: colm-opt %s -split-input-file -verify-diagnostics --chain-fold-masks=lower-linears=false --chain-verify-causality | FileCheck %s --check-prefix=VERIFIED
// RUN: colm-opt %s -split-input-file -verify-diagnostics --chain-fold-masks --chain-verify-causality | FileCheck %s --check-prefix=VERIFIED
// Folding is idempotent.
// RUN: colm-opt %s -split-input-file -verify-diagnostics --chain-fold-masks --chain-fold-masks | FileCheck %s --check-prefix=LOWER

// chain-fold-masks (a) turns a dense linear whose weight is multiplied by a
// constant block lower-triangular 0/1 mask into a chain linear over the same
// parameter with #chain.blocks, and (b) lowers every chain linear to one
// dense matmul per output chain over the input prefix, so no block above the
// chain diagonal is ever multiplied.

#l = #chain.layout<[1, 1, 2]>

// Chains [1, 1, 2] over width 4: chain 1 = [0, 1), 2 = [1, 2), 3 = [2, 4).
// FOLD-LABEL: func.func @masked_dense(
// FOLD-SAME:      %[[X:.*]]: tensor<?x4xf32, #[[L:layout[0-9]*]]>)
// FOLD-NOT:     chain.mul
// FOLD-NOT:     arith.constant
// FOLD:         %[[W:.*]] = chain.param "model.layers.0.mlp.up_proj.weight" : tensor<4x4xf32, #[[B:blocks[0-9]*]]>
// FOLD-NOT:     chain.mul
// FOLD-NOT:     arith.constant
// FOLD:         %[[Y:.*]] = chain.linear %[[X]], %[[W]] : tensor<?x4xf32, #[[L]]>, tensor<4x4xf32, #[[B]]> -> tensor<?x4xf32, #[[L]]>
// FOLD-NOT:     chain.dense
// FOLD:         return %[[Y]]
// LOWER-LABEL: func.func @masked_dense(
// LOWER-NOT:     chain.linear
// LOWER-NOT:     chain.mul
// LOWER:         chain.concat
// VERIFIED-LABEL: func.func @masked_dense(
func.func @masked_dense(%x: tensor<?x4xf32, #l>) -> tensor<?x4xf32, #l> {
  %w = chain.param "model.layers.0.mlp.up_proj.weight" : tensor<4x4xf32>
  %m = arith.constant dense<[[1.0, 0.0, 0.0, 0.0],
                             [1.0, 1.0, 0.0, 0.0],
                             [1.0, 1.0, 1.0, 1.0],
                             [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>
  %wm = chain.mul %w, %m : tensor<4x4xf32>
  %y = chain.dense %x, %wm : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  return %y : tensor<?x4xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// The mask on the left of the product, and a [out, in] = [4, 2] weight.
// FOLD-LABEL: func.func @mask_on_the_left(
// FOLD-NOT:     chain.mul
// FOLD:         chain.param "w" : tensor<4x2xf32, #{{blocks[0-9]*}}>
// FOLD:         chain.linear {{.*}} -> tensor<?x4xf32, #{{layout[0-9]*}}>
// FOLD-NOT:     arith.constant
// VERIFIED-LABEL: func.func @mask_on_the_left(
func.func @mask_on_the_left(%x: tensor<?x2xf32, #l>) -> tensor<?x4xf32, #l> {
  %w = chain.param "w" : tensor<4x2xf32>
  %m = arith.constant dense<[[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [1.0, 1.0]]> : tensor<4x2xf32>
  %wm = chain.mul %m, %w : tensor<4x2xf32>
  %y = chain.dense %x, %wm : tensor<?x2xf32, #l>, tensor<4x2xf32> -> tensor<?x4xf32, #l>
  return %y : tensor<?x4xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// Masks that are not exactly the causal chain mask stay dense, even when
// they keep the rule: a zero inside a kept block, values other than 0/1.
// FOLD-LABEL: func.func @inexact_masks(
// FOLD-NOT:     chain.linear
// FOLD-COUNT-2: chain.dense
// FOLD-NOT:     chain.linear
// LOWER-LABEL: func.func @inexact_masks(
// LOWER-NOT:     chain.weight_block
// LOWER-COUNT-2: chain.dense
// LOWER-NOT:     chain.weight_block
// VERIFIED-LABEL: func.func @inexact_masks(
func.func @inexact_masks(%x: tensor<?x4xf32, #l>) -> (tensor<?x4xf32, #l>, tensor<?x4xf32, #l>) {
  %w = chain.param "w" : tensor<4x4xf32>
  %hole = arith.constant dense<[[1.0, 1.0, 0.0, 0.0],
                                [1.0, 0.0, 0.0, 0.0],
                                [1.0, 1.0, 1.0, 1.0],
                                [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>
  %half = arith.constant dense<[[0.5, 0.5, 0.0, 0.0],
                                [0.5, 0.5, 0.0, 0.0],
                                [0.5, 0.5, 0.5, 0.5],
                                [0.5, 0.5, 0.5, 0.5]]> : tensor<4x4xf32>
  %w1 = chain.mul %w, %hole : tensor<4x4xf32>
  %w2 = chain.mul %w, %half : tensor<4x4xf32>
  %y1 = chain.dense %x, %w1 : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  %y2 = chain.dense %x, %w2 : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  return %y1, %y2 : tensor<?x4xf32, #l>, tensor<?x4xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// A mask with a non-zero above the diagonal breaks the rule: lowering the
// graph would not keep block (1, 2) out, so it is refused.
func.func @mask_above_diagonal(%x: tensor<?x4xf32, #l>) -> tensor<?x4xf32, #l> {
  %w = chain.param "w" : tensor<4x4xf32>
  %upper = arith.constant dense<[[1.0, 1.0, 0.0, 0.0],
                                 [1.0, 1.0, 0.0, 1.0],
                                 [1.0, 1.0, 1.0, 1.0],
                                 [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>
  %wm = chain.mul %w, %upper : tensor<4x4xf32>
  // expected-error @+1 {{chain-fold-masks: refusing an op that breaks the chain causal rule: chain 1 of the result depends on chain 2 (weight block (1, 2) of this dense linear is not masked to zero)}}
  %y = chain.dense %x, %wm : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  return %y : tensor<?x4xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// A mask that is not a constant proves nothing: the graph is refused.
func.func @mask_not_constant(%x: tensor<?x4xf32, #l>, %m: tensor<4x4xf32>) -> tensor<?x4xf32, #l> {
  %w = chain.param "w" : tensor<4x4xf32>
  %wm = chain.mul %w, %m : tensor<4x4xf32>
  // expected-error @+1 {{chain-fold-masks: refusing an op that breaks the chain causal rule: chain 1 of the result depends on chain 2 (weight block (1, 2) of this dense linear is not masked to zero)}}
  %y = chain.dense %x, %wm : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  return %y : tensor<?x4xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// Dense linears that are not between values of one chain layout (CoLM-Air
// keys) stay as they are.
// FOLD-LABEL: func.func @unchained_dense(
// FOLD:         chain.dense
// LOWER-LABEL: func.func @unchained_dense(
// LOWER:         chain.dense
// VERIFIED-LABEL: func.func @unchained_dense(
func.func @unchained_dense(%x: tensor<?x2xf32, #chain.layout<[1]>>) -> tensor<?x2xf32> {
  %w = chain.param "w" : tensor<2x2xf32>
  %m = arith.constant dense<[[1.0, 0.0], [1.0, 1.0]]> : tensor<2x2xf32>
  %wm = chain.mul %w, %m : tensor<2x2xf32>
  %y = chain.dense %x, %wm : tensor<?x2xf32, #chain.layout<[1]>>, tensor<2x2xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

#l = #chain.layout<[1, 1, 2]>
#b = #chain.blocks<[1, 1, 2]>

// (b) The SwiGLU FFN of a CoLM layer, D = 16, F = 32, chains [1, 1, 2]:
// D prefixes 4, 8, 16; F chains 8, 8, 16 and prefixes 8, 16, 32. Output
// chain i multiplies only its [out_i, in_prefix_i] weight block.
// FOLD-LABEL: func.func @swiglu_ffn(
// FOLD-COUNT-3: chain.linear
// LOWER-LABEL: func.func @swiglu_ffn(
// LOWER-NOT:     chain.linear
// LOWER:         %[[WG:.*]] = chain.param "model.layers.0.mlp.gate_proj.weight" : tensor<32x16xf32, #[[B:blocks[0-9]*]]>
// LOWER-NOT:     chain.linear
// LOWER:         %[[WU:.*]] = chain.param "model.layers.0.mlp.up_proj.weight" : tensor<32x16xf32, #[[B]]>
// LOWER-NOT:     chain.linear
// LOWER:         %[[WD:.*]] = chain.param "model.layers.0.mlp.down_proj.weight" : tensor<16x32xf32, #[[B]]>
//
// gate: [32, 16] -> blocks [8, 4], [8, 8], [16, 16].
// LOWER:         %[[X1:.*]] = chain.prefix %[[X:.*]] chains 1 : tensor<?x16xf32, #[[L:layout[0-9]*]]> -> tensor<?x4xf32, #[[L1:layout[0-9]*]]>
// LOWER-NEXT:    %[[G1:.*]] = chain.weight_block %[[WG]] out_chain 1 : tensor<32x16xf32, #[[B]]> -> tensor<8x4xf32>
// LOWER-NEXT:    %[[Y1:.*]] = chain.dense %[[X1]], %[[G1]] : tensor<?x4xf32, #[[L1]]>, tensor<8x4xf32> -> tensor<?x8xf32>
// LOWER-NEXT:    %[[X2:.*]] = chain.prefix %[[X]] chains 2 : tensor<?x16xf32, #[[L]]> -> tensor<?x8xf32, #[[L2:layout[0-9]*]]>
// LOWER-NEXT:    %[[G2:.*]] = chain.weight_block %[[WG]] out_chain 2 : tensor<32x16xf32, #[[B]]> -> tensor<8x8xf32>
// LOWER-NEXT:    %[[Y2:.*]] = chain.dense %[[X2]], %[[G2]] : tensor<?x8xf32, #[[L2]]>, tensor<8x8xf32> -> tensor<?x8xf32>
// LOWER-NEXT:    %[[G3:.*]] = chain.weight_block %[[WG]] out_chain 3 : tensor<32x16xf32, #[[B]]> -> tensor<16x16xf32>
// LOWER-NEXT:    %[[Y3:.*]] = chain.dense %[[X]], %[[G3]] : tensor<?x16xf32, #[[L]]>, tensor<16x16xf32> -> tensor<?x16xf32>
// LOWER-NEXT:    %[[GATE:.*]] = chain.concat %[[Y1]], %[[Y2]], %[[Y3]] : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x16xf32> -> tensor<?x32xf32, #[[L]]>
//
// up: the same blocks.
// LOWER:         chain.weight_block %[[WU]] out_chain 1 : tensor<32x16xf32, #[[B]]> -> tensor<8x4xf32>
// LOWER:         chain.weight_block %[[WU]] out_chain 2 : tensor<32x16xf32, #[[B]]> -> tensor<8x8xf32>
// LOWER:         chain.weight_block %[[WU]] out_chain 3 : tensor<32x16xf32, #[[B]]> -> tensor<16x16xf32>
// LOWER:         %[[UP:.*]] = chain.concat
// LOWER:         %[[H:.*]] = chain.swiglu %[[GATE]], %[[UP]] : tensor<?x32xf32, #[[L]]>
//
// down: [16, 32] -> blocks [4, 8], [4, 16], [8, 32].
// LOWER:         %[[H1:.*]] = chain.prefix %[[H]] chains 1 : tensor<?x32xf32, #[[L]]> -> tensor<?x8xf32, #[[L1]]>
// LOWER-NEXT:    %[[D1:.*]] = chain.weight_block %[[WD]] out_chain 1 : tensor<16x32xf32, #[[B]]> -> tensor<4x8xf32>
// LOWER-NEXT:    chain.dense %[[H1]], %[[D1]] : tensor<?x8xf32, #[[L1]]>, tensor<4x8xf32> -> tensor<?x4xf32>
// LOWER-NEXT:    %[[H2:.*]] = chain.prefix %[[H]] chains 2 : tensor<?x32xf32, #[[L]]> -> tensor<?x16xf32, #[[L2]]>
// LOWER-NEXT:    %[[D2:.*]] = chain.weight_block %[[WD]] out_chain 2 : tensor<16x32xf32, #[[B]]> -> tensor<4x16xf32>
// LOWER-NEXT:    chain.dense %[[H2]], %[[D2]] : tensor<?x16xf32, #[[L2]]>, tensor<4x16xf32> -> tensor<?x4xf32>
// LOWER-NEXT:    %[[D3:.*]] = chain.weight_block %[[WD]] out_chain 3 : tensor<16x32xf32, #[[B]]> -> tensor<8x32xf32>
// LOWER-NEXT:    chain.dense %[[H]], %[[D3]] : tensor<?x32xf32, #[[L]]>, tensor<8x32xf32> -> tensor<?x8xf32>
// LOWER-NEXT:    %[[D:.*]] = chain.concat %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x8xf32> -> tensor<?x16xf32, #[[L]]>
// LOWER-NOT:     chain.linear
// LOWER:         return %[[D]]
// VERIFIED-LABEL: func.func @swiglu_ffn(
func.func @swiglu_ffn(%x: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  %wg = chain.param "model.layers.0.mlp.gate_proj.weight" : tensor<32x16xf32, #b>
  %wu = chain.param "model.layers.0.mlp.up_proj.weight" : tensor<32x16xf32, #b>
  %wd = chain.param "model.layers.0.mlp.down_proj.weight" : tensor<16x32xf32, #b>
  %gt = chain.linear %x, %wg : tensor<?x16xf32, #l>, tensor<32x16xf32, #b> -> tensor<?x32xf32, #l>
  %up = chain.linear %x, %wu : tensor<?x16xf32, #l>, tensor<32x16xf32, #b> -> tensor<?x32xf32, #l>
  %h = chain.swiglu %gt, %up : tensor<?x32xf32, #l>
  %d = chain.linear %h, %wd : tensor<?x32xf32, #l>, tensor<16x32xf32, #b> -> tensor<?x16xf32, #l>
  return %d : tensor<?x16xf32, #l>
}

// -----

#l = #chain.layout<[1, 1]>

// (a) then (b): the masked dense of two chains ends as two block matmuls,
// [1, 1] and [1, 2] of the [2, 2] parameter; no mask is left.
// LOWER-LABEL: func.func @masked_then_lowered(
// LOWER-NOT:     arith.constant
// LOWER-NOT:     chain.mul
// LOWER:         %[[W:.*]] = chain.param "w" : tensor<2x2xf32, #[[B:blocks[0-9]*]]>
// LOWER:         chain.weight_block %[[W]] out_chain 1 : tensor<2x2xf32, #[[B]]> -> tensor<1x1xf32>
// LOWER:         chain.weight_block %[[W]] out_chain 2 : tensor<2x2xf32, #[[B]]> -> tensor<1x2xf32>
// LOWER-NOT:     chain.weight_block
// LOWER:         chain.concat {{.*}} : tensor<?x1xf32>, tensor<?x1xf32> -> tensor<?x2xf32, #{{layout[0-9]*}}>
// LOWER-NOT:     chain.linear
// VERIFIED-LABEL: func.func @masked_then_lowered(
func.func @masked_then_lowered(%x: tensor<?x2xf32, #l>) -> tensor<?x2xf32, #l> {
  %w = chain.param "w" : tensor<2x2xf32>
  %m = arith.constant dense<[[1.0, 0.0], [1.0, 1.0]]> : tensor<2x2xf32>
  %wm = chain.mul %w, %m : tensor<2x2xf32>
  %y = chain.dense %x, %wm : tensor<?x2xf32, #l>, tensor<2x2xf32> -> tensor<?x2xf32, #l>
  return %y : tensor<?x2xf32, #l>
}
