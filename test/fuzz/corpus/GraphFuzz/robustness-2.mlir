#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>
func.func @same_projection(%a: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  %wq = chain.param "wq" : tensor<8x8xf32, #b>
  %wk = chain.param "wk" : tensor<2x8xf32, #b>
  %q = chain.linear %a, %wq : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %k = chain.linear %a, %wk : tensor<?x8xf32, #l>, tensor<2x8xf32, #b> -> tensor<?x2xf32, #l>
  %o = chain.attention %q, %k, %k kv_mapping grouped {head_dim = 1 : i64} : tensor<?x8xf32, #l>, tensor<?x2xf32, #l>, tensor<?x2xf32, #l>
  return %o : tensor<?x8xf32, #l>
}
