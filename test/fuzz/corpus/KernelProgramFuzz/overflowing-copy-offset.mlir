

kernel.program @decode target "cpu" sizes {sequences = 1 : i64}
    variables ["tokens", "past"] max [64, 512] arena 43136 {
  // CHECK: kernel.def @g symbol "colm_g" #kernel.gemm<use = forward, m = -1, n = 64, k = 64, a_transposed = false, b_transposed = true, accumulate = false, addend = true, swiglu = none, bf16 = true, b_bf16 = true, blocks = [n 0:32 k 0:32 m 0:?, n 32:64 k 0:64 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
  kernel.def @g symbol "colm_g" #kernel.gemm<use = forward, m = -1, n = 64, k = 64, a_transposed = false, b_transposed = true, accumulate = false, addend = true, swiglu = none, bf16 = true, b_bf16 = true, blocks = [n 0:32 k 0:32 m 0:?, n 32:64 k 0:64 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
  // CHECK: kernel.def @n symbol "colm_n" #kernel.norm<width = 64, group_bounds = [0, 32, 64], eps = 1.0e-05, backward = true, dgain_begin = 32>
  kernel.def @n symbol "colm_n" #kernel.norm<width = 64, group_bounds = [0, 32, 64], eps = 1.0e-05, backward = true, dgain_begin = 32>
  // CHECK: kernel.def @r symbol "colm_r" #kernel.rope<width = 64, head_dim = 16, theta = 5.0e+05, inverse = true>
  kernel.def @r symbol "colm_r" #kernel.rope<width = 64, head_dim = 16, theta = 500000.0, inverse = true>
  // CHECK: kernel.def @s symbol "colm_s" #kernel.swiglu<width = 96, backward = false>
  kernel.def @s symbol "colm_s" #kernel.swiglu<width = 96, backward = false>
  // CHECK: kernel.def @a symbol "colm_a" #kernel.attention<pass = backward, heads = 4, kv_heads = 2, head_dim = 16, mapping = grouped, causal = true, block_q = 32, block_k = 64>
  kernel.def @a symbol "colm_a" #kernel.attention<pass = backward, heads = 4, kv_heads = 2, head_dim = 16, mapping = grouped, causal = true, block_q = 32, block_k = 64>
  // CHECK: kernel.def @x symbol "colm_x" #kernel.cross_entropy<phase = vocab, vocab = 256, width = 64, dw_begin = 32, chunk_rows = 32, accumulate = true, gradients = true>
  kernel.def @x symbol "colm_x" #kernel.cross_entropy<phase = vocab, vocab = 256, width = 64, dw_begin = 32, chunk_rows = 32, accumulate = true, gradients = true>
  // CHECK: kernel.def @e symbol "colm_e" #kernel.embed<vocab = 256, width = 64, backward = true, d_begin = 16>
  kernel.def @e symbol "colm_e" #kernel.embed<vocab = 256, width = 64, backward = true, d_begin = 16>
  // CHECK: kernel.def @m symbol "colm_m" #kernel.elementwise<op = mul, width = 7>
  kernel.def @m symbol "colm_m" #kernel.elementwise<op = mul, width = 7>
  // CHECK: kernel.def @c symbol "colm_c" #kernel.copy<width = 32, src_stride = 32, dst_stride = 64, dst_offset = 32, zero_rest = true>
  kernel.def @c symbol "colm_c" #kernel.copy<width = 32, src_stride = 32, dst_stride = 64, dst_offset = 9223372036854775807, zero_rest = true>
  // Weights print as the shortest decimal that reads back exactly.
  // CHECK: kernel.def @w symbol "colm_w" #kernel.weighted_sum<weights = [0.1, 0.3333333333333333, 2.0]>
  kernel.def @w symbol "colm_w" #kernel.weighted_sum<weights = [0.1, 0.333333333333333314829616256247, 2.0]>

  // CHECK: kernel.buffer @tokens input i32 [v0]
  kernel.buffer @tokens input i32 [v0]
  // CHECK: kernel.buffer @w.q param bf16 [64, 64]
  kernel.buffer @w.q param bf16 [64, 64]
  // CHECK: kernel.buffer @h temporary f32 [v0, 64] at 0
  kernel.buffer @h temporary f32 [v0, 64] at 0
  // CHECK: kernel.buffer @h_c1 temporary f32 [v0] view @h [0]
  kernel.buffer @h_c1 temporary f32 [v0] view @h [0]
  // CHECK: kernel.buffer @cache output f32 [2 * v0 + 3 * v1 + 1, 4] at 16384
  kernel.buffer @cache output f32 [1 + 3 * v1 + v0 + v0, 4] at 16384
  // CHECK: kernel.buffer @loss output f64 [] at 43072
  kernel.buffer @loss output f64 [] at 43072

  // CHECK: kernel.launch @g (0 = @h[0], 8 = @w.q[0], 16 = @h[64 * v0], 24 = null, 32 = int v0 + 5, 40 = float -0.5) bytes 48 label "q_proj linear" flops 1.5e+09
  kernel.launch @g (0 = @h[0], 8 = @w.q[0], 16 = @h[64 * v0], 24 = null, 32 = int 5 + v0, 40 = float -0.5) bytes 48 label "q_proj linear" flops 1.5e+09
  // CHECK: kernel.launch () bytes 0 zero [@cache, @loss] label "zero" flops 0.0
  kernel.launch () bytes 0 zero [@cache, @loss] label "zero" flops 0.0
  // CHECK: kernel.launch @w (0 = @loss[0]) bytes 8 label "" flops 0.0
  kernel.launch @w (0 = @loss[0]) bytes 8 label "" flops 0.0
}
