module {
  kernel.program @train_step target "cpu" sizes {sequence_length = 4 : i64, sequences = 1 : i64} variables [] max [] arena 264576 {
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
    kernel.def @xent_rows_v64_d64_dw0_c32_acc1 symbol "colm_xent_rows_v64_d64_dw0_c32_acc1" #kernel.cross_entropy<phase = rows, vocab = 64, width = 64, dw_begin = 0, chunk_rows = 32, accumulate = true, gradients = true>
    kernel.def @xent_vocab_v64_d64_dw0_c32_acc1 symbol "colm_xent_vocab_v64_d64_dw0_c32_acc1" #kernel.cross_entropy<phase = vocab, vocab = 64, width = 64, dw_begin = 0, chunk_rows = 32, accumulate = true, gradients = true>
    kernel.def @wsum_n1_78fa symbol "colm_wsum_n1_78fa" #kernel.weighted_sum<weights = [1.0]>
    kernel.def @norm_bwd_w64_g2_33fa symbol "colm_norm_bwd_w64_g2_33fa" #kernel.norm<width = 64, group_bounds = [0, 32, 64], eps = 1.0e-05, backward = true, dgain_begin = 0>
    kernel.def @gemm_dw_m64_n96_kd_b2_12x32_kc256_mc96_71b2 symbol "colm_gemm_dw_m64_n96_kd_b2_12x32_kc256_mc96_71b2" #kernel.gemm<use = weight_grad, m = 64, n = 96, k = -1, a_transposed = true, b_transposed = false, accumulate = false, addend = false, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:48 k 0:? m 0:64, n 48:96 k 0:? m 32:64], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @gemm_dx_swiglu_grad_md_n96_k64_b2_12x32_kc256_mc96_5eda symbol "colm_gemm_dx_swiglu_grad_md_n96_k64_b2_12x32_kc256_mc96_5eda" #kernel.gemm<use = input_grad, m = -1, n = 96, k = 64, a_transposed = false, b_transposed = false, accumulate = false, addend = false, swiglu = backward, bf16 = false, b_bf16 = false, blocks = [n 0:48 k 0:64 m 0:?, n 48:96 k 32:64 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @gemm_dx_md_n64_k96_b2_12x32_kc256_mc96_a03b symbol "colm_gemm_dx_md_n64_k96_b2_12x32_kc256_mc96_a03b" #kernel.gemm<use = input_grad, m = -1, n = 64, k = 96, a_transposed = false, b_transposed = false, accumulate = false, addend = false, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:32 k 0:96 m 0:?, n 32:64 k 48:96 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @gemm_dw_m96_n64_kd_b2_12x32_kc256_mc96_7202 symbol "colm_gemm_dw_m96_n64_kd_b2_12x32_kc256_mc96_7202" #kernel.gemm<use = weight_grad, m = 96, n = 64, k = -1, a_transposed = true, b_transposed = false, accumulate = false, addend = false, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:32 k 0:? m 0:96, n 32:64 k 0:? m 48:96], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @gemm_dx_add_md_n64_k96_b2_12x32_kc256_mc96_2ac8 symbol "colm_gemm_dx_add_md_n64_k96_b2_12x32_kc256_mc96_2ac8" #kernel.gemm<use = input_grad, m = -1, n = 64, k = 96, a_transposed = false, b_transposed = false, accumulate = false, addend = true, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:32 k 0:96 m 0:?, n 32:64 k 48:96 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @add_w64 symbol "colm_add_w64" #kernel.elementwise<op = add, width = 64>
    kernel.def @gemm_dx_md_n64_k64_b2_12x32_kc256_mc96_fc0b symbol "colm_gemm_dx_md_n64_k64_b2_12x32_kc256_mc96_fc0b" #kernel.gemm<use = input_grad, m = -1, n = 64, k = 64, a_transposed = false, b_transposed = false, accumulate = false, addend = false, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:32 k 0:64 m 0:?, n 32:64 k 32:64 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @gemm_dw_m64_n64_kd_b2_12x32_kc256_mc96_31f2 symbol "colm_gemm_dw_m64_n64_kd_b2_12x32_kc256_mc96_31f2" #kernel.gemm<use = weight_grad, m = 64, n = 64, k = -1, a_transposed = true, b_transposed = false, accumulate = false, addend = false, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:32 k 0:? m 0:64, n 32:64 k 0:? m 32:64], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @attn_bwd_h4_kv2_hd16_tiled_causal_q64_k128 symbol "colm_attn_bwd_h4_kv2_hd16_tiled_causal_q64_k128" #kernel.attention<pass = backward, heads = 4, kv_heads = 2, head_dim = 16, mapping = tiled, causal = true, block_q = 64, block_k = 128>
    kernel.def @rope_inv_w32_hd16_4f90 symbol "colm_rope_inv_w32_hd16_4f90" #kernel.rope<width = 32, head_dim = 16, theta = 1.0e+04, inverse = true>
    kernel.def @rope_inv_w64_hd16_4f90 symbol "colm_rope_inv_w64_hd16_4f90" #kernel.rope<width = 64, head_dim = 16, theta = 1.0e+04, inverse = true>
    kernel.def @gemm_dx_md_n32_k32_b1_12x32_kc256_mc96_5933 symbol "colm_gemm_dx_md_n32_k32_b1_12x32_kc256_mc96_5933" #kernel.gemm<use = input_grad, m = -1, n = 32, k = 32, a_transposed = false, b_transposed = false, accumulate = false, addend = false, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:32 k 0:32 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @gemm_dw_m32_n32_kd_b1_12x32_kc256_mc96_28fa symbol "colm_gemm_dw_m32_n32_kd_b1_12x32_kc256_mc96_28fa" #kernel.gemm<use = weight_grad, m = 32, n = 32, k = -1, a_transposed = true, b_transposed = false, accumulate = false, addend = false, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:32 k 0:? m 0:32], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @gemm_dx_add_md_n32_k32_b1_12x32_kc256_mc96_2720 symbol "colm_gemm_dx_add_md_n32_k32_b1_12x32_kc256_mc96_2720" #kernel.gemm<use = input_grad, m = -1, n = 32, k = 32, a_transposed = false, b_transposed = false, accumulate = false, addend = true, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:32 k 0:32 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @copy_w32_s32_d64_o0_z symbol "colm_copy_w32_s32_d64_o0_z" #kernel.copy<width = 32, src_stride = 32, dst_stride = 64, dst_offset = 0, zero_rest = true>
    kernel.def @gemm_dx_add_md_n64_k64_b2_12x32_kc256_mc96_64b8 symbol "colm_gemm_dx_add_md_n64_k64_b2_12x32_kc256_mc96_64b8" #kernel.gemm<use = input_grad, m = -1, n = 64, k = 64, a_transposed = false, b_transposed = false, accumulate = false, addend = true, swiglu = none, bf16 = false, b_bf16 = false, blocks = [n 0:32 k 0:64 m 0:?, n 32:64 k 32:64 m 0:?], mr = 12, nr = 32, kc = 256, mc = 96>
    kernel.def @embed_bwd_v64_w64_d0 symbol "colm_embed_bwd_v64_w64_d0" #kernel.embed<vocab = 64, width = 64, backward = true, d_begin = 0>
    kernel.buffer @arg0 input i32 [4]
    kernel.buffer @arg1 input i32 [4]
    kernel.buffer @losses.0 output f64 [1] at 264448
    kernel.buffer @model.embed_tokens.weight param f32 [64, 64]
    kernel.buffer @"%1" temporary f32 [4, 64] at 229376
    kernel.buffer @model.layers.0.input_layernorm.weight param f32 [64]
    kernel.buffer @"%2" temporary f32 [4, 64] at 230400
    kernel.buffer @"%3" temporary f32 [4, 32] at 217088
    kernel.buffer @model.layers.0.self_attn.q_proj.weight param f32 [64, 64]
    kernel.buffer @"%4" temporary f32 [4, 64] at 0
    kernel.buffer @model.layers.0.self_attn.k_proj.weight param f32 [32, 32]
    kernel.buffer @"%5" temporary f32 [4, 32] at 1024
    kernel.buffer @model.layers.0.self_attn.v_proj.weight param f32 [32, 32]
    kernel.buffer @"%6" temporary f32 [4, 32] at 217600
    kernel.buffer @positions input i32 [4]
    kernel.buffer @"%7" temporary f32 [4, 64] at 212992
    kernel.buffer @"%8" temporary f32 [4, 32] at 218112
    kernel.buffer @"%9" temporary f32 [4, 64] at 214016
    kernel.buffer @lse.10 temporary f32 [1, 4, 4] at 219648
    kernel.buffer @model.layers.0.self_attn.o_proj.weight param f32 [64, 64]
    kernel.buffer @"%11" temporary f32 [4, 64] at 198144
    kernel.buffer @model.layers.0.post_attention_layernorm.weight param f32 [64]
    kernel.buffer @"%12" temporary f32 [4, 64] at 199168
    kernel.buffer @model.layers.0.mlp.gate_proj.weight param f32 [96, 64]
    kernel.buffer @"%13" temporary f32 [4, 96] at 98304
    kernel.buffer @model.layers.0.mlp.up_proj.weight param f32 [96, 64]
    kernel.buffer @"%14" temporary f32 [4, 96] at 99840
    kernel.buffer @"%15" temporary f32 [4, 96] at 101376
    kernel.buffer @model.layers.0.mlp.down_proj.weight param f32 [64, 96]
    kernel.buffer @"%16" temporary f32 [4, 64] at 75264
    kernel.buffer @model.layers.1.input_layernorm.weight param f32 [64]
    kernel.buffer @"%17" temporary f32 [4, 64] at 76288
    kernel.buffer @"%18" temporary f32 [4, 32] at 83456
    kernel.buffer @model.layers.1.self_attn.q_proj.weight param f32 [64, 64]
    kernel.buffer @"%19" temporary f32 [4, 64] at 0
    kernel.buffer @model.layers.1.self_attn.k_proj.weight param f32 [32, 32]
    kernel.buffer @"%20" temporary f32 [4, 32] at 1024
    kernel.buffer @model.layers.1.self_attn.v_proj.weight param f32 [32, 32]
    kernel.buffer @"%21" temporary f32 [4, 32] at 83968
    kernel.buffer @"%22" temporary f32 [4, 64] at 77312
    kernel.buffer @"%23" temporary f32 [4, 32] at 84480
    kernel.buffer @"%24" temporary f32 [4, 64] at 78336
    kernel.buffer @lse.25 temporary f32 [1, 4, 4] at 84992
    kernel.buffer @model.layers.1.self_attn.o_proj.weight param f32 [64, 64]
    kernel.buffer @"%26" temporary f32 [4, 64] at 79360
    kernel.buffer @model.layers.1.post_attention_layernorm.weight param f32 [64]
    kernel.buffer @"%27" temporary f32 [4, 64] at 80384
    kernel.buffer @model.layers.1.mlp.gate_proj.weight param f32 [96, 64]
    kernel.buffer @"%28" temporary f32 [4, 96] at 24576
    kernel.buffer @model.layers.1.mlp.up_proj.weight param f32 [96, 64]
    kernel.buffer @"%29" temporary f32 [4, 96] at 26112
    kernel.buffer @"%30" temporary f32 [4, 96] at 27648
    kernel.buffer @model.layers.1.mlp.down_proj.weight param f32 [64, 96]
    kernel.buffer @"%31" temporary f32 [4, 64] at 0
    kernel.buffer @model.norm.weight param f32 [64]
    kernel.buffer @"%32" temporary f32 [4, 64] at 1024
    kernel.buffer @lm_head.weight param f32 [64, 64]
    kernel.buffer @"%33" temporary f32 [4, 64] at 2048
    kernel.buffer @grad.lm_head.weight output f32 [64, 64] at 147456
    kernel.buffer @xent.workspace.35 temporary f64 [12] at 3072
    kernel.buffer @loss output f64 [] at 264512
    kernel.buffer @"%37" temporary f32 [4, 64] at 81408
    kernel.buffer @grad.model.norm.weight output f32 [64] at 263168
    kernel.buffer @grad.model.layers.1.mlp.down_proj.weight output f32 [64, 96] at 0
    kernel.buffer @"%40" temporary f32 [4, 96] at 49152
    kernel.buffer @"%41" temporary f32 [4, 96] at 73728
    kernel.buffer @"%42" temporary f32 [4, 64] at 50688
    kernel.buffer @grad.model.layers.1.mlp.up_proj.weight output f32 [96, 64] at 24576
    kernel.buffer @"%44" temporary f32 [4, 64] at 82432
    kernel.buffer @grad.model.layers.1.mlp.gate_proj.weight output f32 [96, 64] at 49152
    kernel.buffer @"%46" temporary f32 [4, 64] at 73728
    kernel.buffer @grad.model.layers.1.post_attention_layernorm.weight output f32 [64] at 263424
    kernel.buffer @"%48" temporary f32 [4, 64] at 79360
    kernel.buffer @"%49" temporary f32 [4, 64] at 73728
    kernel.buffer @grad.model.layers.1.self_attn.o_proj.weight output f32 [64, 64] at 163840
    kernel.buffer @"%51" temporary f32 [4, 64] at 80384
    kernel.buffer @"%52" temporary f32 [4, 32] at 74752
    kernel.buffer @"%53" temporary f32 [4, 32] at 81408
    kernel.buffer @"%54" temporary f32 [4, 32] at 77312
    kernel.buffer @"%55" temporary f32 [4, 64] at 73728
    kernel.buffer @"%56" temporary f32 [4, 32] at 74752
    kernel.buffer @grad.model.layers.1.self_attn.v_proj.weight output f32 [32, 32] at 245760
    kernel.buffer @"%58" temporary f32 [4, 32] at 77824
    kernel.buffer @grad.model.layers.1.self_attn.k_proj.weight output f32 [32, 32] at 249856
    kernel.buffer @grad.model.layers.1.self_attn.q_proj.weight output f32 [64, 64] at 180224
    kernel.buffer @"%61" temporary f32 [4, 64] at 76288
    kernel.buffer @"%62" temporary f32 [4, 64] at 77312
    kernel.buffer @"%63" temporary f32 [4, 64] at 73728
    kernel.buffer @grad.model.layers.1.input_layernorm.weight output f32 [64] at 263680
    kernel.buffer @"%65" temporary f32 [4, 64] at 200192
    kernel.buffer @grad.model.layers.0.mlp.down_proj.weight output f32 [64, 96] at 73728
    kernel.buffer @"%67" temporary f32 [4, 96] at 122880
    kernel.buffer @"%68" temporary f32 [4, 96] at 196608
    kernel.buffer @"%69" temporary f32 [4, 64] at 124416
    kernel.buffer @grad.model.layers.0.mlp.up_proj.weight output f32 [96, 64] at 98304
    kernel.buffer @"%71" temporary f32 [4, 64] at 201216
    kernel.buffer @grad.model.layers.0.mlp.gate_proj.weight output f32 [96, 64] at 122880
    kernel.buffer @"%73" temporary f32 [4, 64] at 196608
    kernel.buffer @grad.model.layers.0.post_attention_layernorm.weight output f32 [64] at 263936
    kernel.buffer @"%75" temporary f32 [4, 64] at 231424
    kernel.buffer @"%76" temporary f32 [4, 64] at 215040
    kernel.buffer @grad.model.layers.0.self_attn.o_proj.weight output f32 [64, 64] at 196608
    kernel.buffer @"%78" temporary f32 [4, 64] at 216064
    kernel.buffer @"%79" temporary f32 [4, 32] at 218624
    kernel.buffer @"%80" temporary f32 [4, 32] at 219136
    kernel.buffer @"%81" temporary f32 [4, 32] at 212992
    kernel.buffer @"%82" temporary f32 [4, 64] at 232448
    kernel.buffer @"%83" temporary f32 [4, 32] at 213504
    kernel.buffer @grad.model.layers.0.self_attn.v_proj.weight output f32 [32, 32] at 253952
    kernel.buffer @"%85" temporary f32 [4, 32] at 233472
    kernel.buffer @grad.model.layers.0.self_attn.k_proj.weight output f32 [32, 32] at 258048
    kernel.buffer @grad.model.layers.0.self_attn.q_proj.weight output f32 [64, 64] at 212992
    kernel.buffer @"%88" temporary f32 [4, 64] at 230400
    kernel.buffer @"%89" temporary f32 [4, 64] at 233472
    kernel.buffer @"%90" temporary f32 [4, 64] at 230400
    kernel.buffer @grad.model.layers.0.input_layernorm.weight output f32 [64] at 264192
    kernel.buffer @"%92" temporary f32 [4, 64] at 262144
    kernel.buffer @grad.model.embed_tokens.weight output f32 [64, 64] at 229376
    kernel.buffer @ce.2 output f64 [] view @losses.0 [0]
    kernel.launch @embed_fwd_v64_w64 (0 = @model.embed_tokens.weight[0], 8 = @arg0[0], 24 = @"%1"[0], 40 = int 4) bytes 48 label "model.embed_tokens.weight embed" flops 0.0
    kernel.launch @norm_fwd_w64_g2_33fa (0 = @"%1"[0], 8 = @model.layers.0.input_layernorm.weight[0], 24 = @"%2"[0], 48 = int 4) bytes 56 label "model.layers.0.input_layernorm.weight norm" flops 0.0
    kernel.launch @copy_w32_s64_d32_o0 (0 = @"%2"[0], 8 = @"%3"[0], 16 = int 4) bytes 24 label "l0.a_c1 prefix" flops 0.0
    kernel.launch @gemm_fwd_md_n64_k64_b2_12x32_kc256_mc96_1f0a (0 = @"%2"[0], 8 = @model.layers.0.self_attn.q_proj.weight[0], 16 = @"%4"[0], 24 = int 4, 32 = int 64, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 64) bytes 120 label "model.layers.0.self_attn.q_proj.weight linear" flops 24576.0
    kernel.launch @gemm_fwd_md_n32_k32_b1_12x32_kc256_mc96_40f2 (0 = @"%3"[0], 8 = @model.layers.0.self_attn.k_proj.weight[0], 16 = @"%5"[0], 24 = int 4, 32 = int 32, 40 = int 32, 48 = int 32, 56 = int 32, 64 = int 32) bytes 120 label "model.layers.0.self_attn.k_proj.weight dense" flops 8192.0
    kernel.launch @gemm_fwd_md_n32_k32_b1_12x32_kc256_mc96_40f2 (0 = @"%3"[0], 8 = @model.layers.0.self_attn.v_proj.weight[0], 16 = @"%6"[0], 24 = int 4, 32 = int 32, 40 = int 32, 48 = int 32, 56 = int 32, 64 = int 32) bytes 120 label "model.layers.0.self_attn.v_proj.weight dense" flops 8192.0
    kernel.launch @rope_fwd_w64_hd16_4f90 (0 = @"%4"[0], 8 = @positions[0], 16 = @"%7"[0], 24 = int 4) bytes 32 label "l0.q_rope rope" flops 0.0
    kernel.launch @rope_fwd_w32_hd16_4f90 (0 = @"%5"[0], 8 = @positions[0], 16 = @"%8"[0], 24 = int 4) bytes 32 label "l0.k_rope rope" flops 0.0
    kernel.launch @attn_fwd_h4_kv2_hd16_tiled_causal_q64_k128 (0 = @"%7"[0], 8 = @"%8"[0], 16 = @"%6"[0], 24 = @"%9"[0], 32 = @lse.10[0], 40 = int 4, 48 = int 4, 56 = int 64, 64 = int 32) bytes 72 label "l0.attn attention" flops 2.56e+03
    kernel.launch @gemm_fwd_add_md_n64_k64_b2_12x32_kc256_mc96_7d45 (0 = @"%9"[0], 8 = @model.layers.0.self_attn.o_proj.weight[0], 16 = @"%11"[0], 24 = int 4, 32 = int 64, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 64, 72 = @"%1"[0], 80 = int 64) bytes 120 label "model.layers.0.self_attn.o_proj.weight linear+add" flops 24576.0
    kernel.launch @norm_fwd_w64_g2_33fa (0 = @"%11"[0], 8 = @model.layers.0.post_attention_layernorm.weight[0], 24 = @"%12"[0], 48 = int 4) bytes 56 label "model.layers.0.post_attention_layernorm.weight norm" flops 0.0
    kernel.launch @gemm_fwd_md_n96_k64_b2_12x32_kc256_mc96_218a (0 = @"%12"[0], 8 = @model.layers.0.mlp.gate_proj.weight[0], 16 = @"%13"[0], 24 = int 4, 32 = int 96, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 96) bytes 120 label "model.layers.0.mlp.gate_proj.weight linear" flops 36864.0
    kernel.launch @gemm_fwd_swiglu_md_n96_k64_b2_12x32_kc256_mc96_b55c (0 = @"%12"[0], 8 = @model.layers.0.mlp.up_proj.weight[0], 16 = @"%15"[0], 24 = int 4, 32 = int 96, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 96, 88 = @"%13"[0], 104 = @"%14"[0], 112 = int 96) bytes 120 label "model.layers.0.mlp.up_proj.weight linear+swiglu" flops 36864.0
    kernel.launch @gemm_fwd_add_md_n64_k96_b2_12x32_kc256_mc96_3315 (0 = @"%15"[0], 8 = @model.layers.0.mlp.down_proj.weight[0], 16 = @"%16"[0], 24 = int 4, 32 = int 64, 40 = int 96, 48 = int 96, 56 = int 96, 64 = int 64, 72 = @"%11"[0], 80 = int 64) bytes 120 label "model.layers.0.mlp.down_proj.weight linear+add" flops 36864.0
    kernel.launch @norm_fwd_w64_g2_33fa (0 = @"%16"[0], 8 = @model.layers.1.input_layernorm.weight[0], 24 = @"%17"[0], 48 = int 4) bytes 56 label "model.layers.1.input_layernorm.weight norm" flops 0.0
    kernel.launch @copy_w32_s64_d32_o0 (0 = @"%17"[0], 8 = @"%18"[0], 16 = int 4) bytes 24 label "l1.a_c1 prefix" flops 0.0
    kernel.launch @gemm_fwd_md_n64_k64_b2_12x32_kc256_mc96_1f0a (0 = @"%17"[0], 8 = @model.layers.1.self_attn.q_proj.weight[0], 16 = @"%19"[0], 24 = int 4, 32 = int 64, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 64) bytes 120 label "model.layers.1.self_attn.q_proj.weight linear" flops 24576.0
    kernel.launch @gemm_fwd_md_n32_k32_b1_12x32_kc256_mc96_40f2 (0 = @"%18"[0], 8 = @model.layers.1.self_attn.k_proj.weight[0], 16 = @"%20"[0], 24 = int 4, 32 = int 32, 40 = int 32, 48 = int 32, 56 = int 32, 64 = int 32) bytes 120 label "model.layers.1.self_attn.k_proj.weight dense" flops 8192.0
    kernel.launch @gemm_fwd_md_n32_k32_b1_12x32_kc256_mc96_40f2 (0 = @"%18"[0], 8 = @model.layers.1.self_attn.v_proj.weight[0], 16 = @"%21"[0], 24 = int 4, 32 = int 32, 40 = int 32, 48 = int 32, 56 = int 32, 64 = int 32) bytes 120 label "model.layers.1.self_attn.v_proj.weight dense" flops 8192.0
    kernel.launch @rope_fwd_w64_hd16_4f90 (0 = @"%19"[0], 8 = @positions[0], 16 = @"%22"[0], 24 = int 4) bytes 32 label "l1.q_rope rope" flops 0.0
    kernel.launch @rope_fwd_w32_hd16_4f90 (0 = @"%20"[0], 8 = @positions[0], 16 = @"%23"[0], 24 = int 4) bytes 32 label "l1.k_rope rope" flops 0.0
    kernel.launch @attn_fwd_h4_kv2_hd16_tiled_causal_q64_k128 (0 = @"%22"[0], 8 = @"%23"[0], 16 = @"%21"[0], 24 = @"%24"[0], 32 = @lse.25[0], 40 = int 4, 48 = int 4, 56 = int 64, 64 = int 32) bytes 72 label "l1.attn attention" flops 2.56e+03
    kernel.launch @gemm_fwd_add_md_n64_k64_b2_12x32_kc256_mc96_7d45 (0 = @"%24"[0], 8 = @model.layers.1.self_attn.o_proj.weight[0], 16 = @"%26"[0], 24 = int 4, 32 = int 64, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 64, 72 = @"%16"[0], 80 = int 64) bytes 120 label "model.layers.1.self_attn.o_proj.weight linear+add" flops 24576.0
    kernel.launch @norm_fwd_w64_g2_33fa (0 = @"%26"[0], 8 = @model.layers.1.post_attention_layernorm.weight[0], 24 = @"%27"[0], 48 = int 4) bytes 56 label "model.layers.1.post_attention_layernorm.weight norm" flops 0.0
    kernel.launch @gemm_fwd_md_n96_k64_b2_12x32_kc256_mc96_218a (0 = @"%27"[0], 8 = @model.layers.1.mlp.gate_proj.weight[0], 16 = @"%28"[0], 24 = int 4, 32 = int 96, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 96) bytes 120 label "model.layers.1.mlp.gate_proj.weight linear" flops 36864.0
    kernel.launch @gemm_fwd_swiglu_md_n96_k64_b2_12x32_kc256_mc96_b55c (0 = @"%27"[0], 8 = @model.layers.1.mlp.up_proj.weight[0], 16 = @"%30"[0], 24 = int 4, 32 = int 96, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 96, 88 = @"%28"[0], 104 = @"%29"[0], 112 = int 96) bytes 120 label "model.layers.1.mlp.up_proj.weight linear+swiglu" flops 36864.0
    kernel.launch @gemm_fwd_add_md_n64_k96_b2_12x32_kc256_mc96_3315 (0 = @"%30"[0], 8 = @model.layers.1.mlp.down_proj.weight[0], 16 = @"%31"[0], 24 = int 4, 32 = int 64, 40 = int 96, 48 = int 96, 56 = int 96, 64 = int 64, 72 = @"%26"[0], 80 = int 64) bytes 120 label "model.layers.1.mlp.down_proj.weight linear+add" flops 36864.0
    kernel.launch @norm_fwd_w64_g2_33fa (0 = @"%31"[0], 8 = @model.norm.weight[0], 24 = @"%32"[0], 48 = int 4) bytes 56 label "model.norm.weight norm" flops 0.0
    kernel.launch @xent_rows_v64_d64_dw0_c32_acc1 (0 = @"%32"[0], 8 = @lm_head.weight[0], 16 = @arg1[0], 24 = @"%33"[0], 32 = @grad.lm_head.weight[0], 40 = @xent.workspace.35[0], 48 = @losses.0[0], 56 = int 4, 64 = int 64, 72 = int 64, 80 = int 64, 88 = int 64, 96 = float 1.0) bytes 104 zero [@"%33"] label "lm_head.weight lm_head xent rows" flops 65536.0
    kernel.launch @xent_vocab_v64_d64_dw0_c32_acc1 (0 = @"%32"[0], 8 = @lm_head.weight[0], 16 = @arg1[0], 24 = @"%33"[0], 32 = @grad.lm_head.weight[0], 40 = @xent.workspace.35[0], 48 = @losses.0[0], 56 = int 4, 64 = int 64, 72 = int 64, 80 = int 64, 88 = int 64, 96 = float 1.0) bytes 104 zero [@grad.lm_head.weight] label "lm_head.weight lm_head xent vocab" flops 65536.0
    kernel.launch @wsum_n1_78fa (0 = @losses.0[0], 16 = @loss[0]) bytes 24 label "loss weighted_sum" flops 0.0
    kernel.launch @norm_bwd_w64_g2_33fa (0 = @"%31"[0], 8 = @model.norm.weight[0], 16 = @"%33"[0], 32 = @"%37"[0], 40 = @grad.model.norm.weight[0], 48 = int 4) bytes 56 label "model.norm.weight norm_grad" flops 0.0
    kernel.launch @gemm_dw_m64_n96_kd_b2_12x32_kc256_mc96_71b2 (0 = @"%37"[0], 8 = @"%30"[0], 16 = @grad.model.layers.1.mlp.down_proj.weight[0], 24 = int 64, 32 = int 96, 40 = int 4, 48 = int 64, 56 = int 96, 64 = int 96) bytes 120 zero [@grad.model.layers.1.mlp.down_proj.weight] label "l1.ffn_out.grad linear_grad_w" flops 36864.0
    kernel.launch @gemm_dx_swiglu_grad_md_n96_k64_b2_12x32_kc256_mc96_5eda (0 = @"%37"[0], 8 = @model.layers.1.mlp.down_proj.weight[0], 16 = @"%41"[0], 24 = int 4, 32 = int 96, 40 = int 64, 48 = int 64, 56 = int 96, 64 = int 96, 88 = @"%28"[0], 96 = @"%29"[0], 104 = @"%40"[0], 112 = int 96) bytes 120 label "model.layers.1.mlp.down_proj.weight linear_grad_x+swiglu_grad" flops 36864.0
    kernel.launch @gemm_dx_md_n64_k96_b2_12x32_kc256_mc96_a03b (0 = @"%40"[0], 8 = @model.layers.1.mlp.up_proj.weight[0], 16 = @"%42"[0], 24 = int 4, 32 = int 64, 40 = int 96, 48 = int 96, 56 = int 64, 64 = int 64) bytes 120 label "model.layers.1.mlp.up_proj.weight linear_grad_x" flops 36864.0
    kernel.launch @gemm_dw_m96_n64_kd_b2_12x32_kc256_mc96_7202 (0 = @"%40"[0], 8 = @"%27"[0], 16 = @grad.model.layers.1.mlp.up_proj.weight[0], 24 = int 96, 32 = int 64, 40 = int 4, 48 = int 96, 56 = int 64, 64 = int 64) bytes 120 zero [@grad.model.layers.1.mlp.up_proj.weight] label "l1.up.grad linear_grad_w" flops 36864.0
    kernel.launch @gemm_dx_add_md_n64_k96_b2_12x32_kc256_mc96_2ac8 (0 = @"%41"[0], 8 = @model.layers.1.mlp.gate_proj.weight[0], 16 = @"%44"[0], 24 = int 4, 32 = int 64, 40 = int 96, 48 = int 96, 56 = int 64, 64 = int 64, 72 = @"%42"[0], 80 = int 64) bytes 120 label "model.layers.1.mlp.gate_proj.weight linear_grad_x+add" flops 36864.0
    kernel.launch @gemm_dw_m96_n64_kd_b2_12x32_kc256_mc96_7202 (0 = @"%41"[0], 8 = @"%27"[0], 16 = @grad.model.layers.1.mlp.gate_proj.weight[0], 24 = int 96, 32 = int 64, 40 = int 4, 48 = int 96, 56 = int 64, 64 = int 64) bytes 120 zero [@grad.model.layers.1.mlp.gate_proj.weight] label "l1.gate.grad linear_grad_w" flops 36864.0
    kernel.launch @norm_bwd_w64_g2_33fa (0 = @"%26"[0], 8 = @model.layers.1.post_attention_layernorm.weight[0], 16 = @"%44"[0], 32 = @"%46"[0], 40 = @grad.model.layers.1.post_attention_layernorm.weight[0], 48 = int 4) bytes 56 label "model.layers.1.post_attention_layernorm.weight norm_grad" flops 0.0
    kernel.launch @add_w64 (0 = @"%37"[0], 8 = @"%46"[0], 16 = @"%48"[0], 24 = int 4) bytes 32 label "l1.b.grad add" flops 0.0
    kernel.launch @gemm_dx_md_n64_k64_b2_12x32_kc256_mc96_fc0b (0 = @"%48"[0], 8 = @model.layers.1.self_attn.o_proj.weight[0], 16 = @"%49"[0], 24 = int 4, 32 = int 64, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 64) bytes 120 label "model.layers.1.self_attn.o_proj.weight linear_grad_x" flops 24576.0
    kernel.launch @gemm_dw_m64_n64_kd_b2_12x32_kc256_mc96_31f2 (0 = @"%48"[0], 8 = @"%24"[0], 16 = @grad.model.layers.1.self_attn.o_proj.weight[0], 24 = int 64, 32 = int 64, 40 = int 4, 48 = int 64, 56 = int 64, 64 = int 64) bytes 120 zero [@grad.model.layers.1.self_attn.o_proj.weight] label "l1.attn_out.grad linear_grad_w" flops 24576.0
    kernel.launch @attn_bwd_h4_kv2_hd16_tiled_causal_q64_k128 (0 = @"%22"[0], 8 = @"%23"[0], 16 = @"%21"[0], 24 = @"%24"[0], 32 = @"%49"[0], 40 = @lse.25[0], 48 = @"%51"[0], 56 = @"%52"[0], 64 = @"%53"[0], 72 = int 4, 80 = int 4, 88 = int 64, 96 = int 32) bytes 104 label "l1.attn.grad attention_grad" flops 6.4e+03
    kernel.launch @rope_inv_w32_hd16_4f90 (0 = @"%52"[0], 8 = @positions[0], 16 = @"%54"[0], 24 = int 4) bytes 32 label "l1.k_rope.grad rope" flops 0.0
    kernel.launch @rope_inv_w64_hd16_4f90 (0 = @"%51"[0], 8 = @positions[0], 16 = @"%55"[0], 24 = int 4) bytes 32 label "l1.q_rope.grad rope" flops 0.0
    kernel.launch @gemm_dx_md_n32_k32_b1_12x32_kc256_mc96_5933 (0 = @"%53"[0], 8 = @model.layers.1.self_attn.v_proj.weight[0], 16 = @"%56"[0], 24 = int 4, 32 = int 32, 40 = int 32, 48 = int 32, 56 = int 32, 64 = int 32) bytes 120 label "model.layers.1.self_attn.v_proj.weight dense_grad_x" flops 8192.0
    kernel.launch @gemm_dw_m32_n32_kd_b1_12x32_kc256_mc96_28fa (0 = @"%53"[0], 8 = @"%18"[0], 16 = @grad.model.layers.1.self_attn.v_proj.weight[0], 24 = int 32, 32 = int 32, 40 = int 4, 48 = int 32, 56 = int 32, 64 = int 32) bytes 120 zero [@grad.model.layers.1.self_attn.v_proj.weight] label "l1.v.grad dense_grad_w" flops 8192.0
    kernel.launch @gemm_dx_add_md_n32_k32_b1_12x32_kc256_mc96_2720 (0 = @"%54"[0], 8 = @model.layers.1.self_attn.k_proj.weight[0], 16 = @"%58"[0], 24 = int 4, 32 = int 32, 40 = int 32, 48 = int 32, 56 = int 32, 64 = int 32, 72 = @"%56"[0], 80 = int 32) bytes 120 label "model.layers.1.self_attn.k_proj.weight dense_grad_x+add" flops 8192.0
    kernel.launch @gemm_dw_m32_n32_kd_b1_12x32_kc256_mc96_28fa (0 = @"%54"[0], 8 = @"%18"[0], 16 = @grad.model.layers.1.self_attn.k_proj.weight[0], 24 = int 32, 32 = int 32, 40 = int 4, 48 = int 32, 56 = int 32, 64 = int 32) bytes 120 zero [@grad.model.layers.1.self_attn.k_proj.weight] label "l1.k.grad dense_grad_w" flops 8192.0
    kernel.launch @gemm_dw_m64_n64_kd_b2_12x32_kc256_mc96_31f2 (0 = @"%55"[0], 8 = @"%17"[0], 16 = @grad.model.layers.1.self_attn.q_proj.weight[0], 24 = int 64, 32 = int 64, 40 = int 4, 48 = int 64, 56 = int 64, 64 = int 64) bytes 120 zero [@grad.model.layers.1.self_attn.q_proj.weight] label "l1.q.grad linear_grad_w" flops 24576.0
    kernel.launch @copy_w32_s32_d64_o0_z (0 = @"%58"[0], 8 = @"%61"[0], 16 = int 4) bytes 24 label "l1.a_c1.grad extend" flops 0.0
    kernel.launch @gemm_dx_add_md_n64_k64_b2_12x32_kc256_mc96_64b8 (0 = @"%55"[0], 8 = @model.layers.1.self_attn.q_proj.weight[0], 16 = @"%62"[0], 24 = int 4, 32 = int 64, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 64, 72 = @"%61"[0], 80 = int 64) bytes 120 label "model.layers.1.self_attn.q_proj.weight linear_grad_x+add" flops 24576.0
    kernel.launch @norm_bwd_w64_g2_33fa (0 = @"%16"[0], 8 = @model.layers.1.input_layernorm.weight[0], 16 = @"%62"[0], 32 = @"%63"[0], 40 = @grad.model.layers.1.input_layernorm.weight[0], 48 = int 4) bytes 56 label "model.layers.1.input_layernorm.weight norm_grad" flops 0.0
    kernel.launch @add_w64 (0 = @"%48"[0], 8 = @"%63"[0], 16 = @"%65"[0], 24 = int 4) bytes 32 label "l1.a.grad add" flops 0.0
    kernel.launch @gemm_dw_m64_n96_kd_b2_12x32_kc256_mc96_71b2 (0 = @"%65"[0], 8 = @"%15"[0], 16 = @grad.model.layers.0.mlp.down_proj.weight[0], 24 = int 64, 32 = int 96, 40 = int 4, 48 = int 64, 56 = int 96, 64 = int 96) bytes 120 zero [@grad.model.layers.0.mlp.down_proj.weight] label "l0.ffn_out.grad linear_grad_w" flops 36864.0
    kernel.launch @gemm_dx_swiglu_grad_md_n96_k64_b2_12x32_kc256_mc96_5eda (0 = @"%65"[0], 8 = @model.layers.0.mlp.down_proj.weight[0], 16 = @"%68"[0], 24 = int 4, 32 = int 96, 40 = int 64, 48 = int 64, 56 = int 96, 64 = int 96, 88 = @"%13"[0], 96 = @"%14"[0], 104 = @"%67"[0], 112 = int 96) bytes 120 label "model.layers.0.mlp.down_proj.weight linear_grad_x+swiglu_grad" flops 36864.0
    kernel.launch @gemm_dx_md_n64_k96_b2_12x32_kc256_mc96_a03b (0 = @"%67"[0], 8 = @model.layers.0.mlp.up_proj.weight[0], 16 = @"%69"[0], 24 = int 4, 32 = int 64, 40 = int 96, 48 = int 96, 56 = int 64, 64 = int 64) bytes 120 label "model.layers.0.mlp.up_proj.weight linear_grad_x" flops 36864.0
    kernel.launch @gemm_dw_m96_n64_kd_b2_12x32_kc256_mc96_7202 (0 = @"%67"[0], 8 = @"%12"[0], 16 = @grad.model.layers.0.mlp.up_proj.weight[0], 24 = int 96, 32 = int 64, 40 = int 4, 48 = int 96, 56 = int 64, 64 = int 64) bytes 120 zero [@grad.model.layers.0.mlp.up_proj.weight] label "l0.up.grad linear_grad_w" flops 36864.0
    kernel.launch @gemm_dx_add_md_n64_k96_b2_12x32_kc256_mc96_2ac8 (0 = @"%68"[0], 8 = @model.layers.0.mlp.gate_proj.weight[0], 16 = @"%71"[0], 24 = int 4, 32 = int 64, 40 = int 96, 48 = int 96, 56 = int 64, 64 = int 64, 72 = @"%69"[0], 80 = int 64) bytes 120 label "model.layers.0.mlp.gate_proj.weight linear_grad_x+add" flops 36864.0
    kernel.launch @gemm_dw_m96_n64_kd_b2_12x32_kc256_mc96_7202 (0 = @"%68"[0], 8 = @"%12"[0], 16 = @grad.model.layers.0.mlp.gate_proj.weight[0], 24 = int 96, 32 = int 64, 40 = int 4, 48 = int 96, 56 = int 64, 64 = int 64) bytes 120 zero [@grad.model.layers.0.mlp.gate_proj.weight] label "l0.gate.grad linear_grad_w" flops 36864.0
    kernel.launch @norm_bwd_w64_g2_33fa (0 = @"%11"[0], 8 = @model.layers.0.post_attention_layernorm.weight[0], 16 = @"%71"[0], 32 = @"%73"[0], 40 = @grad.model.layers.0.post_attention_layernorm.weight[0], 48 = int 4) bytes 56 label "model.layers.0.post_attention_layernorm.weight norm_grad" flops 0.0
    kernel.launch @add_w64 (0 = @"%65"[0], 8 = @"%73"[0], 16 = @"%75"[0], 24 = int 4) bytes 32 label "l0.b.grad add" flops 0.0
    kernel.launch @gemm_dx_md_n64_k64_b2_12x32_kc256_mc96_fc0b (0 = @"%75"[0], 8 = @model.layers.0.self_attn.o_proj.weight[0], 16 = @"%76"[0], 24 = int 4, 32 = int 64, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 64) bytes 120 label "model.layers.0.self_attn.o_proj.weight linear_grad_x" flops 24576.0
    kernel.launch @gemm_dw_m64_n64_kd_b2_12x32_kc256_mc96_31f2 (0 = @"%75"[0], 8 = @"%9"[0], 16 = @grad.model.layers.0.self_attn.o_proj.weight[0], 24 = int 64, 32 = int 64, 40 = int 4, 48 = int 64, 56 = int 64, 64 = int 64) bytes 120 zero [@grad.model.layers.0.self_attn.o_proj.weight] label "l0.attn_out.grad linear_grad_w" flops 24576.0
    kernel.launch @attn_bwd_h4_kv2_hd16_tiled_causal_q64_k128 (0 = @"%7"[0], 8 = @"%8"[0], 16 = @"%6"[0], 24 = @"%9"[0], 32 = @"%76"[0], 40 = @lse.10[0], 48 = @"%78"[0], 56 = @"%79"[0], 64 = @"%80"[0], 72 = int 4, 80 = int 4, 88 = int 64, 96 = int 32) bytes 104 label "l0.attn.grad attention_grad" flops 6.4e+03
    kernel.launch @rope_inv_w32_hd16_4f90 (0 = @"%79"[0], 8 = @positions[0], 16 = @"%81"[0], 24 = int 4) bytes 32 label "l0.k_rope.grad rope" flops 0.0
    kernel.launch @rope_inv_w64_hd16_4f90 (0 = @"%78"[0], 8 = @positions[0], 16 = @"%82"[0], 24 = int 4) bytes 32 label "l0.q_rope.grad rope" flops 0.0
    kernel.launch @gemm_dx_md_n32_k32_b1_12x32_kc256_mc96_5933 (0 = @"%80"[0], 8 = @model.layers.0.self_attn.v_proj.weight[0], 16 = @"%83"[0], 24 = int 4, 32 = int 32, 40 = int 32, 48 = int 32, 56 = int 32, 64 = int 32) bytes 120 label "model.layers.0.self_attn.v_proj.weight dense_grad_x" flops 8192.0
    kernel.launch @gemm_dw_m32_n32_kd_b1_12x32_kc256_mc96_28fa (0 = @"%80"[0], 8 = @"%3"[0], 16 = @grad.model.layers.0.self_attn.v_proj.weight[0], 24 = int 32, 32 = int 32, 40 = int 4, 48 = int 32, 56 = int 32, 64 = int 32) bytes 120 zero [@grad.model.layers.0.self_attn.v_proj.weight] label "l0.v.grad dense_grad_w" flops 8192.0
    kernel.launch @gemm_dx_add_md_n32_k32_b1_12x32_kc256_mc96_2720 (0 = @"%81"[0], 8 = @model.layers.0.self_attn.k_proj.weight[0], 16 = @"%85"[0], 24 = int 4, 32 = int 32, 40 = int 32, 48 = int 32, 56 = int 32, 64 = int 32, 72 = @"%83"[0], 80 = int 32) bytes 120 label "model.layers.0.self_attn.k_proj.weight dense_grad_x+add" flops 8192.0
    kernel.launch @gemm_dw_m32_n32_kd_b1_12x32_kc256_mc96_28fa (0 = @"%81"[0], 8 = @"%3"[0], 16 = @grad.model.layers.0.self_attn.k_proj.weight[0], 24 = int 32, 32 = int 32, 40 = int 4, 48 = int 32, 56 = int 32, 64 = int 32) bytes 120 zero [@grad.model.layers.0.self_attn.k_proj.weight] label "l0.k.grad dense_grad_w" flops 8192.0
    kernel.launch @gemm_dw_m64_n64_kd_b2_12x32_kc256_mc96_31f2 (0 = @"%82"[0], 8 = @"%2"[0], 16 = @grad.model.layers.0.self_attn.q_proj.weight[0], 24 = int 64, 32 = int 64, 40 = int 4, 48 = int 64, 56 = int 64, 64 = int 64) bytes 120 zero [@grad.model.layers.0.self_attn.q_proj.weight] label "l0.q.grad linear_grad_w" flops 24576.0
    kernel.launch @copy_w32_s32_d64_o0_z (0 = @"%85"[0], 8 = @"%88"[0], 16 = int 4) bytes 24 label "l0.a_c1.grad extend" flops 0.0
    kernel.launch @gemm_dx_add_md_n64_k64_b2_12x32_kc256_mc96_64b8 (0 = @"%82"[0], 8 = @model.layers.0.self_attn.q_proj.weight[0], 16 = @"%89"[0], 24 = int 4, 32 = int 64, 40 = int 64, 48 = int 64, 56 = int 64, 64 = int 64, 72 = @"%88"[0], 80 = int 64) bytes 120 label "model.layers.0.self_attn.q_proj.weight linear_grad_x+add" flops 24576.0
    kernel.launch @norm_bwd_w64_g2_33fa (0 = @"%1"[0], 8 = @model.layers.0.input_layernorm.weight[0], 16 = @"%89"[0], 32 = @"%90"[0], 40 = @grad.model.layers.0.input_layernorm.weight[0], 48 = int 4) bytes 56 label "model.layers.0.input_layernorm.weight norm_grad" flops 0.0
    kernel.launch @add_w64 (0 = @"%75"[0], 8 = @"%90"[0], 16 = @"%92"[0], 24 = int 4) bytes 32 label "l0.a.grad add" flops 0.0
    kernel.launch @embed_bwd_v64_w64_d0 (8 = @arg0[0], 16 = @"%92"[0], 32 = @grad.model.embed_tokens.weight[0], 40 = int 4) bytes 48 label "x.grad embed_grad" flops 0.0
  }
}
