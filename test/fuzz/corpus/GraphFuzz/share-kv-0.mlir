#l = #chain.layout<[2, 2]>
#b = #chain.blocks<[2, 2]>

func.func @colm_attention(%tokens: tensor<?xi32>) -> tensor<?x16xf32, #l> {
  %emb = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #l>
  %x = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %g = chain.param "model.layers.0.input_layernorm.weight" : tensor<16xf32, #l>
  %a = chain.norm %x, %g : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %wq = chain.param "model.layers.0.self_attn.q_proj.weight" : tensor<16x16xf32, #b>
  %q0 = chain.linear %a, %wq : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %wk = chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<8x16xf32, #b>
  %wv = chain.param "model.layers.0.self_attn.v_proj.weight" : tensor<8x16xf32, #b>
  %k0 = chain.linear %a, %wk : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %v = chain.linear %a, %wv : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %q = chain.rope %q0 {head_dim = 4} : tensor<?x16xf32, #l>
  %k = chain.rope %k0 {head_dim = 4} : tensor<?x8xf32, #l>
  %att = chain.attention %q, %k, %v kv_mapping grouped {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  %wo = chain.param "model.layers.0.self_attn.o_proj.weight" : tensor<16x16xf32, #b>
  %o = chain.linear %att, %wo : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  return %o : tensor<?x16xf32, #l>
}
