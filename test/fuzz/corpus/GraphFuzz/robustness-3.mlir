#l = #chain.layout<[1, 1]>
func.func @slice_breaks_heads(%q: tensor<?x8xf32, #l>, %k: tensor<?x8xf32>) -> tensor<?x8xf32, #l> {
  %o = chain.attention %q, %k, %k kv_mapping grouped {head_dim = 2 : i64} : tensor<?x8xf32, #l>, tensor<?x8xf32>, tensor<?x8xf32>
  return %o : tensor<?x8xf32, #l>
}
