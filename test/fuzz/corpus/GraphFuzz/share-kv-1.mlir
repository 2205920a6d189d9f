#l = #chain.layout<[2, 2]>
#b = #chain.blocks<[2, 2]>

func.func @params_before_norm(%x: tensor<?x16xf32, #l>) -> tensor<?x16xf32, #l> {
  %g = chain.param "g" : tensor<16xf32, #l>
  %wk = chain.param "k" : tensor<8x16xf32, #b>
  %wv = chain.param "v" : tensor<8x16xf32, #b>
  %a = chain.norm %x, %g : tensor<?x16xf32, #l>, tensor<16xf32, #l>
  %k = chain.linear %a, %wk : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %v = chain.linear %a, %wv : tensor<?x16xf32, #l>, tensor<8x16xf32, #b> -> tensor<?x8xf32, #l>
  %att = chain.attention %a, %k, %v kv_mapping grouped {head_dim = 4} : tensor<?x16xf32, #l>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  return %att : tensor<?x16xf32, #l>
}
