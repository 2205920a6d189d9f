func.func @attention_kv_layouts(%q: tensor<?x16xf32, #chain.layout<[1, 1]>>, %k: tensor<?x16xf32, #chain.layout<[1, 1]>>, %v: tensor<?x16xf32>) {
  %y = chain.attention %q, %k, %v kv_mapping grouped {head_dim = 8} : tensor<?x16xf32, #chain.layout<[1, 1]>>, tensor<?x16xf32, #chain.layout<[1, 1]>>, tensor<?x16xf32>
  return
}
