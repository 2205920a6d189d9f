#l = #chain.layout<[1, 1]>

func.func @unchained_from_all_chains(%x: tensor<?x8xf32, #l>) -> tensor<?x8xf32> {
  %w = chain.param "w" : tensor<8x8xf32>
  %y = chain.dense %x, %w : tensor<?x8xf32, #l>, tensor<8x8xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
