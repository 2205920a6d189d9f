// RUN: colm-opt %s -split-input-file -verify-diagnostics

// One case per verifier rule of the chain encodings and ops.

//===----------------------------------------------------------------------===//
// #chain.layout / #chain.blocks
//===----------------------------------------------------------------------===//

// A chained dimension must split exactly; the error names the chain that
// would get a fractional width.
func.func @split_not_exact(
    // expected-error @+1 {{chained dimension 10 does not split exactly into chains [1, 2, 1]: chain 1 would get 10/4 entries}}
    %x: tensor<?x10xf32, #chain.layout<[1, 2, 1]>>) {
  return
}

// -----

// Ratios that are not coprime: 5 over [2, 2] gives chain 1 2.5 entries.
// (6 over [2, 2] splits exactly, see roundtrip.mlir.)
func.func @split_not_exact_not_coprime(
    // expected-error @+1 {{chained dimension 5 does not split exactly into chains [2, 2]: chain 1 would get 10/4 entries}}
    %x: tensor<?x5xf32, #chain.layout<[2, 2]>>) {
  return
}

// -----

func.func @ratio_zero(
    // expected-error @+1 {{chain 2 has ratio 0; ratios must be positive}}
    %x: tensor<?x8xf32, #chain.layout<[1, 0]>>) {
  return
}

// -----

func.func @ratio_negative(
    // expected-error @+1 {{chain 2 has ratio -1; ratios must be positive}}
    %w: tensor<8x8xf32, #chain.blocks<[1, -1]>>) {
  return
}

// -----

// expected-error @+2 {{failed to parse Chain_LayoutAttr parameter 'ratios'}}
// expected-error @+1 {{expected integer value}}
func.func @empty_layout(%x: tensor<?x8xf32, #chain.layout<[]>>) {
  return
}

// -----

func.func @dynamic_chained_dim(
    // expected-error @+1 {{chained dimension is dynamic; chained dimensions must be static}}
    %x: tensor<8x?xf32, #chain.layout<[1, 1]>>) {
  return
}

// -----

func.func @chained_scalar(
    // expected-error @+1 {{a chained tensor needs at least one dimension}}
    %x: tensor<f32, #chain.layout<[1]>>) {
  return
}

// -----

func.func @blocks_rank(
    // expected-error @+1 {{a chain-block weight must be [out, in], got rank 1}}
    %w: tensor<8xf32, #chain.blocks<[1, 1]>>) {
  return
}

// -----

func.func @blocks_output_split(
    // expected-error @+1 {{output dimension 3 does not split exactly into chains [1, 1]: chain 1 would get 3/2 entries}}
    %w: tensor<3x8xf32, #chain.blocks<[1, 1]>>) {
  return
}

// -----

func.func @blocks_input_split(
    // expected-error @+1 {{input dimension 5 does not split exactly into chains [1, 1]: chain 1 would get 5/2 entries}}
    %w: tensor<8x5xf32, #chain.blocks<[1, 1]>>) {
  return
}

//===----------------------------------------------------------------------===//
// chain.param
//===----------------------------------------------------------------------===//

// -----

func.func @param_dynamic() {
  // expected-error @+1 {{'chain.param' op parameter 'w' must have a static shape, got 'tensor<?x8xf32>'}}
  %w = chain.param "w" : tensor<?x8xf32>
  return
}

// -----

func.func @param_no_name() {
  // expected-error @+1 {{'chain.param' op needs a non-empty parameter name}}
  %w = chain.param "" : tensor<8x8xf32>
  return
}

// -----

func.func @param_not_f32() {
  // expected-error @+1 {{'chain.param' op result #0 must be ranked tensor of 32-bit float values}}
  %w = chain.param "w" : tensor<8x8xf16>
  return
}

//===----------------------------------------------------------------------===//
// chain.embed
//===----------------------------------------------------------------------===//

// -----

// A table [V, 16] over [1, 1, 2]: its prefixes are 4 [1], 8 [1, 1] and
// 16 [1, 1, 2]. Width 8 with all three chains is none of them.
func.func @embed_not_prefix(%t: tensor<?xi32>) {
  %e = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #chain.layout<[1, 1, 2]>>
  // expected-error @+1 {{'chain.embed' op result 'tensor<?x8xf32, #chain.layout<[1, 1, 2]>>' is not a chain prefix of the table 'tensor<32x16xf32, #chain.layout<[1, 1, 2]>>'}}
  %x = chain.embed %e[%t] : tensor<32x16xf32, #chain.layout<[1, 1, 2]>>, tensor<?xi32> -> tensor<?x8xf32, #chain.layout<[1, 1, 2]>>
  return
}

// -----

func.func @embed_prefix_wrong_layout(%t: tensor<?xi32>) {
  %e = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #chain.layout<[1, 1, 2]>>
  // expected-error @+1 {{is not a chain prefix of the table}}
  %x = chain.embed %e[%t] : tensor<32x16xf32, #chain.layout<[1, 1, 2]>>, tensor<?xi32> -> tensor<?x8xf32, #chain.layout<[1]>>
  return
}

// -----

func.func @embed_rows(%t: tensor<3xi32>) {
  %e = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #chain.layout<[1, 1]>>
  // expected-error @+1 {{'chain.embed' op result must have one row per token}}
  %x = chain.embed %e[%t] : tensor<32x16xf32, #chain.layout<[1, 1]>>, tensor<3xi32> -> tensor<4x16xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @embed_unchained_table(%t: tensor<?xi32>) {
  %e = chain.param "model.embed_tokens.weight" : tensor<32x16xf32>
  // expected-error @+1 {{'chain.embed' op result must be [T, 16] with no chains, like the table}}
  %x = chain.embed %e[%t] : tensor<32x16xf32>, tensor<?xi32> -> tensor<?x16xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @embed_tokens_rank(%t: tensor<2x3xi32>) {
  %e = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #chain.layout<[1, 1]>>
  // expected-error @+1 {{'chain.embed' op tokens must have rank 1}}
  %x = chain.embed %e[%t] : tensor<32x16xf32, #chain.layout<[1, 1]>>, tensor<2x3xi32> -> tensor<?x16xf32, #chain.layout<[1, 1]>>
  return
}

//===----------------------------------------------------------------------===//
// chain.norm
//===----------------------------------------------------------------------===//

// -----

func.func @norm_gain_size(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %g: tensor<4xf32, #chain.layout<[1, 1]>>) {
  // expected-error @+1 {{'chain.norm' op gain has 4 entries but the input width is 8}}
  %y = chain.norm %x, %g : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<4xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @norm_gain_unchained(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %g: tensor<8xf32>) {
  // expected-error @+1 {{'chain.norm' op gain has no chains but the input has chains [1, 1]}}
  %y = chain.norm %x, %g : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<8xf32>
  return
}

// -----

func.func @norm_gain_layout(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %g: tensor<8xf32, #chain.layout<[1, 3]>>) {
  // expected-error @+1 {{'chain.norm' op gain has chains [1, 3] but the input has chains [1, 1]}}
  %y = chain.norm %x, %g : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<8xf32, #chain.layout<[1, 3]>>
  return
}

// -----

func.func @norm_gain_rank(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %g: tensor<1x8xf32, #chain.layout<[1, 1]>>) {
  // expected-error @+1 {{'chain.norm' op gain must have rank 1}}
  %y = chain.norm %x, %g : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<1x8xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @norm_stats_split(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %g: tensor<8xf32, #chain.layout<[1, 1]>>) {
  // expected-error @+1 {{'chain.norm' op width 8 does not split into the statistics groups [1, 2]}}
  %y = chain.norm %x, %g stats(#chain.layout<[1, 2]>) : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<8xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @norm_eps(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %g: tensor<8xf32, #chain.layout<[1, 1]>>) {
  // expected-error @+1 {{'chain.norm' op eps must be a non-negative number}}
  %y = chain.norm %x, %g {eps = -1.0 : f64} : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<8xf32, #chain.layout<[1, 1]>>
  return
}

//===----------------------------------------------------------------------===//
// chain.linear, chain.dense
//===----------------------------------------------------------------------===//

// -----

func.func @linear_without_blocks(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %w: tensor<8x8xf32>) {
  // expected-error @+1 {{'chain.linear' op weight must carry #chain.blocks<...>, got 'tensor<8x8xf32>' (use chain.dense for a dense matmul)}}
  %y = chain.linear %x, %w : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<8x8xf32> -> tensor<?x8xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @linear_input_layout(%x: tensor<?x8xf32, #chain.layout<[1, 3]>>, %w: tensor<8x8xf32, #chain.blocks<[1, 1]>>) {
  // expected-error @+1 {{'chain.linear' op input has chains [1, 3] but the weight has chain blocks [1, 1]}}
  %y = chain.linear %x, %w : tensor<?x8xf32, #chain.layout<[1, 3]>>, tensor<8x8xf32, #chain.blocks<[1, 1]>> -> tensor<?x8xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @linear_input_unchained(%x: tensor<?x8xf32>, %w: tensor<8x8xf32, #chain.blocks<[1, 1]>>) {
  // expected-error @+1 {{'chain.linear' op input has no chains but the weight has chain blocks [1, 1]}}
  %y = chain.linear %x, %w : tensor<?x8xf32>, tensor<8x8xf32, #chain.blocks<[1, 1]>> -> tensor<?x8xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @linear_result_layout(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %w: tensor<8x8xf32, #chain.blocks<[1, 1]>>) {
  // expected-error @+1 {{'chain.linear' op result has no chains but the weight has chain blocks [1, 1]}}
  %y = chain.linear %x, %w : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<8x8xf32, #chain.blocks<[1, 1]>> -> tensor<?x8xf32>
  return
}

// -----

func.func @linear_result_other_chains(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %w: tensor<8x8xf32, #chain.blocks<[1, 1]>>) {
  // expected-error @+1 {{'chain.linear' op result has chains [1, 1, 2] but the weight has chain blocks [1, 1]}}
  %y = chain.linear %x, %w : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<8x8xf32, #chain.blocks<[1, 1]>> -> tensor<?x8xf32, #chain.layout<[1, 1, 2]>>
  return
}

// -----

func.func @linear_input_width(%x: tensor<?x4xf32, #chain.layout<[1, 1]>>, %w: tensor<8x8xf32, #chain.blocks<[1, 1]>>) {
  // expected-error @+1 {{'chain.linear' op input width 4 does not match the weight's input dimension 8 (weights are [out, in])}}
  %y = chain.linear %x, %w : tensor<?x4xf32, #chain.layout<[1, 1]>>, tensor<8x8xf32, #chain.blocks<[1, 1]>> -> tensor<?x8xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @linear_result_width(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %w: tensor<8x8xf32, #chain.blocks<[1, 1]>>) {
  // expected-error @+1 {{'chain.linear' op result width 4 does not match the weight's output dimension 8}}
  %y = chain.linear %x, %w : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<8x8xf32, #chain.blocks<[1, 1]>> -> tensor<?x4xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @linear_positions(%x: tensor<3x8xf32, #chain.layout<[1, 1]>>, %w: tensor<8x8xf32, #chain.blocks<[1, 1]>>) {
  // expected-error @+1 {{'chain.linear' op result has 4 positions but the input has 3}}
  %y = chain.linear %x, %w : tensor<3x8xf32, #chain.layout<[1, 1]>>, tensor<8x8xf32, #chain.blocks<[1, 1]>> -> tensor<4x8xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @linear_rank(%x: tensor<8xf32, #chain.layout<[1, 1]>>, %w: tensor<8x8xf32, #chain.blocks<[1, 1]>>) {
  // expected-error @+1 {{'chain.linear' op input must have rank 2}}
  %y = chain.linear %x, %w : tensor<8xf32, #chain.layout<[1, 1]>>, tensor<8x8xf32, #chain.blocks<[1, 1]>> -> tensor<?x8xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @dense_with_blocks(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %w: tensor<8x8xf32, #chain.blocks<[1, 1]>>) {
  // expected-error @+1 {{'chain.dense' op weight carries chain blocks; use chain.linear}}
  %y = chain.dense %x, %w : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<8x8xf32, #chain.blocks<[1, 1]>> -> tensor<?x8xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @dense_input_width(%x: tensor<?x4xf32>, %w: tensor<8x8xf32>) {
  // expected-error @+1 {{'chain.dense' op input width 4 does not match the weight's input dimension 8}}
  %y = chain.dense %x, %w : tensor<?x4xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  return
}

//===----------------------------------------------------------------------===//
// chain.lm_head
//===----------------------------------------------------------------------===//

// -----

func.func @lm_head_too_many_chains(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %w: tensor<32x8xf32, #chain.layout<[1, 1]>>) {
  // expected-error @+1 {{'chain.lm_head' op uses 3 chains but the input has only 2}}
  %y = chain.lm_head %x, %w chains 3 : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<32x8xf32, #chain.layout<[1, 1]>> -> tensor<?x32xf32>
  return
}

// -----

func.func @lm_head_zero_chains(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %w: tensor<32x8xf32, #chain.layout<[1, 1]>>) {
  // expected-error @+1 {{'chain.lm_head' op attribute 'chains' failed to satisfy constraint: 64-bit signless integer attribute whose minimum value is 1}}
  %y = chain.lm_head %x, %w chains 0 : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<32x8xf32, #chain.layout<[1, 1]>> -> tensor<?x32xf32>
  return
}

// -----

func.func @lm_head_weight_layout(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %w: tensor<32x8xf32>) {
  // expected-error @+1 {{'chain.lm_head' op input has chains [1, 1] but the head weight has no chains}}
  %y = chain.lm_head %x, %w : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<32x8xf32> -> tensor<?x32xf32>
  return
}

// -----

func.func @lm_head_chained_logits(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %w: tensor<32x8xf32, #chain.layout<[1, 1]>>) {
  // expected-error @+1 {{'chain.lm_head' op logits carry no chain layout}}
  %y = chain.lm_head %x, %w : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<32x8xf32, #chain.layout<[1, 1]>> -> tensor<?x32xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @lm_head_vocab(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %w: tensor<32x8xf32, #chain.layout<[1, 1]>>) {
  // expected-error @+1 {{'chain.lm_head' op result width 16 does not match the weight's output dimension 32}}
  %y = chain.lm_head %x, %w : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<32x8xf32, #chain.layout<[1, 1]>> -> tensor<?x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// chain.rope, chain.attention
//===----------------------------------------------------------------------===//

// -----

func.func @rope_odd_head_dim(%x: tensor<?x12xf32, #chain.layout<[1, 1]>>) {
  // expected-error @+1 {{'chain.rope' op head_dim 3 must be even for RoPE}}
  %y = chain.rope %x {head_dim = 3} : tensor<?x12xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @rope_partial_head(%x: tensor<?x12xf32, #chain.layout<[1, 1]>>) {
  // expected-error @+1 {{'chain.rope' op width 12 is not a whole number of heads of size 8}}
  %y = chain.rope %x {head_dim = 8} : tensor<?x12xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @rope_theta(%x: tensor<?x16xf32, #chain.layout<[1, 1]>>) {
  // expected-error @+1 {{'chain.rope' op theta must be a positive number}}
  %y = chain.rope %x {head_dim = 8, theta = 0.0 : f64} : tensor<?x16xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @rope_zero_head_dim(%x: tensor<?x16xf32, #chain.layout<[1, 1]>>) {
  // expected-error @+1 {{attribute 'head_dim' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %y = chain.rope %x {head_dim = 0} : tensor<?x16xf32, #chain.layout<[1, 1]>>
  return
}

// -----

// 3 query heads over 2 key/value heads.
func.func @attention_heads_not_multiple(%q: tensor<?x24xf32>, %k: tensor<?x16xf32>) {
  // expected-error @+1 {{'chain.attention' op num_heads 3 is not a multiple of num_kv_heads 2}}
  %y = chain.attention %q, %k, %k kv_mapping grouped {head_dim = 8} : tensor<?x24xf32>, tensor<?x16xf32>, tensor<?x16xf32>
  return
}

// -----

// Zero-width keys: no key/value head (and no division by zero).
func.func @attention_no_kv_heads(%q: tensor<?x16xf32>, %k: tensor<?x0xf32>) {
  // expected-error @+1 {{'chain.attention' op needs at least one query head and one key/value head}}
  %y = chain.attention %q, %k, %k kv_mapping grouped {head_dim = 8} : tensor<?x16xf32>, tensor<?x0xf32>, tensor<?x0xf32>
  return
}

// -----

func.func @attention_no_query_heads(%q: tensor<?x0xf32>, %k: tensor<?x8xf32>) {
  // expected-error @+1 {{'chain.attention' op needs at least one query head and one key/value head}}
  %y = chain.attention %q, %k, %k kv_mapping grouped {head_dim = 8} : tensor<?x0xf32>, tensor<?x8xf32>, tensor<?x8xf32>
  return
}

// -----

func.func @attention_kv_types(%q: tensor<?x16xf32>, %k: tensor<?x16xf32>, %v: tensor<?x8xf32>) {
  // expected-error @+1 {{'chain.attention' op keys 'tensor<?x16xf32>' and values 'tensor<?x8xf32>' must have the same type}}
  %y = chain.attention %q, %k, %v kv_mapping grouped {head_dim = 8} : tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x8xf32>
  return
}

// -----

func.func @attention_kv_layouts(%q: tensor<?x16xf32, #chain.layout<[1, 1]>>, %k: tensor<?x16xf32, #chain.layout<[1, 1]>>, %v: tensor<?x16xf32>) {
  // expected-error @+1 {{must have the same type}}
  %y = chain.attention %q, %k, %v kv_mapping grouped {head_dim = 8} : tensor<?x16xf32, #chain.layout<[1, 1]>>, tensor<?x16xf32, #chain.layout<[1, 1]>>, tensor<?x16xf32>
  return
}

// -----

func.func @attention_partial_head(%q: tensor<?x16xf32>, %k: tensor<?x12xf32>) {
  // expected-error @+1 {{'chain.attention' op query width 16 and key/value width 12 must be whole numbers of heads of size 8}}
  %y = chain.attention %q, %k, %k kv_mapping grouped {head_dim = 8} : tensor<?x16xf32>, tensor<?x12xf32>, tensor<?x12xf32>
  return
}

// -----

// Queries are the last positions of the keys (decoding with a cache), so
// there cannot be more of them.
func.func @attention_positions(%q: tensor<5x16xf32>, %k: tensor<4x16xf32>) {
  // expected-error @+1 {{'chain.attention' op 5 queries but only 4 keys: queries are the last positions of the keys}}
  %y = chain.attention %q, %k, %k kv_mapping grouped {head_dim = 8} : tensor<5x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>
  return
}

// -----

func.func @attention_unknown_mapping(%q: tensor<?x16xf32>, %k: tensor<?x16xf32>) {
  // expected-error @+2 {{expected ::colm::chain::KvMapping to be one of: grouped, tiled}}
  // expected-error @+1 {{failed to parse Chain_KvMappingAttr parameter 'value'}}
  %y = chain.attention %q, %k, %k kv_mapping interleaved {head_dim = 8} : tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// chain.cross_entropy, element-wise ops
//===----------------------------------------------------------------------===//

// -----

func.func @cross_entropy_targets(%l: tensor<3x32xf32>, %t: tensor<4xi32>) {
  // expected-error @+1 {{'chain.cross_entropy' op needs one target per row of logits}}
  %y = chain.cross_entropy %l, %t : tensor<3x32xf32>, tensor<4xi32> -> tensor<f32>
  return
}

// -----

func.func @add_layouts(%a: tensor<?x8xf32, #chain.layout<[1, 1]>>, %b: tensor<?x8xf32>) {
  // expected-error @+1 {{'chain.add' op requires the same encoding for all operands and results}}
  %y = "chain.add"(%a, %b) : (tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<?x8xf32>) -> tensor<?x8xf32, #chain.layout<[1, 1]>>
  return
}

//===----------------------------------------------------------------------===//
// chain.prefix, chain.weight_block, chain.concat
//===----------------------------------------------------------------------===//

// -----

func.func @prefix_too_many_chains(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>) {
  // expected-error @+1 {{'chain.prefix' op takes 3 chains of a value with 2}}
  %y = chain.prefix %x chains 3 : tensor<?x8xf32, #chain.layout<[1, 1]>> -> tensor<?x8xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @prefix_result_type(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>) {
  // expected-error @+1 {{'chain.prefix' op result must be 'tensor<?x4xf32, #chain.layout<[1]>>'}}
  %y = chain.prefix %x chains 1 : tensor<?x8xf32, #chain.layout<[1, 1]>> -> tensor<?x4xf32>
  return
}

// -----

func.func @prefix_result_width(%x: tensor<?x16xf32, #chain.layout<[1, 1, 2]>>) {
  // expected-error @+1 {{'chain.prefix' op result must be 'tensor<?x8xf32, #chain.layout<[1, 1]>>'}}
  %y = chain.prefix %x chains 2 : tensor<?x16xf32, #chain.layout<[1, 1, 2]>> -> tensor<?x4xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @prefix_unchained(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'chain.prefix' op input carries no chain layout}}
  %y = chain.prefix %x chains 1 : tensor<?x8xf32> -> tensor<?x4xf32>
  return
}

// -----

// Rows of chain 2 (4 of 8) over the columns of chains 1..2 (all 16).
func.func @weight_block_result(%w: tensor<8x16xf32, #chain.blocks<[1, 1]>>) {
  // expected-error @+1 {{'chain.weight_block' op result must be 'tensor<4x16xf32>'}}
  %y = chain.weight_block %w out_chain 2 : tensor<8x16xf32, #chain.blocks<[1, 1]>> -> tensor<4x8xf32>
  return
}

// -----

func.func @weight_block_chain(%w: tensor<8x16xf32, #chain.blocks<[1, 1]>>) {
  // expected-error @+1 {{'chain.weight_block' op out_chain 3 of a weight with 2 chains}}
  %y = chain.weight_block %w out_chain 3 : tensor<8x16xf32, #chain.blocks<[1, 1]>> -> tensor<4x16xf32>
  return
}

// -----

func.func @weight_block_unchained(%w: tensor<8x16xf32>) {
  // expected-error @+1 {{'chain.weight_block' op weight carries no #chain.blocks encoding}}
  %y = chain.weight_block %w out_chain 1 : tensor<8x16xf32> -> tensor<4x8xf32>
  return
}

// -----

func.func @concat_input_count(%a: tensor<?x4xf32>) {
  // expected-error @+1 {{'chain.concat' op needs one input per chain (2), got 1}}
  %y = chain.concat %a : tensor<?x4xf32> -> tensor<?x8xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @concat_input_width(%a: tensor<?x4xf32>, %b: tensor<?x2xf32>) {
  // expected-error @+1 {{'chain.concat' op input 2 is 'tensor<?x2xf32>' but chain 2 of the result is 4 wide}}
  %y = chain.concat %a, %b : tensor<?x4xf32>, tensor<?x2xf32> -> tensor<?x8xf32, #chain.layout<[1, 1]>>
  return
}

// -----

func.func @concat_unchained(%a: tensor<?x4xf32>, %b: tensor<?x4xf32>) {
  // expected-error @+1 {{'chain.concat' op result carries no chain layout}}
  %y = chain.concat %a, %b : tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x8xf32>
  return
}

//===----------------------------------------------------------------------===//
// chain.fused
//===----------------------------------------------------------------------===//

// -----

func.func @fused_arity(%x: tensor<?x4xf32>, %w: tensor<4x4xf32>) {
  // expected-error @+1 {{'chain.fused' op gemm_add takes 3 inputs (the product's two and the addend) and holds a product, a chain.add and the yield}}
  %s = chain.fused gemm_add(%x, %w) : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32> {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<4x4xf32>):
    %y = chain.dense %a, %b : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    chain.yield %y : tensor<?x4xf32>
  }
  return
}

// -----

func.func @fused_not_a_gemm(%x: tensor<?x4xf32>, %w: tensor<?x4xf32>, %r: tensor<?x4xf32>) {
  // expected-error @+1 {{'chain.fused' op gemm_add must hold chain.linear, chain.dense, chain.linear_grad_x or chain.dense_grad_x, then chain.add}}
  %s = chain.fused gemm_add(%x, %w, %r) : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32> {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<?x4xf32>, %c: tensor<?x4xf32>):
    %y = chain.mul %a, %b : tensor<?x4xf32>
    %z = chain.add %y, %c : tensor<?x4xf32>
    chain.yield %z : tensor<?x4xf32>
  }
  return
}

// -----

func.func @fused_wrong_addend(%x: tensor<?x4xf32>, %w: tensor<4x4xf32>, %r: tensor<?x4xf32>) {
  // expected-error @+1 {{'chain.fused' op gemm_add's chain.add must add the product and input #2}}
  %s = chain.fused gemm_add(%x, %w, %r) : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32> {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<4x4xf32>, %c: tensor<?x4xf32>):
    %y = chain.dense %a, %b : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %z = chain.add %y, %a : tensor<?x4xf32>
    chain.yield %z : tensor<?x4xf32>
  }
  return
}

// -----

func.func @fused_argument_types(%x: tensor<?x4xf32>, %w: tensor<4x4xf32>, %r: tensor<?x4xf32>) {
  // expected-error @+1 {{'chain.fused' op body argument #2 has type 'tensor<?x8xf32>', input #2 has type 'tensor<?x4xf32>'}}
  %s = chain.fused gemm_add(%x, %w, %r) : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32> {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<4x4xf32>, %c: tensor<?x8xf32>):
    %y = chain.dense %a, %b : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    chain.yield %y : tensor<?x4xf32>
  }
  return
}

// -----

func.func @fused_product_inputs(%x: tensor<?x4xf32>, %w: tensor<4x4xf32>, %r: tensor<?x4xf32>) {
  // expected-error @+1 {{'chain.fused' op gemm_add's product must take inputs #0 and #1}}
  %s = chain.fused gemm_add(%x, %w, %r) : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32> {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<4x4xf32>, %c: tensor<?x4xf32>):
    %y = chain.dense %x, %b : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %z = chain.add %y, %c : tensor<?x4xf32>
    chain.yield %z : tensor<?x4xf32>
  }
  return
}

// -----

func.func @fused_swiglu_gate(%x: tensor<?x4xf32>, %w: tensor<4x4xf32>, %g: tensor<?x4xf32>) {
  // expected-error @+1 {{'chain.fused' op gemm_swiglu's chain.swiglu must take input #2 as the gate and the product as up}}
  %s = chain.fused gemm_swiglu(%x, %w, %g) : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32> {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<4x4xf32>, %c: tensor<?x4xf32>):
    %u = chain.dense %a, %b : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %y = chain.swiglu %u, %c : tensor<?x4xf32>
    chain.yield %y : tensor<?x4xf32>
  }
  return
}

// -----

func.func @fused_swiglu_yield(%x: tensor<?x4xf32>, %w: tensor<4x4xf32>, %g: tensor<?x4xf32>) {
  // expected-error @+1 {{'chain.fused' op gemm_swiglu must yield the SwiGLU, and may yield the product after it}}
  %s:2 = chain.fused gemm_swiglu(%x, %w, %g) : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<4x4xf32>, %c: tensor<?x4xf32>):
    %u = chain.dense %a, %b : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %y = chain.swiglu %c, %u : tensor<?x4xf32>
    chain.yield %u, %y : tensor<?x4xf32>, tensor<?x4xf32>
  }
  return
}

// -----

func.func @fused_swiglu_grad_product(%x: tensor<?x4xf32>, %w: tensor<4x4xf32>, %g: tensor<?x4xf32>, %u: tensor<?x4xf32>) {
  // expected-error @+1 {{'chain.fused' op gemm_swiglu_grad must hold chain.linear_grad_x or chain.dense_grad_x, then chain.swiglu_grad}}
  %s:2 = chain.fused gemm_swiglu_grad(%x, %w, %g, %u) : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<4x4xf32>, %c: tensor<?x4xf32>, %d: tensor<?x4xf32>):
    %dh = chain.dense %a, %b : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %dg, %du = chain.swiglu_grad %c, %d, %dh : tensor<?x4xf32>
    chain.yield %dg, %du : tensor<?x4xf32>, tensor<?x4xf32>
  }
  return
}

// -----

func.func @fused_swiglu_grad_operands(%x: tensor<?x4xf32>, %w: tensor<4x4xf32>, %g: tensor<?x4xf32>, %u: tensor<?x4xf32>) {
  // expected-error @+1 {{'chain.fused' op gemm_swiglu_grad's chain.swiglu_grad must take inputs #2 and #3 as gate and up and the product as dy}}
  %s:2 = chain.fused gemm_swiglu_grad(%x, %w, %g, %u) : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<4x4xf32>, %c: tensor<?x4xf32>, %d: tensor<?x4xf32>):
    %dh = chain.dense_grad_x %a, %b : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %dg, %du = chain.swiglu_grad %d, %c, %dh : tensor<?x4xf32>
    chain.yield %dg, %du : tensor<?x4xf32>, tensor<?x4xf32>
  }
  return
}

// -----

func.func @grouped_one(%x: tensor<?x4xf32>, %w: tensor<4x4xf32>) {
  // expected-error @+1 {{'chain.fused' op grouped_gemm takes the shared input and 2 to 4 weights (then the positions of its RoPE, if any), holds one product per weight, a chain.rope of some of them and the yield, and yields the products}}
  %s = chain.fused grouped_gemm(%x, %w) : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32> {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<4x4xf32>):
    %y = chain.dense %a, %b : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    chain.yield %y : tensor<?x4xf32>
  }
  return
}

// -----

func.func @grouped_gradient(%x: tensor<?x4xf32>, %w: tensor<4x4xf32>, %v: tensor<4x4xf32>) {
  // expected-error @+1 {{'chain.fused' op grouped_gemm takes the shared input and 2 to 4 weights (then the positions of its RoPE, if any), holds one product per weight, a chain.rope of some of them and the yield, and yields the products}}
  %s:2 = chain.fused grouped_gemm(%x, %w, %v) : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<4x4xf32>, %c: tensor<4x4xf32>):
    %y = chain.dense %a, %b : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %z = chain.dense_grad_x %a, %c : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    chain.yield %y, %z : tensor<?x4xf32>, tensor<?x4xf32>
  }
  return
}

// -----

func.func @grouped_operands(%x: tensor<?x4xf32>, %w: tensor<4x4xf32>, %v: tensor<4x4xf32>) {
  // expected-error @+1 {{'chain.fused' op grouped_gemm's product #1 must take input #0 and input #2}}
  %s:2 = chain.fused grouped_gemm(%x, %w, %v) : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<4x4xf32>, %c: tensor<4x4xf32>):
    %y = chain.dense %a, %b : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %z = chain.dense %a, %b : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    chain.yield %y, %z : tensor<?x4xf32>, tensor<?x4xf32>
  }
  return
}

// -----

func.func @grouped_yield_order(%x: tensor<?x4xf32>, %w: tensor<4x4xf32>, %v: tensor<4x4xf32>) {
  // expected-error @+1 {{'chain.fused' op grouped_gemm must yield its products (or their rotations) in order}}
  %s:2 = chain.fused grouped_gemm(%x, %w, %v) : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<4x4xf32>, %c: tensor<4x4xf32>):
    %y = chain.dense %a, %b : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %z = chain.dense %a, %c : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    chain.yield %z, %y : tensor<?x4xf32>, tensor<?x4xf32>
  }
  return
}

// -----

func.func @grouped_swiglu_order(%x: tensor<?x4xf32>, %w: tensor<4x4xf32>, %v: tensor<4x4xf32>) {
  // expected-error @+1 {{'chain.fused' op grouped_gemm_swiglu's chain.swiglu must take the first product as the gate and the second as up}}
  %s:2 = chain.fused grouped_gemm_swiglu(%x, %w, %v) : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<4x4xf32>, %c: tensor<4x4xf32>):
    %g = chain.dense %a, %b : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %u = chain.dense %a, %c : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %y = chain.swiglu %u, %g : tensor<?x4xf32>
    chain.yield %y, %g : tensor<?x4xf32>, tensor<?x4xf32>
  }
  return
}

// -----

func.func @grouped_swiglu_yield(%x: tensor<?x4xf32>, %w: tensor<4x4xf32>, %v: tensor<4x4xf32>) {
  // expected-error @+1 {{'chain.fused' op grouped_gemm_swiglu must yield the SwiGLU and the gate, and may yield up after them}}
  %s:2 = chain.fused grouped_gemm_swiglu(%x, %w, %v) : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<4x4xf32>, %c: tensor<4x4xf32>):
    %g = chain.dense %a, %b : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %u = chain.dense %a, %c : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %y = chain.swiglu %g, %u : tensor<?x4xf32>
    chain.yield %y, %u : tensor<?x4xf32>, tensor<?x4xf32>
  }
  return
}

// -----

func.func @grouped_rope_inverse(%x: tensor<?x4xf32>, %w: tensor<4x4xf32>, %v: tensor<4x4xf32>) {
  // expected-error @+1 {{'chain.fused' op grouped_gemm's chain.rope must rotate (not inversely) one product each, at the last input's positions or at none}}
  %s:2 = chain.fused grouped_gemm(%x, %w, %v) : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<4x4xf32>, %c: tensor<4x4xf32>):
    %y = chain.dense %a, %b : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %z = chain.dense %a, %c : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
    %r = chain.rope %y {head_dim = 4 : i64, inverse} : tensor<?x4xf32>
    chain.yield %r, %z : tensor<?x4xf32>, tensor<?x4xf32>
  }
  return
}
