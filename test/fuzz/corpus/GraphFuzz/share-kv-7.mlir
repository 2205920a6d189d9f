#l = #chain.layout<[1, 1]>

func.func @already_air(%tokens: tensor<?xi32>) -> tensor<?x16xf32, #l> {
  %emb = chain.param "model.embed_tokens.weight" : tensor<32x16xf32, #l>
  %q = chain.embed %emb[%tokens] : tensor<32x16xf32, #l>, tensor<?xi32> -> tensor<?x16xf32, #l>
  %q1 = chain.prefix %q chains 1 : tensor<?x16xf32, #l> -> tensor<?x8xf32, #chain.layout<[1]>>
  %wk = chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<8x8xf32>
  %k = chain.dense %q1, %wk : tensor<?x8xf32, #chain.layout<[1]>>, tensor<8x8xf32> -> tensor<?x8xf32>
  %att = chain.attention %q, %k, %k kv_mapping tiled {head_dim = 8} : tensor<?x16xf32, #l>, tensor<?x8xf32>, tensor<?x8xf32>
  return %att : tensor<?x16xf32, #l>
}
