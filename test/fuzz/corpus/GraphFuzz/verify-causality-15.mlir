#l = #chain.layout<[1, 1]>

func.func @air_keys_from_all_chains(%a: tensor<?x16xf32, #l>, %q: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  %wk = chain.param "model.layers.0.self_attn.k_proj.weight" : tensor<8x16xf32>
  %k = chain.dense %a, %wk : tensor<?x16xf32, #l>, tensor<8x16xf32> -> tensor<?x8xf32>
  %y = chain.attention %q, %k, %k kv_mapping tiled {head_dim = 8} : tensor<?x16xf32, #l>, tensor<?x8xf32>, tensor<?x8xf32>
  return %y : tensor<?x16xf32, #l>
}
