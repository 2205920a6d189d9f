#l = #chain.layout<[1, 1]>

func.func @tiled_kv_kept(%q: tensor<?x8xf32, #l>, %k: tensor<?x4xf32>) -> tensor<?x8xf32, #l> {
  %o = chain.attention %q, %k, %k kv_mapping tiled {head_dim = 2 : i64} : tensor<?x8xf32, #l>, tensor<?x4xf32>, tensor<?x4xf32>
  return %o : tensor<?x8xf32, #l>
}
