#l = #chain.layout<[1, 1, 2]>
#b = #chain.blocks<[1, 1, 2]>
#l1 = #chain.layout<[1]>

func.func @colm_air_layer(%x: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  %g1 = chain.param "model.layers.0.input_layernorm.weight" : tensor<16xf32, #l>
  %a = chain.norm %x, %g1 : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %wq = chain.param "model.layers.0.self_attn.q_proj.weight" : tensor<16x16xf32, #b>
  %q0 = chain.linear %a, %wq : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %a1 = chain.prefix %a chains 1 : tensor<?x16xf32, #l> -> tensor<?x4xf32, #l1>
  %wk = chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<4x4xf32>
  %wv = chain.param "model.layers.0.self_attn.v_proj.weight" : tensor<4x4xf32>
  %k0 = chain.dense %a1, %wk : tensor<?x4xf32, #l1>, tensor<4x4xf32> -> tensor<?x4xf32>
  %v = chain.dense %a1, %wv : tensor<?x4xf32, #l1>, tensor<4x4xf32> -> tensor<?x4xf32>
  %q = chain.rope %q0 {head_dim = 4} : tensor<?x16xf32, #l>
  %k = chain.rope %k0 {head_dim = 4} : tensor<?x4xf32>
  %att = chain.attention %q, %k, %v kv_mapping tiled {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x4xf32>, tensor<?x4xf32>
  %wo = chain.param "model.layers.0.self_attn.o_proj.weight" : tensor<16x16xf32, #b>
  %o = chain.linear %att, %wo : tensor<?x16xf32, #l>, tensor<16x16xf32, #b> -> tensor<?x16xf32, #l>
  %x1 = chain.add %x, %o : tensor<?x16xf32, #l>
  return %x1 : tensor<?x16xf32, #l>
}
