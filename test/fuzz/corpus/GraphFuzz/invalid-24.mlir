func.func @linear_without_blocks(%x: tensor<?x8xf32, #chain.layout<[1, 1]>>, %w: tensor<8x8xf32>) {
  %y = chain.linear %x, %w : tensor<?x8xf32, #chain.layout<[1, 1]>>, tensor<8x8xf32> -> tensor<?x8xf32, #chain.layout<[1, 1]>>
  return
}
