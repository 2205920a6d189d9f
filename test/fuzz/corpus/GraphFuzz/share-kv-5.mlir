#l = #chain.layout<[1, 1]>

func.func @kv_not_projections(%q: tensor<?x16xf32, #l>, %k: tensor<?x8xf32, #l>) -> tensor<?x16xf32, #l> {
  %att = chain.attention %q, %k, %k kv_mapping grouped {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  return %att : tensor<?x16xf32, #l>
}
