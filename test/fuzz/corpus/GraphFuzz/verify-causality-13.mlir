#l = #chain.layout<[1, 1]>

func.func @tiled_kv_crosses_chains(%q: tensor<?x16xf32, #l>, %k: tensor<?x8xf32, #l>) -> tensor<?x16xf32, #l> {
  %y = chain.attention %q, %k, %k kv_mapping tiled {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  return %y : tensor<?x16xf32, #l>
}
