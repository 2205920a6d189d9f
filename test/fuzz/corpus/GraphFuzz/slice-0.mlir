#l = #chain.layout<[1, 1, 2]>
#b = #chain.blocks<[1, 1, 2]>

func.func @colm(%tokens: tensor<?xi32>) -> (tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>) {
  %emb = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %g = chain.param "model.layers.0.input_layernorm.weight" : tensor<16xf32, #l>
  %a = chain.norm %x, %g : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %wq = chain.param "model.layers.0.self_attn.q_proj.weight" : tensor<16x16xf32, #b>
  %wk = chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<8x16xf32, #b>
  %wv = chain.param "model.layers.0.self_attn.v_proj.weight" : tensor<8x16xf32, #b>
  %q0 = chain.linear %a, %wq : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %k0 = chain.linear %a, %wk : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %v = chain.linear %a, %wv : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %q = chain.rope %q0 {head_dim = 2} : tensor<?x16xf32, #l>
  %k = chain.rope %k0 {head_dim = 2} : tensor<?x8xf32, #l>
  %att = chain.attention %q, %k, %v kv_mapping grouped {head_dim = 2} : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  %wo = chain.param "model.layers.0.self_attn.o_proj.weight" : tensor<16x16xf32, #b>
  %o = chain.linear %att, %wo : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %x1 = chain.add %x, %o : tensor<?x16xf32, #l>
  %wg = chain.param "model.layers.0.mlp.gate_proj.weight" : tensor<32x16xf32, #b>
  %wd = chain.param "model.layers.0.mlp.down_proj.weight" : tensor<16x32xf32, #b>
  %gt = chain.linear %x1, %wg : tensor<?x16xf32, #l>, tensor<32x16xf32, #b> -> tensor<?x32xf32, #l>
  %h = chain.swiglu %gt, %gt : tensor<?x32xf32, #l>
  %d = chain.linear %h, %wd : tensor<?x32xf32, #l>, tensor<16x32xf32, #b> -> tensor<?x16xf32, #l>
  %x2 = chain.add %x1, %d : tensor<?x16xf32, #l>
  %gf = chain.param "model.norm.weight" : tensor<16xf32, #l>
  %xf = chain.norm %x2, %gf : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %we = chain.param "lm_head.weight" : tensor<32x16xf32, #l>
  %l3 = chain.lm_head %xf, %we : tensor<?x16xf32, #l>, tensor<32x16xf32, #l> -> tensor<?x32xf32>
  %l2 = chain.lm_head %xf, %we chains 2 : tensor<?x16xf32, #l>, tensor<32x16xf32, #l> -> tensor<?x32xf32>
  %l1 = chain.lm_head %xf, %we chains 1 : tensor<?x16xf32, #l>, tensor<32x16xf32, #l> -> tensor<?x32xf32>
  return %l3, %l2, %l1 : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>
}

func.func @colm_air_keys(%tokens: tensor<?xi32>) -> tensor<?x4xf32> {
  %emb = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %x1 = chain.prefix %x chains 1 : tensor<?x16xf32, #l> -> tensor<?x4xf32, #chain.layout<[1]>>
  %wk = chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<4x4xf32>
  %k = chain.dense %x1, %wk : tensor<?x4xf32, #chain.layout<[1]>>, tensor<4x4xf32> -> tensor<?x4xf32>
  return %k : tensor<?x4xf32>
}

func.func @prefixes(%tokens: tensor<?xi32>) -> (tensor<?x4xf32, #chain.layout<[1]>>, tensor<?x8xf32, #chain.layout<[1, 1]>>) {
  %emb = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %p1 = chain.prefix %x chains 1 : tensor<?x16xf32, #l> -> tensor<?x4xf32, #chain.layout<[1]>>
  %p2 = chain.prefix %x chains 2 : tensor<?x16xf32, #l> -> tensor<?x8xf32, #chain.layout<[1, 1]>>
  return %p1, %p2 : tensor<?x4xf32, #chain.layout<[1]>>, tensor<?x8xf32, #chain.layout<[1, 1]>>
}

func.func @masked_dense(%tokens: tensor<?xi32>) -> tensor<?x4xf32, #l> {
  %emb = chain.param "e" : tensor<32x4xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x4xf32, #l>, tensor<?xi32> -> tensor<?x4xf32, #l>
  %w = chain.param "w" : tensor<4x4xf32>
  %m = arith.constant dense<[[1.0, 0.0, 0.0, 0.0],
                             [1.0, 1.0, 0.0, 0.0],
                             [1.0, 1.0, 1.0, 1.0],
                             [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>
  %wm = chain.mul %w, %m : tensor<4x4xf32>
  %y = chain.dense %x, %wm : tensor<?x4xf32, #l>, tensor<4x4xf32> -> tensor<?x4xf32, #l>
  return %y : tensor<?x4xf32, #l>
}

func.func @lowered_by_chain(%tokens: tensor<?xi32>) -> tensor<?x8xf32, #l> {
  %emb = chain.param "e" : tensor<32x16xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %x1 = chain.prefix %x chains 1 : tensor<?x16xf32, #l> -> tensor<?x4xf32, #chain.layout<[1]>>
  %w1 = chain.param "w1" : tensor<2x4xf32>
  %y1 = chain.dense %x1, %w1 : tensor<?x4xf32, #chain.layout<[1]>>, tensor<2x4xf32> -> tensor<?x2xf32>
  %x2 = chain.prefix %x chains 2 : tensor<?x16xf32, #l> -> tensor<?x8xf32, #chain.layout<[1, 1]>>
  %w2 = chain.param "w2" : tensor<2x8xf32>
  %y2 = chain.dense %x2, %w2 : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<2x8xf32> -> tensor<?x2xf32>
  %w3 = chain.param "w3" : tensor<4x16xf32>
  %y3 = chain.dense %x, %w3 : tensor<?x16xf32, #l>, tensor<4x16xf32> -> tensor<?x4xf32>
  %y = chain.concat %y1, %y2, %y3 : tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x4xf32> -> tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}

func.func @chain_linear(%tokens: tensor<?xi32>) -> tensor<?x8xf32, #l> {
  %emb = chain.param "e" : tensor<32x16xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %w = chain.param "w" : tensor<8x16xf32, #b>
  %y = chain.linear %x, %w : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}

func.func @chained_arguments(%x: tensor<?x16xf32, #l>, %w: tensor<16x16xf32, #b>) -> tensor<?x16xf32, #l> {
  %y = chain.linear %x, %w : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  return %y : tensor<?x16xf32, #l>
}

func.func @norm_stats(%tokens: tensor<?xi32>) -> tensor<?x16xf32, #l> {
  %emb = chain.param "e" : tensor<32x16xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %g = chain.param "g" : tensor<16xf32, #l>
  %y = chain.norm %x, %g stats(#chain.layout<[1, 1, 2]>) : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %z = chain.norm %y, %g stats(#chain.layout<[1, 1, 1, 1]>) : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  return %z : tensor<?x16xf32, #l>
}
