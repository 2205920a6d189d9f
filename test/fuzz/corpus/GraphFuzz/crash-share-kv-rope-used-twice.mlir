#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>
func.func @f(%a: tensor<?x16xf32, #l>) -> (tensor<?x16xf32, #l>, tensor<?x8xf32, #l>) {
  %wk = chain.param "k" : tensor<8x16xf32, #b>
  %wv = chain.param "v" : tensor<8x16xf32, #b>
  %k0 = chain.linear %a, %wk : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %k = chain.rope %k0 {head_dim = 4} : tensor<?x8xf32, #l>
  %v = chain.linear %a, %wv : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %att = chain.attention %a, %k, %v kv_mapping grouped {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  return %att, %k : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>
}
