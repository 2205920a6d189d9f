module {
  kernel.program @forward target "cpu" sizes {sequence_length = 12 : i64, sequences = 1 : i64} variables [] max [] arena 15360 {
    kernel.def @embed_fwd_v64_w64 symbol "colm_embed_fwd_v64_w64" #kernel.embed<vocab = 64, width = 64, backward = false, d_begin = 0>
    kernel.def @norm_fwd_w64_g2_33fa symbol "colm_norm_fwd_w64_g2_33fa" #kernel.norm<width = 64, group_bounds = [0, 32, 64], eps = 1.0e-05, backward = false, dgain_begin = 0>
    kernel.def @copy_w32_s64_d32_o0 symbol "colm_copy_w32_s64_d32_o0" #kernel.copy<width = 32, src_stride = 64, dst_stride = 32, dst_offset = 0, zero_rest = false>
    kernel.def @gemm_fwd_md_n64_k64_b2_12x32_kc256_mc96_1f0a symbol "colm_gemm_fwd_md_n64_k64_b2_12x32_kc256_mc96_1f0a" #kernel.gemm<use = forward, m = -1, n = 64, k = 64, a_transposed = false, b_transposed = true, accumulate = false, addend = false, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:32 k 0:32 m 0:?, n 32:64 k 0:64 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @gemm_fwd_md_n32_k32_b1_12x32_kc256_mc96_40f2 symbol "colm_gemm_fwd_md_n32_k32_b1_12x32_kc256_mc96_40f2" #kernel.gemm<use = forward, m = -1, n = 32, k = 32, a_transposed = false, b_transposed = true, accumulate = false, addend = false, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:32 k 0:32 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @rope_fwd_w64_hd16_4f90 symbol "colm_rope_fwd_w64_hd16_4f90" #kernel.rope<width = 64, head_dim = 16, theta = 1.0e+04, inverse = false>
    kernel.def @rope_fwd_w32_hd16_4f90 symbol "colm_rope_fwd_w32_hd16_4f90" #kernel.rope<width = 32, head_dim = 16, theta = 1.0e+04, inverse = false>
    kernel.def @attn_fwd_h4_kv2_hd16_tiled_causal_q64_k128 symbol "colm_attn_fwd_h4_kv2_hd16_tiled_causal_q64_k128" #kernel.attention<pass = forward, heads = 4, kv_heads = 2, head_dim = 16, mapping = tiled, causal = true, block_q = 64, block_k = 128>
    kernel.def @gemm_fwd_add_md_n64_k64_b2_12x32_kc256_mc96_7d45 symbol "colm_gemm_fwd_add_md_n64_k64_b2_12x32_kc256_mc96_7d45" #kernel.gemm<use = forward, m = -1, n = 64, k = 64, a_transposed = false, b_transposed = true, accumulate = false, addend = true, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:32 k 0:32 m 0:?, n 32:64 k 0:64 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @gemm_fwd_md_n96_k64_b2_12x32_kc256_mc96_218a symbol "colm_gemm_fwd_md_n96_k64_b2_12x32_kc256_mc96_218a" #kernel.gemm<use = forward, m = -1, n = 96, k = 64, a_transposed = false, b_transposed = true, accumulate = false, addend = false, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:48 k 0:32 m 0:?, n 48:96 k 0:64 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @gemm_fwd_swiglu_md_n96_k64_b2_12x32_kc256_mc96_b55c symbol "colm_gemm_fwd_swiglu_md_n96_k64_b2_12x32_kc256_mc96_b55c" #kernel.gemm<use = forward, m = -1, n = 96, k = 64, a_transposed = false, b_transposed = true, accumulate = false, addend = false, swiglu = forward, bf16 = false, b_bf16 = false, blocks = [n 0:48 k 0:32 m 0:?, n 48:96 k 0:64 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @gemm_fwd_add_md_n64_k96_b2_12x32_kc256_mc96_3315 symbol "colm_gemm_fwd_add_md_n64_k96_b2_12x32_kc256_mc96_3315" #kernel.gemm<use = forward, m = -1, n = 64, k = 96, a_transposed = false, b_transposed = true, accumulate = false, addend = true, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:32 k 0:48 m 0:?, n 32:64 k 0:96 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @gemm_dense_md_n64_k64_b1_12x32_kc256_mc96_a472 symbol "colm_gemm_dense_md_n64_k64_b1_12x32_kc256_mc96_a472" #kernel.gemm<use = dense, m = -1, n = 64, k = 64, a_transposed = false, b_transposed = true, accumulate = false, addend = false, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:64 k 0:64 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.buffer @arg0 input i32 [12]
    kernel.buffer @model.embed_tokens.weight param f32 [64, 64]
    kernel.buffer @"%0" temporary f32 [12, 64] at 0
    kernel.buffer @model.layers.0.input_layernorm.weight param f32 [64]
    kernel.buffer @"%1" temporary f32 [12, 64] at 3072
    kernel.buffer @"%2" temporary f32 [12, 32] at 9216
    kernel.buffer @model.layers.0.self_attn.q_proj.weight param f32 [64, 64]
    kernel.buffer @"%3" temporary f32 [12, 64] at 6144
    kernel.buffer @model.layers.0.self_attn.k_proj.weight param f32 [32, 32]
    kernel.buffer @"%4" temporary f32 [12, 32] at 10752
    kernel.buffer @model.layers.0.self_attn.v_proj.weight param f32 [32, 32]
    kernel.buffer @"%5" temporary f32 [12, 32] at 12288
    kernel.buffer @positions input i32 [12]
    kernel.buffer @"%6" temporary f32 [12, 64] at 3072
    kernel.buffer @"%7" temporary f32 [12, 32] at 9216
    kernel.buffer @"%8" temporary f32 [12, 64] at 6144
    kernel.buffer @lse.9 temporary f32 [1, 4, 12] at 10752
    kernel.buffer @model.layers.0.self_attn.o_proj.weight param f32 [64, 64]
    kernel.buffer @"%10" temporary f32 [12, 64] at 9216
    kernel.buffer @model.layers.0.post_attention_layernorm.weight param f32 [64]
    kernel.buffer @"%11" temporary f32 [12, 64] at 12288
    kernel.buffer @model.layers.0.mlp.gate_proj.weight param f32 [96, 64]
    kernel.buffer @"%12" temporary f32 [12, 96] at 0
    kernel.buffer @model.layers.0.mlp.up_proj.weight param f32 [96, 64]
    kernel.buffer @"%13" temporary f32 [12, 96] at 4608
    kernel.buffer @model.layers.0.mlp.down_proj.weight param f32 [64, 96]
    kernel.buffer @"%14" temporary f32 [12, 64] at 0
    kernel.buffer @model.layers.1.input_layernorm.weight param f32 [64]
    kernel.buffer @"%15" temporary f32 [12, 64] at 3072
    kernel.buffer @"%16" temporary f32 [12, 32] at 9216
    kernel.buffer @model.layers.1.self_attn.q_proj.weight param f32 [64, 64]
    kernel.buffer @"%17" temporary f32 [12, 64] at 6144
    kernel.buffer @model.layers.1.self_attn.k_proj.weight param f32 [32, 32]
    kernel.buffer @"%18" temporary f32 [12, 32] at 10752
    kernel.buffer @model.layers.1.self_attn.v_proj.weight param f32 [32, 32]
    kernel.buffer @"%19" temporary f32 [12, 32] at 12288
    kernel.buffer @"%20" temporary f32 [12, 64] at 3072
    kernel.buffer @"%21" temporary f32 [12, 32] at 9216
    kernel.buffer @"%22" temporary f32 [12, 64] at 6144
    kernel.buffer @lse.23 temporary f32 [1, 4, 12] at 10752
    kernel.buffer @model.layers.1.self_attn.o_proj.weight param f32 [64, 64]
    kernel.buffer @"%24" temporary f32 [12, 64] at 9216
    kernel.buffer @model.layers.1.post_attention_layernorm.weight param f32 [64]
    kernel.buffer @"%25" temporary f32 [12, 64] at 12288
    kernel.buffer @model.layers.1.mlp.gate_proj.weight param f32 [96, 64]
    kernel.buffer @"%26" temporary f32 [12, 96] at 0
    kernel.buffer @model.layers.1.mlp.up_proj.weight param f32 [96, 64]
    kernel.buffer @"%27" temporary f32 [12, 96] at 4608
    kernel.buffer @model.layers.1.mlp.down_proj.weight param f32 [64, 96]
    kernel.buffer @"%28" temporary f32 [12, 64] at 0
    kernel.buffer @model.norm.weight param f32 [64]
    kernel.buffer @"%29" temporary f32 [12, 64] at 3072
    kernel.buffer @lm_head.weight param f32 [64, 64]
    kernel.buffer @result0 output f32 [12, 64] at 0
    kernel.launch @embed_fwd_v64_w64 (0 = @model.embed_tokens.weight[0], 8 = @arg0[0], 24 = @"%0"[0], 40 = int 12) bytes 48 label "model.embed_tokens.weight embed" flops 0.0
    kernel.launch @norm_fwd_w64_g2_33fa (0 = @"%0"[0], 8 = @model.layers.0.input_layernorm.weight[0], 24 = @"%1"[0], 48 = int 12) bytes 56 label "model.layers.0.input_layernorm.weight norm" flops 0.0
    kernel.launch @copy_w32_s64_d32_o0 (0 = @"%1"[0], 8 = @"%2"[0], 16 = int 12) bytes 24 label "l0.a_c1 prefix" flops 0.0
    kernel.launch @gemm_fwd_md_n64_k64_b2_12x32_kc256_mc96_1f0a (0 = @"%1"[0], 8 = @model.layers.0.self_attn.q_proj.weight[0], 16 = @"%3"[0], 24 = int 12, 32 = int 64, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 64) bytes 120 label "model.layers.0.self_attn.q_proj.weight linear" flops 73728.0
    kernel.launch @gemm_fwd_md_n32_k32_b1_12x32_kc256_mc96_40f2 (0 = @"%2"[0], 8 = @model.layers.0.self_attn.k_proj.weight[0], 16 = @"%4"[0], 24 = int 12, 32 = int 32, 40 = int 32, 48 = int 32, 56 = int 32, 64 = int 32) bytes 120 label "model.layers.0.self_attn.k_proj.weight dense" flops 24576.0
    kernel.launch @gemm_fwd_md_n32_k32_b1_12x32_kc256_mc96_40f2 (0 = @"%2"[0], 8 = @model.layers.0.self_attn.v_proj.weight[0], 16 = @"%5"[0], 24 = int 12, 32 = int 32, 40 = int 32, 48 = int 32, 56 = int 32, 64 = int 32) bytes 120 label "model.layers.0.self_attn.v_proj.weight dense" flops 24576.0
    kernel.launch @rope_fwd_w64_hd16_4f90 (0 = @"%3"[0], 8 = @positions[0], 16 = @"%6"[0], 24 = int 12) bytes 32 label "l0.q_rope rope" flops 0.0
    kernel.launch @rope_fwd_w32_hd16_4f90 (0 = @"%4"[0], 8 = @positions[0], 16 = @"%7"[0], 24 = int 12) bytes 32 label "l0.k_rope rope" flops 0.0
    kernel.launch @attn_fwd_h4_kv2_hd16_tiled_causal_q64_k128 (0 = @"%6"[0], 8 = @"%7"[0], 16 = @"%5"[0], 24 = @"%8"[0], 32 = @lse.9[0], 40 = int 12, 48 = int 12, 56 = int 64, 64 = int 32) bytes 72 label "l0.attn attention" flops 19968.0
    kernel.launch @gemm_fwd_add_md_n64_k64_b2_12x32_kc256_mc96_7d45 (0 = @"%8"[0], 8 = @model.layers.0.self_attn.o_proj.weight[0], 16 = @"%10"[0], 24 = int 12, 32 = int 64, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 64, 72 = @"%0"[0], 80 = int 64) bytes 120 label "model.layers.0.self_attn.o_proj.weight linear+add" flops 73728.0
    kernel.launch @norm_fwd_w64_g2_33fa (0 = @"%10"[0], 8 = @model.layers.0.post_attention_layernorm.weight[0], 24 = @"%11"[0], 48 = int 12) bytes 56 label "model.layers.0.post_attention_layernorm.weight norm" flops 0.0
    kernel.launch @gemm_fwd_md_n96_k64_b2_12x32_kc256_mc96_218a (0 = @"%11"[0], 8 = @model.layers.0.mlp.gate_proj.weight[0], 16 = @"%12"[0], 24 = int 12, 32 = int 96, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 96) bytes 120 label "model.layers.0.mlp.gate_proj.weight linear" flops 110592.0
    kernel.launch @gemm_fwd_swiglu_md_n96_k64_b2_12x32_kc256_mc96_b55c (0 = @"%11"[0], 8 = @model.layers.0.mlp.up_proj.weight[0], 16 = @"%13"[0], 24 = int 12, 32 = int 96, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 96, 88 = @"%12"[0], 112 = int 96) bytes 120 label "model.layers.0.mlp.up_proj.weight linear+swiglu" flops 110592.0
    kernel.launch @gemm_fwd_add_md_n64_k96_b2_12x32_kc256_mc96_3315 (0 = @"%13"[0], 8 = @model.layers.0.mlp.down_proj.weight[0], 16 = @"%14"[0], 24 = int 12, 32 = int 64, 40 = int 96, 48 = int 96, 56 = int 96, 64 = int 64, 72 = @"%10"[0], 80 = int 64) bytes 120 label "model.layers.0.mlp.down_proj.weight linear+add" flops 110592.0
    kernel.launch @norm_fwd_w64_g2_33fa (0 = @"%14"[0], 8 = @model.layers.1.input_layernorm.weight[0], 24 = @"%15"[0], 48 = int 12) bytes 56 label "model.layers.1.input_layernorm.weight norm" flops 0.0
    kernel.launch @copy_w32_s64_d32_o0 (0 = @"%15"[0], 8 = @"%16"[0], 16 = int 12) bytes 24 label "l1.a_c1 prefix" flops 0.0
    kernel.launch @gemm_fwd_md_n64_k64_b2_12x32_kc256_mc96_1f0a (0 = @"%15"[0], 8 = @model.layers.1.self_attn.q_proj.weight[0], 16 = @"%17"[0], 24 = int 12, 32 = int 64, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 64) bytes 120 label "model.layers.1.self_attn.q_proj.weight linear" flops 73728.0
    kernel.launch @gemm_fwd_md_n32_k32_b1_12x32_kc256_mc96_40f2 (0 = @"%16"[0], 8 = @model.layers.1.self_attn.k_proj.weight[0], 16 = @"%18"[0], 24 = int 12, 32 = int 32, 40 = int 32, 48 = int 32, 56 = int 32, 64 = int 32) bytes 120 label "model.layers.1.self_attn.k_proj.weight dense" flops 24576.0
    kernel.launch @gemm_fwd_md_n32_k32_b1_12x32_kc256_mc96_40f2 (0 = @"%16"[0], 8 = @model.layers.1.self_attn.v_proj.weight[0], 16 = @"%19"[0], 24 = int 12, 32 = int 32, 40 = int 32, 48 = int 32, 56 = int 32, 64 = int 32) bytes 120 label "model.layers.1.self_attn.v_proj.weight dense" flops 24576.0
    kernel.launch @rope_fwd_w64_hd16_4f90 (0 = @"%17"[0], 8 = @positions[0], 16 = @"%20"[0], 24 = int 12) bytes 32 label "l1.q_rope rope" flops 0.0
    kernel.launch @rope_fwd_w32_hd16_4f90 (0 = @"%18"[0], 8 = @positions[0], 16 = @"%21"[0], 24 = int 12) bytes 32 label "l1.k_rope rope" flops 0.0
    kernel.launch @attn_fwd_h4_kv2_hd16_tiled_causal_q64_k128 (0 = @"%20"[0], 8 = @"%21"[0], 16 = @"%19"[0], 24 = @"%22"[0], 32 = @lse.23[0], 40 = int 12, 48 = int 12, 56 = int 64, 64 = int 32) bytes 72 label "l1.attn attention" flops 19968.0
    kernel.launch @gemm_fwd_add_md_n64_k64_b2_12x32_kc256_mc96_7d45 (0 = @"%22"[0], 8 = @model.layers.1.self_attn.o_proj.weight[0], 16 = @"%24"[0], 24 = int 12, 32 = int 64, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 64, 72 = @"%14"[0], 80 = int 64) bytes 120 label "model.layers.1.self_attn.o_proj.weight linear+add" flops 73728.0
    kernel.launch @norm_fwd_w64_g2_33fa (0 = @"%24"[0], 8 = @model.layers.1.post_attention_layernorm.weight[0], 24 = @"%25"[0], 48 = int 12) bytes 56 label "model.layers.1.post_attention_layernorm.weight norm" flops 0.0
    kernel.launch @gemm_fwd_md_n96_k64_b2_12x32_kc256_mc96_218a (0 = @"%25"[0], 8 = @model.layers.1.mlp.gate_proj.weight[0], 16 = @"%26"[0], 24 = int 12, 32 = int 96, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 96) bytes 120 label "model.layers.1.mlp.gate_proj.weight linear" flops 110592.0
    kernel.launch @gemm_fwd_swiglu_md_n96_k64_b2_12x32_kc256_mc96_b55c (0 = @"%25"[0], 8 = @model.layers.1.mlp.up_proj.weight[0], 16 = @"%27"[0], 24 = int 12, 32 = int 96, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 96, 88 = @"%26"[0], 112 = int 96) bytes 120 label "model.layers.1.mlp.up_proj.weight linear+swiglu" flops 110592.0
    kernel.launch @gemm_fwd_add_md_n64_k96_b2_12x32_kc256_mc96_3315 (0 = @"%27"[0], 8 = @model.layers.1.mlp.down_proj.weight[0], 16 = @"%28"[0], 24 = int 12, 32 = int 64, 40 = int 96, 48 = int 96, 56 = int 96, 64 = int 64, 72 = @"%24"[0], 80 = int 64) bytes 120 label "model.layers.1.mlp.down_proj.weight linear+add" flops 110592.0
    kernel.launch @norm_fwd_w64_g2_33fa (0 = @"%28"[0], 8 = @model.norm.weight[0], 24 = @"%29"[0], 48 = int 12) bytes 56 label "model.norm.weight norm" flops 0.0
    kernel.launch @gemm_dense_md_n64_k64_b1_12x32_kc256_mc96_a472 (0 = @"%29"[0], 8 = @lm_head.weight[0], 16 = @result0[0], 24 = int 12, 32 = int 64, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 64) bytes 120 label "lm_head.weight lm_head" flops 98304.0
  }
}
