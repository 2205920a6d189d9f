#l = #chain.layout<[1, 1]>

func.func @attention_head_straddles(%q: tensor<?x16xf32, #l>, %k: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  %y = chain.attention %q, %k, %k kv_mapping grouped {head_dim = 16} : tensor<?x16xf32, #l>, tensor<?x16xf32, #l>, tensor<?x16xf32, #l>
  return %y : tensor<?x16xf32, #l>
}
