#l = #chain.layout<[1, 1]>

func.func @unmasked_dense(%x: tensor<?x8xf32, #l>) -> tensor<?x8xf32, #l> {
  %w = chain.param "w" : tensor<8x8xf32>
  %y = chain.dense %x, %w : tensor<?x8xf32, #l>, tensor<8x8xf32> -> tensor<?x8xf32, #l>
  return %y : tensor<?x8xf32, #l>
}
