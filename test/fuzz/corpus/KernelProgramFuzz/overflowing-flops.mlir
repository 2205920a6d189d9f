module {
  kernel.program @forward target "cpu" sizes {sequence_length = 4 : i64, sequences = 1 : i64} variables [] max [] arena 4160 {
    kernel.def @embed_fwd_v64_w64 symbol "colm_embed_fwd_v64_w64" #kernel.embed<vocab = 64, width = 64, backward = false, d_begin = 0>
    kernel.def @gemm_fwd_norm_rope_g3_md_n128_k64_b6_12x32_kc256_mc96_90e3 symbol "colm_gemm_fwd_norm_rope_g3_md_n128_k64_b6_12x32_kc256_mc96_90e3" #kernel.gemm<use = forward, m = -1, n = 128, k = 64, a_transposed = false, b_transposed = true, accumulate = false, addend = false, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:32 k 0:32 m 0:?, n 32:64 k 0:64 m 0:?, n 64:80 k 0:32 m 0:?, n 80:96 k 0:64 m 0:?, n 96:112 k 0:32 m 0:?, n 112:128 k 0:64 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96, groups = [64, 32, 32], norm = [0, 32, 64], norm_eps = 1.0e-05, rope = [0, 1], rope_head_dim = 16, rope_theta = 1.0e+04>
    kernel.def @attn_fwd_h4_kv2_hd16_grouped_causal_q64_k128 symbol "colm_attn_fwd_h4_kv2_hd16_grouped_causal_q64_k128" #kernel.attention<pass = forward, heads = 4, kv_heads = 2, head_dim = 16, mapping = grouped, causal = true, block_q = 64, block_k = 128>
    kernel.def @gemm_fwd_add_md_n64_k64_b2_12x32_kc256_mc96_9c45 symbol "colm_gemm_fwd_add_md_n64_k64_b2_12x32_kc256_mc96_9c45" #kernel.gemm<use = forward, m = -1, n = 64, k = 64, a_transposed = false, b_transposed = true, accumulate = false, addend = true, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:32 k 0:32 m 0:?, n 32:64 k 0:64 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @gemm_fwd_norm_g2_swiglu_md_n192_k64_b4_12x32_kc256_mc96_3181 symbol "colm_gemm_fwd_norm_g2_swiglu_md_n192_k64_b4_12x32_kc256_mc96_3181" #kernel.gemm<use = forward, m = -1, n = 192, k = 64, a_transposed = false, b_transposed = true, accumulate = false, addend = false, swiglu = forward, bf16 = false, b_bf16 = false, blocks = [n 0:48 k 0:32 m 0:?, n 48:96 k 0:64 m 0:?, n 96:144 k 0:32 m 0:?, n 144:192 k 0:64 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96, groups = [96, 96], norm = [0, 32, 64], norm_eps = 1.0e-05>
    kernel.def @gemm_fwd_add_md_n64_k96_b2_12x32_kc256_mc96_8fd5 symbol "colm_gemm_fwd_add_md_n64_k96_b2_12x32_kc256_mc96_8fd5" #kernel.gemm<use = forward, m = -1, n = 64, k = 96, a_transposed = false, b_transposed = true, accumulate = false, addend = true, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:32 k 0:48 m 0:?, n 32:64 k 0:96 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @norm_fwd_w64_g2_33fa symbol "colm_norm_fwd_w64_g2_33fa" #kernel.norm<width = 64, group_bounds = [0, 32, 64], eps = 1.0e-05, backward = false, dgain_begin = 0>
    kernel.def @gemm_dense_md_n64_k64_b1_12x32_kc256_mc96_c5d2 symbol "colm_gemm_dense_md_n64_k64_b1_12x32_kc256_mc96_c5d2" #kernel.gemm<use = dense, m = -1, n = 64, k = 64, a_transposed = false, b_transposed = true, accumulate = false, addend = false, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:64 k 0:64 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.buffer @arg0 input i32 [4]
    kernel.buffer @model.embed_tokens.weight param f32 [64, 64]
    kernel.buffer @"%0" temporary f32 [4, 64] at 0
    kernel.buffer @model.layers.0.input_layernorm.weight param f32 [64]
    kernel.buffer @model.layers.0.self_attn.q_proj.weight param f32 [64, 64]
    kernel.buffer @model.layers.0.self_attn.k_proj.weight param f32 [32, 64]
    kernel.buffer @model.layers.0.self_attn.v_proj.weight param f32 [32, 64]
    kernel.buffer @"%1" temporary f32 [4, 64] at 1024
    kernel.buffer @"%2" temporary f32 [4, 32] at 3072
    kernel.buffer @"%3" temporary f32 [4, 32] at 3584
    kernel.buffer @positions input i32 [4]
    kernel.buffer @"%4" temporary f32 [4, 64] at 2048
    kernel.buffer @lse.5 temporary f32 [1, 4, 4] at 4096
    kernel.buffer @model.layers.0.self_attn.o_proj.weight param f32 [64, 64]
    kernel.buffer @"%6" temporary f32 [4, 64] at 3072
    kernel.buffer @model.layers.0.post_attention_layernorm.weight param f32 [64]
    kernel.buffer @model.layers.0.mlp.gate_proj.weight param f32 [96, 64]
    kernel.buffer @model.layers.0.mlp.up_proj.weight param f32 [96, 64]
    kernel.buffer @"%7" temporary f32 [4, 96] at 0
    kernel.buffer @"%8" temporary f32 [4, 96] at 1536
    kernel.buffer @model.layers.0.mlp.down_proj.weight param f32 [64, 96]
    kernel.buffer @"%9" temporary f32 [4, 64] at 0
    kernel.buffer @model.norm.weight param f32 [64]
    kernel.buffer @"%10" temporary f32 [4, 64] at 1024
    kernel.buffer @lm_head.weight param f32 [64, 64]
    kernel.buffer @result0 output f32 [4, 64] at 0
    kernel.launch @embed_fwd_v64_w64 (0 = @model.embed_tokens.weight[0], 8 = @arg0[0], 24 = @"%0"[0], 40 = int 4) bytes 48 label "model.embed_tokens.weight embed" flops 0.0
    kernel.launch @gemm_fwd_norm_rope_g3_md_n128_k64_b6_12x32_kc256_mc96_90e3 (0 = @"%0"[0], 232 = @positions[0], 216 = @model.layers.0.input_layernorm.weight[0], 24 = int 4, 32 = int 128, 40 = int 64, 48 = int 64, 8 = @model.layers.0.self_attn.q_proj.weight[0], 16 = @"%1"[0], 56 = int 64, 64 = int 64, 120 = @model.layers.0.self_attn.k_proj.weight[0], 144 = @"%2"[0], 168 = int 64, 192 = int 32, 128 = @model.layers.0.self_attn.v_proj.weight[0], 152 = @"%3"[0], 176 = int 64, 200 = int 32) bytes 240 label "model.layers.0.input_layernorm.weight norm+model.layers.0.self_attn.q_proj.weight linear+model.layers.0.self_attn.k_proj.weight linear+model.layers.0.self_attn.v_proj.weight linear+rope" flops 49152.0
    kernel.launch @attn_fwd_h4_kv2_hd16_grouped_causal_q64_k128 (0 = @"%1"[0], 8 = @"%2"[0], 16 = @"%3"[0], 24 = @"%4"[0], 32 = @lse.5[0], 40 = int 4, 48 = int 4, 56 = int 64, 64 = int 32) bytes 72 label "l0.attn attention" flops 2.56e+9223372036854775807
    kernel.launch @gemm_fwd_add_md_n64_k64_b2_12x32_kc256_mc96_9c45 (0 = @"%4"[0], 8 = @model.layers.0.self_attn.o_proj.weight[0], 16 = @"%6"[0], 24 = int 4, 32 = int 64, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 64, 72 = @"%0"[0], 80 = int 64) bytes 240 label "model.layers.0.self_attn.o_proj.weight linear+add" flops 24576.0
    kernel.launch @gemm_fwd_norm_g2_swiglu_md_n192_k64_b4_12x32_kc256_mc96_3181 (0 = @"%6"[0], 216 = @model.layers.0.post_attention_layernorm.weight[0], 24 = int 4, 32 = int 192, 40 = int 64, 48 = int 64, 8 = @model.layers.0.mlp.gate_proj.weight[0], 16 = @"%7"[0], 56 = int 64, 64 = int 96, 120 = @model.layers.0.mlp.up_proj.weight[0], 144 = @"%8"[0], 168 = int 64, 192 = int 96, 88 = @"%7"[0], 112 = int 96) bytes 240 label "model.layers.0.post_attention_layernorm.weight norm+model.layers.0.mlp.gate_proj.weight linear+model.layers.0.mlp.up_proj.weight linear+swiglu" flops 73728.0
    kernel.launch @gemm_fwd_add_md_n64_k96_b2_12x32_kc256_mc96_8fd5 (0 = @"%8"[0], 8 = @model.layers.0.mlp.down_proj.weight[0], 16 = @"%9"[0], 24 = int 4, 32 = int 64, 40 = int 96, 48 = int 96, 56 = int 96, 64 = int 64, 72 = @"%6"[0], 80 = int 64) bytes 240 label "model.layers.0.mlp.down_proj.weight linear+add" flops 36864.0
    kernel.launch @norm_fwd_w64_g2_33fa (0 = @"%9"[0], 8 = @model.norm.weight[0], 24 = @"%10"[0], 48 = int 4) bytes 56 label "model.norm.weight norm" flops 0.0
    kernel.launch @gemm_dense_md_n64_k64_b1_12x32_kc256_mc96_c5d2 (0 = @"%10"[0], 8 = @lm_head.weight[0], 16 = @result0[0], 24 = int 4, 32 = int 64, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 64) bytes 240 label "lm_head.weight lm_head" flops 32768.0
  }
}
