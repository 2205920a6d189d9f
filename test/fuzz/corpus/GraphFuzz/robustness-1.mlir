#l = #chain.layout<[1, 1]>
#b = #chain.blocks<[1, 1]>
func.func @unchained_queries(%a: tensor<?x8xf32, #l>, %q: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %wk = chain.param "wk" : tensor<8x8xf32, #b>
  %wv = chain.param "wv" : tensor<8x8xf32, #b>
  %k = chain.linear %a, %wk : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %v = chain.linear %a, %wv : tensor<?x8xf32, #l>, tensor<8x8xf32, #b> -> tensor<?x8xf32, #l>
  %o = chain.attention %q, %k, %v kv_mapping grouped {head_dim = 2 : i64} : tensor<?x8xf32>, tensor<?x8xf32, #l>, tensor<?x8xf32, #l>
  return %o : tensor<?x8xf32>
}
