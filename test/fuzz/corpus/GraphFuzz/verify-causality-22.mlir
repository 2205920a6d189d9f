#l = #chain.layout<[1, 1]>
func.func @keys_through_a_region(%x: tensor<?x16xf32, #l>, %q: tensor<?x16xf32, #l>) {
  "test.region"(%x) ({
  ^bb0(%k: tensor<?x8xf32>):
    %y = chain.attention %q, %k, %k kv_mapping tiled {head_dim = 8} : tensor<?x16xf32, #l>, tensor<?x8xf32>, tensor<?x8xf32>
    "test.yield"(%y) : (tensor<?x16xf32, #l>) -> ()
  }) : (tensor<?x16xf32, #l>) -> ()
  return
}
