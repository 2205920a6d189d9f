#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>
#whole = #chain.layout<[1]>

func.func @colm_layer(%tokens: tensor<?xi32>, %targets: tensor<?xi32>) -> tensor<f32> {
  %emb = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %g1 = chain.param "model.layers.0.input_layernorm.weight" : tensor<16xf32, #l>
  %a = chain.norm %x, %g1 {eps = 1.0e-06 : f64} : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %wq = chain.param "model.layers.0.self_attn.q_proj.weight" : tensor<16x16xf32, #b>
  %wk = chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<16x16xf32, #b>
  %wv = chain.param "model.layers.0.self_attn.v_proj.weight" : tensor<16x16xf32, #b>
  %q0 = chain.linear %a, %wq : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %k0 = chain.linear %a, %wk : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %v = chain.linear %a, %wv : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %q = chain.rope %q0 {head_dim = 8, theta = 500000.0 : f64} : tensor<?x16xf32, #l>
  %k = chain.rope %k0 {head_dim = 8} : tensor<?x16xf32, #l>
  %att = chain.attention %q, %k, %v kv_mapping grouped {head_dim = 8} : tensor<?x16xf32, #l>, tensor<?x16xf32, #l>, tensor<?x16xf32, #l>
  %wo = chain.param "model.layers.0.self_attn.o_proj.weight" : tensor<16x16xf32, #b>
  %o = chain.linear %att, %wo : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %x1 = chain.add %x, %o : tensor<?x16xf32, #l>
  %g2 = chain.param "model.layers.0.post_attention_layernorm.weight" : tensor<16xf32, #l>
  %b = chain.norm %x1, %g2 : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %wg = chain.param "model.layers.0.mlp.gate_proj.weight" : tensor<32x16xf32, #b>
  %wu = chain.param "model.layers.0.mlp.up_proj.weight" : tensor<32x16xf32, #b>
  %wd = chain.param "model.layers.0.mlp.down_proj.weight" : tensor<16x32xf32, #b>
  %gt = chain.linear %b, %wg : tensor<?x16xf32, #l>, tensor<32x16xf32, #b> -> tensor<?x32xf32, #l>
  %up = chain.linear %b, %wu : tensor<?x16xf32, #l>, tensor<32x16xf32, #b> -> tensor<?x32xf32, #l>
  %h = chain.swiglu %gt, %up : tensor<?x32xf32, #l>
  %d = chain.linear %h, %wd : tensor<?x32xf32, #l>, tensor<16x32xf32, #b> -> tensor<?x16xf32, #l>
  %x2 = chain.add %x1, %d : tensor<?x16xf32, #l>
  %gf = chain.param "model.norm.weight" : tensor<16xf32, #l>
  %xs = chain.norm %x2, %gf stats(#chain.layout<[1]>) : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %xf = chain.norm %xs, %gf stats(#whole) : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %we = chain.param "lm_head.weight" : tensor<32x16xf32, #l>
  %full = chain.lm_head %xf, %we : tensor<?x16xf32, #l>, tensor<32x16xf32, #l> -> tensor<?x32xf32>
  %logits = chain.lm_head %xf, %we chains 1 : tensor<?x16xf32, #l>, tensor<32x16xf32, #l> -> tensor<?x32xf32>
  %loss = chain.cross_entropy %logits, %targets : tensor<?x32xf32>, tensor<?xi32> -> tensor<f32>
  return %loss : tensor<f32>
}

func.func @colm_air_attention(%a: tensor<?x16xf32, #l>, %q: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  %a1 = chain.prefix %a chains 1 : tensor<?x16xf32, #l> -> tensor<?x8xf32, #chain.layout<[1]>>
  %wk = chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<8x8xf32>
  %wv = chain.param "model.layers.0.self_attn.v_proj.weight" : tensor<8x8xf32>
  %k = chain.dense %a1, %wk : tensor<?x8xf32, #chain.layout<[1]>>, tensor<8x8xf32> -> tensor<?x8xf32>
  %v = chain.dense %a1, %wv : tensor<?x8xf32, #chain.layout<[1]>>, tensor<8x8xf32> -> tensor<?x8xf32>
  %kr = chain.rope %k {head_dim = 4} : tensor<?x8xf32>
  %att = chain.attention %q, %kr, %v kv_mapping tiled {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x8xf32>, tensor<?x8xf32>
  return %att : tensor<?x16xf32, #l>
}

func.func @masked_dense(%x: tensor<?x4xf32, #l>) -> tensor<?x4xf32, #l> {
  %w = chain.param "w" : tensor<4x4xf32>
  %m = arith.constant dense<[[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0],
                             [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>
  %wm = chain.mul %w, %m : tensor<4x4xf32>
  %y = chain.dense %x, %wm : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  return %y : tensor<?x4xf32, #l>
}

func.func @lowered_linear(%x: tensor<?x16xf32, #chain.layout<[2, 2, 4]>>,
                          %w: tensor<8x16xf32, #chain.blocks<[2, 2, 4]>>)
    -> tensor<?x8xf32, #chain.layout<[2, 2, 4]>> {
  %x1 = chain.prefix %x chains 1 : tensor<?x16xf32, #chain.layout<[2, 2, 4]>> -> tensor<?x4xf32, #chain.layout<[2]>>
  %w1 = chain.weight_block %w out_chain 1 : tensor<8x16xf32, #chain.blocks<[2, 2, 4]>> -> tensor<2x4xf32>
  %y1 = chain.dense %x1, %w1 : tensor<?x4xf32, #chain.layout<[2]>>, tensor<2x4xf32> -> tensor<?x2xf32>
  %x2 = chain.prefix %x chains 2 : tensor<?x16xf32, #chain.layout<[2, 2, 4]>> -> tensor<?x8xf32, #chain.layout<[2, 2]>>
  %w2 = chain.weight_block %w out_chain 2 : tensor<8x16xf32, #chain.blocks<[2, 2, 4]>> -> tensor<2x8xf32>
  %y2 = chain.dense %x2, %w2 : tensor<?x8xf32, #chain.layout<[2, 2]>>, tensor<2x8xf32> -> tensor<?x2xf32>
  %w3 = chain.weight_block %w out_chain 3 : tensor<8x16xf32, #chain.blocks<[2, 2, 4]>> -> tensor<4x16xf32>
  %y3 = chain.dense %x, %w3 : tensor<?x16xf32, #chain.layout<[2, 2, 4]>>, tensor<4x16xf32> -> tensor<?x4xf32>
  %y = chain.concat %y1, %y2, %y3 : tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x4xf32> -> tensor<?x8xf32, #chain.layout<[2, 2, 4]>>
  return %y : tensor<?x8xf32, #chain.layout<[2, 2, 4]>>
}

func.func @exact_splits(%x: tensor<?x6xf32, #chain.layout<[2, 2]>>,
                        %w: tensor<6x6xf32, #chain.blocks<[2, 2]>>,
                        %z: tensor<?x4xf32, #chain.layout<[2, 2, 4]>>)
    -> tensor<?x6xf32, #chain.layout<[2, 2]>> {
  %y = chain.linear %x, %w : tensor<?x6xf32, #chain.layout<[2, 2]>>, tensor<6x6xf32, #chain.blocks<[2, 2]>> -> tensor<?x6xf32, #chain.layout<[2, 2]>>
  %y1 = chain.prefix %y chains 1 : tensor<?x6xf32, #chain.layout<[2, 2]>> -> tensor<?x3xf32, #chain.layout<[2]>>
  return %y : tensor<?x6xf32, #chain.layout<[2, 2]>>
}

func.func @names(%x: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  %g = chain.param "model.layers.3.input_layernorm.weight" : tensor<16xf32, #l> loc("gain")
  %g2 = chain.param "model.norm.weight" : tensor<16xf32, #l> loc("my_gain")
  %h = chain.norm %x, %g : tensor<?x16xf32, #l>, tensor<16xf32, #l> loc("h")
  %r = chain.add %x, %h : tensor<?x16xf32, #l> loc("resid")
  return %r : tensor<?x16xf32, #l>
}
