// Inputs found by an adversarial hunt: each gives a clear error, no crash.
// RUN: colm-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{chain ratios sum to more than 1048576}}
func.func @ratio_overflow(%x: tensor<4x8xf32, #chain.layout<[9223372036854775807, 9223372036854775807, 2]>>) {
  return
}

// -----

func.func @rope_positions_rank0(%x: tensor<4x8xf32>, %p: tensor<i32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'chain.rope' op needs positions [T]: one per row}}
  %r = chain.rope %x at %p {head_dim = 2 : i64} : tensor<4x8xf32>, tensor<i32>
  return %r : tensor<4x8xf32>
}

// -----

func.func @dense_grad_x_rank0(%dy: tensor<4x8xf32>, %w: tensor<f32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'chain.dense_grad_x' op operand must have rank 2, got 'tensor<f32>'}}
  %r = chain.dense_grad_x %dy, %w : tensor<4x8xf32>, tensor<f32> -> tensor<4x8xf32>
  return %r : tensor<4x8xf32>
}

// -----

func.func @lm_head_chains_wrap(%x: tensor<4x8xf32, #chain.layout<[1,1]>>, %w: tensor<10x8xf32, #chain.layout<[1,1]>>) -> tensor<4x10xf32> {
  // expected-error @+1 {{'chain.lm_head' op uses 4294967297 chains but the input has only 2}}
  %r = chain.lm_head %x, %w chains 4294967297 : tensor<4x8xf32, #chain.layout<[1,1]>>, tensor<10x8xf32, #chain.layout<[1,1]>> -> tensor<4x10xf32>
  return %r : tensor<4x10xf32>
}

// -----

func.func @attention_too_many_heads(%q: tensor<1x4000000000xf32>) -> tensor<1x4000000000xf32> {
  // expected-error @+1 {{'chain.attention' op query and key widths must be static and at most 1048576 heads}}
  %o = chain.attention %q, %q, %q kv_mapping grouped {head_dim = 1 : i64} : tensor<1x4000000000xf32>, tensor<1x4000000000xf32>, tensor<1x4000000000xf32>
  return %o : tensor<1x4000000000xf32>
}
