#l = #chain.layout<[1, 3]>
#b = #chain.blocks<[1, 3]>

func.func @ratio_not_multiple(%a: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  %wk = chain.param "k" : tensor<8x16xf32, #b>
  %wv = chain.param "v" : tensor<8x16xf32, #b>
  %k = chain.linear %a, %wk : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %v = chain.linear %a, %wv : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %att = chain.attention %a, %k, %v kv_mapping grouped {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  return %att : tensor<?x16xf32, #l>
}
